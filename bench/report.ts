/** The report: one markdown table of medians, the targets, notes, and every run; saved as .md and .json. */
import type { GoalResult } from "./goals.js";
import { bullets, cpuColumns, fixed, int, numbered, reportHead, section, table } from "./markdown.js";
import type { BenchOptions } from "./options.js";
import { saveResults } from "./save.js";
import type { RunRecord, Summary } from "./stats.js";
import type { MachineInfo } from "./system.js";

/** Everything one `npm run bench` found. */
export interface Report {
  info: MachineInfo;
  options: BenchOptions;
  summaries: Summary[];
  goals: GoalResult[];
  /** Problems and observations, one sentence each. */
  notes: string[];
  runs: RunRecord[];
  /** Runs measured again because other processes were busy; not in the medians. */
  discarded: RunRecord[];
}

/** The table of medians. */
export function summaryTable(summaries: Summary[]): string {
  const header = ["proxy", "conns", "req/s", "×nginx", "p50 ms", "p99 ms", "p99 ×nginx", "errors", "RSS MB"];
  header.push("CPU µs/req", "req/s min–max");
  const rows = summaries.map((s) => [
    s.proxy,
    String(s.conns),
    int(s.rps),
    fixed(s.rpsRatio, 2),
    fixed(s.p50Ms, 2),
    fixed(s.p99Ms, 2),
    fixed(s.p99Ratio, 2),
    String(s.errors),
    fixed(s.rssMB, 1),
    fixed(s.cpuUsPerReq, 1),
    `${int(s.rpsMin)}–${int(s.rpsMax)}`,
  ]);
  return table(header, rows);
}

/** The targets, one line each. */
export function goalLines(goals: GoalResult[]): string {
  const mark = (m: boolean | null): string => (m === null ? "n/a " : m ? "MET " : "MISS");
  return goals.map((g) => `- ${mark(g.met)} ${g.goal}: ${g.actual}`).join("\n");
}

function header(r: Report): string {
  const i = r.info;
  const o = r.options;
  return [
    ...reportHead("syncgate benchmark", i),
    `- Software: Node ${i.node}, ${i.nginx}, ${i.haproxy}, ${i.loadTool}, undici ${i.undici}, ` +
      `http-proxy ${i.httpProxy}, syncgate ${i.syncgate}`,
    `- Method: ${o.rounds} rounds × ${o.conns.join(" and ")} connections × ${o.proxies.length} proxies, ` +
      `${o.durationS} s per run after ${o.warmupS} s of warm-up, interleaved (the first proxy rotates each round); ` +
      "each proxy is one process/worker pinned to CPU 0, the load generator and the backends to CPU 1.",
  ].join("\n");
}

function footnotes(r: Report): string[] {
  const load = r.info.loadTool.startsWith("autocannon")
    ? `Load: ${r.info.loadTool} (wrk was not available; autocannon is heavier and may cap the fast proxies) ` +
      "GET / on N connections"
    : "Load: `wrk -t1 -cN --latency` GET /";
  const keepalive =
    `nginx and syncgate keep up to \`keepalive ${r.options.keepalive}\` idle upstream connections per worker ` +
    "(by default the largest connection count, so none is closed under load; with `--keepalive 64` nginx " +
    "opens and closes thousands of upstream connections per run at 256 clients, and the TIME_WAIT sockets " +
    "left behind slow every proxy's later runs).";
  return [...FOOTNOTES.map((f) => f.replace("Load: `wrk -t1 -cN --latency` GET /", load)), keepalive];
}

const FOOTNOTES = [
  "req/s, p50, p99, RSS and CPU are medians over the rounds; errors are the total over all rounds.",
  "×nginx: the median over nginx's at the same connection count (req/s: higher is better; p99: lower is better).",
  "errors: socket errors (connect, read, write, timeout) plus responses with status ≥ 400, as wrk counts them.",
  "RSS: peak VmRSS of the proxy's process tree (nginx: master + worker), sampled every 100 ms.",
  "CPU µs/req: user + system time of the proxy's process tree during the measured run, over its requests.",
  "Load: `wrk -t1 -cN --latency` GET / (the `location /` route, reached after the regex location is tried); " +
    "backends: one nginx worker on two ports answering `hello world\\n`.",
  "Every proxy adds X-Forwarded-For and X-Real-IP, balances round robin over both backends with upstream " +
    "keep-alive and writes an access log line per request to a file. HAProxy writes its httplog lines with " +
    "`log stdout`, which the harness points at a file (HAProxy has no file logger of its own; no syslog here).",
  "Retries: nginx and syncgate `proxy_next_upstream error timeout http_502`; HAProxy `retry-on conn-failure " +
    "empty-response response-timeout 502`; the undici proxy retries errors, timeouts and 502 of bodyless " +
    "requests; http-proxy retries connection errors only (it cannot take back a 502 it started streaming).",
];

/** The whole markdown report. */
export function renderMarkdown(r: Report): string {
  const runRows = r.runs.map((x) => [
    x.proxy,
    String(x.conns),
    String(x.round),
    x.failure ? `failed: ${x.failure.split("\n")[0]}` : int(x.rps),
    fixed(x.p50Ms, 2),
    fixed(x.p99Ms, 2),
    fixed(x.maxMs, 1),
    String(x.errors),
    fixed(x.rssMB, 1),
    fixed(x.cpuUsPerReq, 1),
    ...cpuColumns.cells(x),
    String(x.tcpConnects),
    x.logLines === null ? "–" : fixed(x.logLines / Math.max(1, x.requests), 2),
  ]);
  const runHeader = ["proxy", "conns", "round", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "RSS MB"];
  runHeader.push("CPU µs/req", ...cpuColumns.header, "TCP connects", "log lines/req");
  return [
    header(r),
    "",
    summaryTable(r.summaries),
    "",
    ...numbered(footnotes(r)),
    "",
    ...section("syncgate targets", goalLines(r.goals)),
    ...section("Notes", bullets(r.notes)),
    ...section(
      "Every run",
      "In the order they ran. CPU0 %/CPU1 %: how busy the proxy's core and the load generator + backends' core were. " +
        "other CPU %: CPU time of processes outside the benchmark (other users of the machine, kernel threads), " +
        "in % of one core. TCP connects: connections opened on the machine during the run (wrk's own included): more than the " +
        "connection count means upstream connections were opened and closed during the run.",
      "",
      table(runHeader, runRows),
    ),
  ].join("\n");
}

/** Writes bench/results/YYYY-MM-DD-HHMM.md and .json (UTC); returns the two paths. */
export function saveReport(root: string, r: Report): [string, string] {
  return saveResults(root, r.info.date, "", renderMarkdown(r), r);
}
