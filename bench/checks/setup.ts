/**
 * The processes and configurations of `--scenario checks`: the probe targets (one nginx worker listening on N
 * loopback ports), and syncgate with the main bench's configuration plus an extra upstream of those N servers —
 * without `check` lines, or with them in both that upstream and the traffic's own. Also the readings the
 * scenario takes from them: accepted connections (nginx stub_status), the check status page, open files.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fill, folder, mainVars, nginxArgs, syncgateCommand, template, type Setup } from "../contenders.js";
import type { ChecksOptions } from "../options.js";
import { start, type Started } from "../procs.js";
import { httpGet } from "../sanity.js";

/** The two syncgate configurations compared. */
export type ChecksConfig = "without" | "with";

/** What starting anything here needs. */
export interface ChecksSetup extends Setup {
  // proxyCpu: syncgate's CPU; loadCpu: the backends', targets', load's and harness's. `backends`: the main
  // bench's two backend ports (the traffic's upstream).
  /** The checked servers' ports, one per server of the extra upstream. */
  targets: number[];
  /** The targets' stub_status port. */
  control: number;
  check: ChecksOptions;
}

/** The open-file limit syncgate and the targets are started with (`ulimit -n`), when the system allows it. */
export const NOFILE = 65536;

/** Runs the command after `sh -c` raised the open-file limit; `exec` keeps the pid (the process-group id). */
function withNofile(cmd: string, args: string[]): [string, string[]] {
  // Without CAP_SYS_RESOURCE the hard limit cannot be raised: then the soft one goes up to it.
  const raise = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null`;
  return ["sh", ["-c", `${raise}; exec "$@"`, "sh", cmd, ...args]];
}

/** The soft `Max open files` of a process, from /proc/PID/limits; null when unreadable. */
export function openFileLimit(pid: number): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    if (!m?.[1]) return null;
    return m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return null;
  }
}

/** Files a process has open now (entries of /proc/PID/fd); null when unreadable. */
export function openFiles(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** TCP sockets in TIME_WAIT on the machine (/proc/net/sockstat); null when unreadable. */
export function timeWaitSockets(): number | null {
  try {
    const m = /^TCP:.*\btw (\d+)/m.exec(readFileSync("/proc/net/sockstat", "utf8"));
    return m?.[1] === undefined ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** Starts the probe targets on the load generator's CPU: one nginx worker listening on every target port. */
export function startTargets(setup: ChecksSetup): Started {
  const dir = folder(setup, "targets");
  const n = setup.targets.length;
  const vars: Record<string, string> = {
    DIR: dir,
    LISTEN: setup.targets.map((p) => `        listen 127.0.0.1:${p};`).join("\n"),
    CONTROL: String(setup.control),
    CONNECTIONS: String(n + 4096),
    NOFILE: String(Math.max(16384, 2 * n + 8192)),
  };
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, fill(template(setup.root, "checks-targets.nginx.conf"), vars));
  // The master opens every listening socket itself: it needs the raised limit too.
  const [cmd, args] = withNofile(setup.tools.nginx, nginxArgs(dir, conf));
  return start("targets", cmd, args, { cpu: setup.loadCpu, outputFile: join(dir, "output.log") });
}

/** The targets' stub_status counters: connections accepted, and requests (its own reading included in both). */
export interface StubCounts {
  accepts: number;
  requests: number;
}

/** Reads the targets' stub_status. */
export async function stubCounts(control: number): Promise<StubCounts> {
  const r = await httpGet(control, "/stub_status", 2000);
  const m = /server accepts handled requests\s+(\d+)\s+\d+\s+(\d+)/.exec(r.body);
  if (r.status !== 200 || !m?.[1] || !m[2]) {
    throw new Error(`targets' stub_status answered ${r.status}: ${r.body}`);
  }
  return { accepts: Number(m[1]), requests: Number(m[2]) };
}

/**
 * Probes the targets answered so far: an http probe is one request (on a kept connection or not), a tcp probe one
 * connection.
 */
export function probesIn(c: ChecksOptions, counts: StubCounts): number {
  return c.type === "http" ? counts.requests : counts.accepts;
}

/** The `check` lines of an upstream in the runs with checks. */
export function checkLines(c: ChecksOptions): string[] {
  const lines = [`check interval=${c.intervalMs} rise=2 fall=5 timeout=1000 type=${c.type};`];
  if (c.type === "http") {
    // The module's default request makes the server close; check_keepalive_requests needs one that does not.
    const send =
      c.keepalive > 1 ? "GET / HTTP/1.1\\r\\nHost: targets\\r\\n\\r\\n" : "GET / HTTP/1.0\\r\\n\\r\\n";
    lines.push(`check_http_send "${send}";`, "check_http_expect_alive http_2xx http_3xx;");
    if (c.keepalive > 1) lines.push(`check_keepalive_requests ${c.keepalive};`);
  }
  return lines;
}

/** Inserts `text` before (or after) the one occurrence of `mark` in `conf`; throws when it is not there once. */
function insert(conf: string, mark: string, text: string, after = false): string {
  const at = conf.indexOf(mark);
  if (at < 0 || conf.indexOf(mark, at + 1) >= 0) {
    throw new Error(
      `bench/conf/syncgate.conf: expected "${mark.trim()}" exactly once (the checks scenario edits it)`,
    );
  }
  const cut = after ? at + mark.length : at;
  return conf.slice(0, cut) + text + conf.slice(cut);
}

/**
 * The main bench's bench/conf/syncgate.conf, plus in both configurations the upstream `pool` of every target
 * server, a `location /pool/` that uses it (no request goes there) and `location = /check_status`; with checks,
 * the `check` lines in `pool` and in the traffic's upstream `app`. So the two differ by the `check` lines only.
 */
export function syncgateConfig(setup: ChecksSetup, config: ChecksConfig, port: number, dir: string): string {
  const main = template(setup.root, "syncgate.conf").replaceAll("@TMP@/syncgate/", `${dir}/`);
  let text = fill(main, mainVars(setup, port));
  const checks =
    config === "with"
      ? checkLines(setup.check)
          .map((l) => `        ${l}\n`)
          .join("")
      : "";
  if (checks !== "") text = insert(text, "    upstream app {\n", checks, true);
  const servers = setup.targets.map((p) => `        server 127.0.0.1:${p};\n`).join("");
  const pool =
    `    # --scenario checks: ${setup.targets.length} servers, all listening; probed only in the runs with checks.\n` +
    `    upstream pool {\n${checks}${servers}    }\n\n`;
  text = insert(text, "    server {\n", pool);
  const locations =
    "        # Never requested: the pool's upstream is in use, as a real one would be.\n" +
    "        location /pool/ {\n            proxy_pass http://pool;\n        }\n\n" +
    "        location = /check_status {\n            check_status json;\n        }\n\n";
  return insert(text, "        location = /healthz {", locations);
}

/** syncgate started with `config`, and where it writes. */
export interface ChecksSyncgate {
  config: ChecksConfig;
  proc: Started;
  port: number;
  accessLog: string;
  configFile: string;
}

/** Starts syncgate with `config` on the proxy CPU, its open-file limit raised to NOFILE when the system lets it. */
export function startSyncgate(setup: ChecksSetup, config: ChecksConfig, port: number): ChecksSyncgate {
  const dir = folder(setup, `syncgate-${config}`);
  const configFile = join(dir, "syncgate.conf");
  writeFileSync(configFile, syncgateConfig(setup, config, port, dir));
  const [cmd, args] = withNofile(...syncgateCommand(setup.root, configFile));
  const proc = start(`syncgate (${config} checks)`, cmd, args, {
    cpu: setup.proxyCpu,
    outputFile: join(dir, "output.log"),
    cwd: setup.root,
  });
  return { config, proc, port, accessLog: join(dir, "access.log"), configFile };
}

/** What the check status page says, in sums. */
export interface CheckCounts {
  /** Checked servers listed, up and down. */
  total: number;
  up: number;
  down: number;
  /** Servers whose last probe failed (fall > 0). */
  failing: number;
  /** Sum of the pool's rise counters: each success adds one while no probe fails. */
  poolRise: number;
  /** The traffic upstream's servers up, of how many. */
  appUp: number;
  app: number;
}

interface StatusJson {
  servers: { total: number; server: { upstream: string; status: string; rise: number; fall: number }[] };
}

/** Reads `GET /check_status?format=json` (outside the measured windows: the page lists every server). */
export async function checkCounts(port: number): Promise<CheckCounts> {
  const r = await httpGet(port, "/check_status?format=json", 5000);
  if (r.status !== 200) throw new Error(`check_status answered ${r.status}`);
  const list = (JSON.parse(r.body) as StatusJson).servers.server;
  const app = list.filter((s) => s.upstream === "app");
  return {
    total: list.length,
    up: list.filter((s) => s.status === "up").length,
    down: list.filter((s) => s.status !== "up").length,
    failing: list.filter((s) => s.fall > 0).length,
    poolRise: list.filter((s) => s.upstream === "pool").reduce((a, s) => a + s.rise, 0),
    appUp: app.filter((s) => s.status === "up").length,
    app: app.length,
  };
}
