/**
 * The processes of `--scenario churn`: the backend pool (one nginx worker on N loopback ports), syncgate
 * following the Consul API double, and nginx reading an included server file. Each contender gets the same
 * interface: `set(m)` tells it of a new membership the way its world does (KV writes; a rewritten file and
 * SIGHUP), `reset(m)` does that and waits until the membership is live.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsulDouble } from "../../test/support/consul-double.js";
import {
  fill as fillVars,
  folder,
  nginxArgs,
  syncgateCommand,
  template,
  type BaseSetup,
} from "../contenders.js";
import { start, type Started } from "../procs.js";
import { fileSize, waitReloaded, writeAtomic } from "../reloads.js";
import { httpGet } from "../sanity.js";
import { kvWrites, nginxServers, serverLine, type Membership } from "./changes.js";

/** The Consul KV folder syncgate follows (nginx-upsync-module's layout: one key per server). */
export const KV_FOLDER = "upstreams/churn/";

/** What starting anything here needs (loadCpu: the backends', the load's and the harness's CPU). */
export type ChurnSetup = BaseSetup;

/** A proxy under churn. */
export interface ChurnContender {
  name: "syncgate" | "nginx";
  port: number;
  proc: Started;
  /** Its error log (notice level): reloads / applied indexes are counted from it. */
  errorLog: string;
  /** Tells the proxy that the registry now holds `m`. Synchronous: a write acknowledged, or a signal sent. */
  set(m: Membership): void;
  /** `set(m)`, then waits until `m` is what the proxy serves; throws after `timeoutMs`. */
  reset(m: Membership, timeoutMs?: number): Promise<void>;
}

function fill(setup: ChurnSetup, name: string, dir: string, vars: Record<string, string>): string {
  return fillVars(template(setup.root, name), { DIR: dir, KEEPALIVE: String(setup.keepalive), ...vars });
}

/** Starts the backend pool on the load generator's CPU: one nginx worker listening on every port. */
export function startPool(setup: ChurnSetup, ports: number[]): Started {
  const dir = folder(setup, "pool");
  const listen = ports.map((p) => `        listen 127.0.0.1:${p};`).join("\n");
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, fill(setup, "churn-backends.nginx.conf", dir, { LISTEN: listen }));
  return start("pool", setup.tools.nginx, nginxArgs(dir, conf), {
    cpu: setup.loadCpu,
    outputFile: join(dir, "output.log"),
  });
}

/** The `server` lines upstream_show lists for `m`, in any order. */
function expectedLines(m: Membership): string[] {
  return [...m].map(([addr, s]) => serverLine(addr, s)).sort();
}

/** The server lines of syncgate's `GET /upstream_show?churn` now, sorted. */
export async function shownLines(port: number): Promise<string[]> {
  const r = await httpGet(port, "/upstream_show?churn", 1000);
  return r.body
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("server "))
    .sort();
}

/** Waits until syncgate's upstream_show lists exactly `m`; returns the milliseconds it took. */
export async function waitShown(port: number, m: Membership, timeoutMs: number): Promise<number> {
  const want = expectedLines(m).join("\n");
  const started = performance.now();
  let seen = "";
  while (performance.now() - started < timeoutMs) {
    try {
      seen = (await shownLines(port)).join("\n");
      if (seen === want) return performance.now() - started;
    } catch (err) {
      seen = (err as Error).message;
    }
    await sleep(5);
  }
  throw new Error(
    `syncgate did not apply the registry in ${timeoutMs} ms: it shows\n${seen}\nwanted\n${want}`,
  );
}

/**
 * syncgate following `consul`: the registry is set to `start` before syncgate starts, so its first sync
 * replaces the placeholder server before anything is measured.
 */
export function startSyncgate(
  setup: ChurnSetup,
  consul: ConsulDouble,
  port: number,
  start0: Membership,
): ChurnContender {
  const dir = folder(setup, "syncgate");
  const conf = join(dir, "syncgate.conf");
  writeFileSync(
    conf,
    fill(setup, "churn-syncgate.conf", dir, { PORT: String(port), CONSUL: consul.address }),
  );
  let current: Membership = new Map();
  const set = (m: Membership): void => {
    for (const w of kvWrites(current, m)) {
      if (w.value === null) consul.delete(`${KV_FOLDER}${w.addr}`);
      else consul.put(`${KV_FOLDER}${w.addr}`, w.value);
    }
    current = m;
  };
  set(start0);
  const [cmd, args] = syncgateCommand(setup.root, conf);
  const proc = start("syncgate", cmd, args, {
    cpu: setup.proxyCpu,
    outputFile: join(dir, "output.log"),
    cwd: setup.root,
  });
  const reset = async (m: Membership, timeoutMs = 5000): Promise<void> => {
    set(m);
    await waitShown(port, m, timeoutMs);
  };
  return { name: "syncgate", port, proc, errorLog: join(dir, "error.log"), set, reset };
}

/**
 * nginx with its upstream's servers in an included file: `set` rewrites the file (a temp file renamed over it,
 * so a reload never reads half a file) and sends the master SIGHUP, which is what `nginx -s reload` does after
 * reading the pid file. `reset` waits for the master to start a new worker and the old ones to exit.
 */
export function startNginx(setup: ChurnSetup, port: number, start0: Membership): ChurnContender {
  const dir = folder(setup, "nginx");
  const conf = join(dir, "nginx.conf");
  const servers = join(dir, "servers.conf");
  const errorLog = join(dir, "error.log");
  writeFileSync(conf, fill(setup, "churn-nginx.conf", dir, { PORT: String(port) }));
  const write = (m: Membership): void => writeAtomic(servers, nginxServers(m));
  write(start0);
  const proc = start("nginx", setup.tools.nginx, nginxArgs(dir, conf, errorLog), {
    cpu: setup.proxyCpu,
    outputFile: join(dir, "output.log"),
  });
  const set = (m: Membership): void => {
    write(m);
    try {
      process.kill(proc.pid, "SIGHUP"); // `start` execs nginx through taskset: this pid is the master.
    } catch {
      // It exited; the run notices.
    }
  };
  const reset = async (m: Membership, timeoutMs = 10_000): Promise<void> => {
    const offset = fileSize(errorLog);
    set(m);
    await waitReloaded(proc.pid, errorLog, offset, timeoutMs);
  };
  return { name: "nginx", port, proc, errorLog, set, reset };
}
