/**
 * The proxies under test and the backends: how each is configured (templates in bench/conf/, filled in with
 * ports and the temp folder) and started (pinned to its CPU, in its own process group).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProxyName } from "./options.js";
import { start, type Started } from "./procs.js";
import type { Tools } from "./system.js";

/** What every start needs to know. */
export interface Setup {
  /** The repository root. */
  root: string;
  /** The run's temp folder (configs, logs, pids). */
  tmp: string;
  tools: Tools;
  /** The two backend ports. */
  backends: [number, number];
  /** nginx/syncgate upstream `keepalive`. */
  keepalive: number;
  /** CPU for the proxies, and for backends + load generator (null: no pinning). */
  proxyCpu: string | null;
  loadCpu: string | null;
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

/** Fills a template from bench/conf/ and writes it to `dir/file`. */
function writeConfig(setup: Setup, template: string, dir: string, file: string, port: number): string {
  const text = readFileSync(join(setup.root, "bench", "conf", template), "utf8")
    .replaceAll("@TMP@", setup.tmp)
    .replaceAll("@PORT@", String(port))
    .replaceAll("@B1@", String(setup.backends[0]))
    .replaceAll("@B2@", String(setup.backends[1]))
    .replaceAll("@KEEPALIVE@", String(setup.keepalive));
  const path = join(dir, file);
  writeFileSync(path, text);
  return path;
}

function folder(setup: Setup, name: string): string {
  const dir = join(setup.tmp, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Starts the backend nginx (one worker, two ports) on the load generator's CPU. */
export function startBackends(setup: Setup): Started {
  const dir = folder(setup, "backends");
  const conf = writeConfig(setup, "backends.nginx.conf", dir, "nginx.conf", 0);
  const args = ["-p", `${dir}/`, "-e", join(dir, "error.log"), "-c", conf];
  return start("backends", setup.tools.nginx, args, {
    cpu: setup.loadCpu,
    outputFile: join(dir, "output.log"),
  });
}

/** Starts one proxy under test on `port`. */
export function startContender(setup: Setup, name: ProxyName, port: number): Contender {
  const dir = folder(setup, name);
  const outputFile = join(dir, "output.log");
  const accessLog = join(dir, "access.log");
  const cpu = setup.proxyCpu;
  const backendList = setup.backends.map((p) => `127.0.0.1:${p}`).join(",");
  switch (name) {
    case "nginx": {
      const conf = writeConfig(setup, "nginx.conf", dir, "nginx.conf", port);
      const args = ["-p", `${dir}/`, "-e", join(dir, "error.log"), "-c", conf];
      const proc = start(name, setup.tools.nginx, args, { cpu, outputFile });
      return { name, port, proc, accessLog, configFile: conf };
    }
    case "syncgate": {
      const conf = writeConfig(setup, "syncgate.conf", dir, "syncgate.conf", port);
      const bin = join(setup.root, "bin", "syncgate");
      const proc = start(name, process.execPath, [bin, "-c", conf], { cpu, outputFile, cwd: setup.root });
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
