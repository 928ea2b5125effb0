/**
 * The proxies under test and the backends: how each is configured (templates in bench/conf/, filled in with
 * ports and the temp folder) and started (pinned to its CPU, in its own process group).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProxyName } from "./options.js";
import { start, type Started } from "./procs.js";
import { waitReady } from "./sanity.js";
import type { Tools } from "./system.js";

/** What starting anything in any scenario needs to know. */
export interface BaseSetup {
  /** The repository root. */
  root: string;
  /** The run's temp folder (configs, logs, pids). */
  tmp: string;
  tools: Tools;
  /** nginx/syncgate upstream `keepalive`. */
  keepalive: number;
  /** CPU for the proxies, and for backends + load generator (null: no pinning). */
  proxyCpu: string | null;
  loadCpu: string | null;
}

/** What every start of the main bench needs to know. */
export interface Setup extends BaseSetup {
  /** The two backend ports. */
  backends: [number, number];
}

/** The base setup of a run: the proxy on CPU 0 and everything else on CPU 1 when `pinned`. */
export function baseSetup(c: {
  root: string;
  tmp: string;
  tools: Tools;
  opts: { keepalive: number };
  pinned: boolean;
}): BaseSetup {
  return {
    root: c.root,
    tmp: c.tmp,
    tools: c.tools,
    keepalive: c.opts.keepalive,
    proxyCpu: c.pinned ? "0" : null,
    loadCpu: c.pinned ? "1" : null,
  };
}

/**
 * The base setup with nothing pinned apart: the proxy, the backends and the load generator may each run on any
 * of the machine's `nproc` CPUs. The harness has pinned itself to CPU 1 and what it starts inherits that, so
 * "every CPU" is named explicitly (null when there is one CPU and nothing was pinned).
 */
export function sharedCoresSetup(c: Parameters<typeof baseSetup>[0], nproc: number): BaseSetup {
  const all = c.pinned ? `0-${nproc - 1}` : null;
  return { ...baseSetup(c), proxyCpu: all, loadCpu: all };
}

/**
 * The process counts nginx or syncgate may run as with `worker_processes n`: a master (primary) and n workers;
 * syncgate serves `worker_processes 1` from one process, without a primary.
 */
export function expectedProcs(name: "nginx" | "syncgate", n: number): number[] {
  return name === "syncgate" && n === 1 ? [1, 2] : [1 + n];
}

/** A started proxy under test. */
export interface Contender {
  name: ProxyName;
  port: number;
  proc: Started;
  /** Its access log, or null when it writes none. */
  accessLog: string | null;
  /** The config file it was started with, if any. */
  configFile: string | null;
}

/** The text of the template `name` in bench/conf/. */
export function template(root: string, name: string): string {
  return readFileSync(join(root, "bench", "conf", name), "utf8");
}

/** `text` with every `@KEY@` replaced by `vars[KEY]`, key by key in their order. */
export function fill(text: string, vars: Record<string, string>): string {
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`@${k}@`, v);
  return text;
}

/** The placeholders of the main bench's templates (proxies and backends). */
export function mainVars(setup: Setup, port: number): Record<string, string> {
  return {
    TMP: setup.tmp,
    PORT: String(port),
    B1: String(setup.backends[0]),
    B2: String(setup.backends[1]),
    KEEPALIVE: String(setup.keepalive),
  };
}

/** A config text as it leaves its template, before it is written; an edit returns the text to write instead. */
export type ConfigEdit = (text: string) => string;

/** `edits` one after the other. */
export function editAll(...edits: ConfigEdit[]): ConfigEdit {
  return (text) => edits.reduce((t, edit) => edit(t), text);
}

/** Replaces `re`'s one match in a config with `by`; throws when the template has no such line. */
export function replaceLine(re: RegExp, by: string): ConfigEdit {
  return (text) => {
    if (!re.test(text)) throw new Error(`config template: no line matches ${String(re)}`);
    return text.replace(re, by);
  };
}

/** The main bench's nginx.conf / syncgate.conf (`worker_processes 1;`) with `n` worker processes. */
export function workerProcesses(n: number): ConfigEdit {
  return replaceLine(/^worker_processes 1;$/m, `worker_processes ${n};`);
}

/** Fills a template from bench/conf/, `edit`s it and writes it to `dir/file`. */
function writeConfig(
  setup: Setup,
  name: string,
  dir: string,
  file: string,
  port: number,
  edit: ConfigEdit = (text) => text,
): string {
  const path = join(dir, file);
  writeFileSync(path, edit(fill(template(setup.root, name), mainVars(setup, port))));
  return path;
}

/** `tmp/name`, created if need be. */
export function folder(setup: BaseSetup, name: string): string {
  const dir = join(setup.tmp, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** nginx's arguments: prefix `dir`, error log (`dir/error.log` by default) and config file. */
export function nginxArgs(dir: string, conf: string, errorLog = join(dir, "error.log")): string[] {
  return ["-p", `${dir}/`, "-e", errorLog, "-c", conf];
}

/** The command that starts syncgate with `conf` (run it with `cwd` the repository root). */
export function syncgateCommand(root: string, conf: string): [string, string[]] {
  return [process.execPath, [join(root, "bin", "syncgate"), "-c", conf]];
}

/** Starts the backend nginx (one worker, two ports) on the load generator's CPU. */
export function startBackends(setup: Setup): Started {
  const dir = folder(setup, "backends");
  const conf = writeConfig(setup, "backends.nginx.conf", dir, "nginx.conf", 0);
  return start("backends", setup.tools.nginx, nginxArgs(dir, conf), {
    cpu: setup.loadCpu,
    outputFile: join(dir, "output.log"),
  });
}

/** Starts the backends and waits until both ports answer. */
export async function startBackendsReady(setup: Setup): Promise<Started> {
  const backends = startBackends(setup);
  await waitReady(backends, setup.backends[0], "/echo");
  await waitReady(backends, setup.backends[1], "/echo");
  return backends;
}

/**
 * Starts one proxy under test on `port`; `edit` changes nginx's or syncgate's config text before it is written
 * (the other proxies have no such file).
 */
export function startContender(
  setup: Setup,
  name: ProxyName,
  port: number,
  edit: ConfigEdit = (text) => text,
): Contender {
  const dir = folder(setup, name);
  const outputFile = join(dir, "output.log");
  const accessLog = join(dir, "access.log");
  const cpu = setup.proxyCpu;
  const backendList = setup.backends.map((p) => `127.0.0.1:${p}`).join(",");
  switch (name) {
    case "nginx": {
      const conf = writeConfig(setup, "nginx.conf", dir, "nginx.conf", port, edit);
      const proc = start(name, setup.tools.nginx, nginxArgs(dir, conf), { cpu, outputFile });
      return { name, port, proc, accessLog, configFile: conf };
    }
    case "syncgate": {
      const conf = writeConfig(setup, "syncgate.conf", dir, "syncgate.conf", port, edit);
      const [cmd, args] = syncgateCommand(setup.root, conf);
      const proc = start(name, cmd, args, { cpu, outputFile, cwd: setup.root });
      return { name, port, proc, accessLog, configFile: conf };
    }
    case "haproxy": {
      const conf = writeConfig(setup, "haproxy.cfg", dir, "haproxy.cfg", port);
      // -db: stay in the foreground; its log goes to stdout, which is the access log file.
      const proc = start(name, setup.tools.haproxy, ["-db", "-f", conf], {
        cpu,
        outputFile,
        stdoutFile: accessLog,
      });
      return { name, port, proc, accessLog, configFile: conf };
    }
    case "http-proxy":
    case "undici": {
      const script = join(
        setup.root,
        "dist",
        "bench",
        "proxies",
        `${name === "undici" ? "undici" : "http"}-proxy.js`,
      );
      const args = [script, String(port), backendList, accessLog];
      const proc = start(name, process.execPath, args, { cpu, outputFile });
      return { name, port, proc, accessLog, configFile: null };
    }
  }
}
