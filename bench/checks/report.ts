/**
 * The report of `--scenario checks`: the with / without table and the ratio, the targets, notes, the method and
 * every run; saved as bench/results/YYYY-MM-DD-HHMM-checks.md and .json.
 */
import type { GoalResult } from "../goals.js";
import { bullets, cpuColumns, fixed, int, numbered, reportHead, section, table } from "../markdown.js";
import type { BenchOptions, ChecksOptions } from "../options.js";
import { goalLines } from "../report.js";
import { saveResults } from "../save.js";
import type { MachineInfo } from "../system.js";
import type { ChecksRun } from "./measure.js";
import type { ChecksComparison, ChecksSummary } from "./summary.js";

/** Everything one `--scenario checks` found. */
export interface ChecksReport {
  scenario: "checks";
  info: MachineInfo;
  options: BenchOptions;
  /** The `check` lines of the runs with checks. */
  checkLines: string[];
  /** The open-file limit syncgate asked for, and whether it got it. */
  nofile: { wanted: number; got: number | null };
  /** Probes per second expected from the checker's schedule (interval + mean jitter, probe time aside). */
  expectedProbesPerS: number;
  summaries: ChecksSummary[];
  comparisons: ChecksComparison[];
  goals: GoalResult[];
  notes: string[];
  runs: ChecksRun[];
  /** Runs measured again because other processes were busy; not in the medians. */
  discarded: ChecksRun[];
}

const label = (config: string): string => (config === "with" ? "with checks" : "without");

/** The table of medians: one row per configuration and connection count. */
export function checksTable(summaries: ChecksSummary[]): string {
  const header = [
    "syncgate",
    "conns",
    "runs",
    "req/s",
    "CPU µs/req",
    "min–max",
    "user / sys",
    "p50 ms",
    "p99 ms",
  ];
  header.push(
    "errors",
    "probes/s",
    "probe conns/s",
    "successes/s",
    "idle CPU %",
    "RSS MB",
    "peak fds",
    "fd limit",
    "start ms",
  );
  const rows = summaries.map((s) => [
    label(s.config),
    String(s.conns),
    String(s.runs),
    int(s.rps),
    fixed(s.cpuUsPerReq, 2),
    `${fixed(s.cpuMin, 2)}–${fixed(s.cpuMax, 2)}`,
    `${fixed(s.userUsPerReq, 1)} / ${fixed(s.sysUsPerReq, 1)}`,
    fixed(s.p50Ms, 2),
    fixed(s.p99Ms, 2),
    int(s.errors),
    int(s.probesPerS),
    int(s.connectsPerS),
    int(s.successesPerS),
    fixed(s.idleCpuPct, 1),
    fixed(s.rssMB, 1),
    int(s.peakFds),
    int(s.fdLimit),
    int(s.startMs),
  ]);
  return table(header, rows);
}

/** The comparison table: one row per connection count. */
export function comparisonTable(c: ChecksComparison[]): string {
  const header = [
    "conns",
    "CPU µs/req with ÷ without",
    "paired by round",
    "user / sys",
    "req/s with ÷ without",
  ];
  header.push("extra µs/req", "µs per probe (idle)", "µs per probe (loaded)");
  const rows = c.map((x) => [
    String(x.conns),
    fixed(x.cpuRatio, 3),
    fixed(x.pairedCpuRatio, 3),
    `${fixed(x.userRatio, 3)} / ${fixed(x.sysRatio, 3)}`,
    fixed(x.rpsRatio, 3),
    fixed(x.extraUsPerReq, 2),
    fixed(x.usPerProbeIdle, 1),
    fixed(x.usPerProbeLoaded, 1),
  ]);
  return table(header, rows);
}

function method(r: ChecksReport): string[] {
  const o = r.options;
  const c = o.checks as ChecksOptions;
  return [
    `${o.rounds} round(s) × ${o.conns.join(" and ")} connections × {without, with} checks, interleaved (the first ` +
      "configuration alternates each round). Each run starts syncgate afresh (so the other configuration never " +
      "runs beside it), one process pinned to CPU 0, and stops it at the end; CPU 1 holds wrk, the backends, the " +
      "probe targets and the harness.",
    "Configuration: the main bench's bench/conf/syncgate.conf (upstream `app` of the two backends with keepalive, " +
      "the same headers, retries, access log and routes) plus, in both runs, an upstream `pool` of " +
      `${c.servers} servers, a \`location /pool/\` that uses it (never requested) and \`location = /check_status\`. ` +
      `The runs with checks add to both \`app\` and \`pool\`: ${r.checkLines.map((l) => `\`${l}\``).join(" ")} ` +
      "— so the two configurations differ by the `check` lines only, and the figure is the cost of probing, not " +
      `of holding ${c.servers} more servers in memory.`,
    `Probe targets: one nginx worker listening on ${c.servers} ports of 127.0.0.1 ` +
      "(bench/conf/checks-targets.nginx.conf) answering 200; its stub_status, read before and after the " +
      "measured run, gives probes/s (`requests` for http, `accepts` for tcp) and probe conns/s (`accepts`: as " +
      "many as probes without `check_keepalive_requests`, fewer with it). successes/s: the growth of the " +
      "pool's rise counters on syncgate's `check_status?format=json` over the same span (a rise counter keeps " +
      "growing while a server is up; a failure resets it). Status page and stub_status are read outside the " +
      "CPU window. The `app` servers are probed too (2 more, on the backends' nginx).",
    `Per run: syncgate started with \`ulimit -n ${r.nofile.wanted}\` (sh -c … exec), ready when it answers /healthz ` +
      "and, with checks, lists every server up (start ms); then idle CPU %: its CPU with no load for a few " +
      `seconds, % of one core; then ${o.warmupS} s of warm-up and \`wrk -t1 -c N\` GET / for ${o.durationS} s. ` +
      "CPU µs/req: syncgate's user + system time (from /proc) during the wrk run over its requests — with checks " +
      "it includes every probe made meanwhile, which is the point. RSS and open files: peaks sampled every 100 ms.",
    "µs per probe (idle): the idle CPU with checks minus without, over the probes per second then. (loaded): " +
      "the extra µs/req times req/s with checks, over probes/s. A run during which processes outside the " +
      "benchmark used over 10% of a core is redone (at most three times, 5 s apart; the quietest attempt counts).",
  ];
}

/** The whole markdown report. */
export function renderChecksMarkdown(r: ChecksReport): string {
  const i = r.info;
  const o = r.options;
  const c = o.checks as ChecksOptions;
  const runHeader = ["syncgate", "conns", "round", "req/s", "CPU µs/req", "user / sys", "p99 ms", "errors"];
  runHeader.push("probes/s", "probe conns/s");
  runHeader.push("successes/s", "idle CPU %", "idle probes/s", "RSS MB", "peak fds", "start ms", "up / down");
  runHeader.push(...cpuColumns.header, "TCP connects", "TIME_WAIT");
  const runRows = r.runs.map((x) => [
    label(x.config),
    String(x.conns),
    String(x.round),
    x.failure ? `failed: ${x.failure.split("\n")[0] ?? ""}` : int(x.rps),
    fixed(x.cpuUsPerReq, 2),
    `${fixed(x.userUsPerReq, 1)} / ${fixed(x.sysUsPerReq, 1)}`,
    fixed(x.p99Ms, 2),
    int(x.errors),
    int(x.probesPerS),
    int(x.connectsPerS),
    int(x.successesPerS),
    fixed(x.idleCpuPct, 1),
    int(x.idleProbesPerS),
    fixed(x.rssMB, 1),
    int(x.peakFds),
    int(x.startMs),
    x.status === null ? "–" : `${x.status.up} / ${x.status.down}`,
    ...cpuColumns.cells(x),
    int(x.tcpConnects),
    int(x.timeWait),
  ]);
  const got = r.nofile.got === null ? "unknown" : String(r.nofile.got);
  return [
    ...reportHead("syncgate active health checks benchmark", i),
    `- Software: Node ${i.node}, ${i.nginx}, ${i.loadTool}, syncgate ${i.syncgate}`,
    `- Checks: ${c.servers} servers of 127.0.0.1 + the 2 backends, \`type=${c.type}\`, \`interval=${c.intervalMs}\`` +
      `${c.keepalive > 1 ? `, \`check_keepalive_requests ${c.keepalive}\`` : ""} ` +
      `(≈ ${int(r.expectedProbesPerS)} probes/s expected from the schedule); open-file limit asked ` +
      `${r.nofile.wanted}, got ${got}`,
    "",
    ...section("Without and with checks (medians)", checksTable(r.summaries)),
    ...section("With ÷ without", comparisonTable(r.comparisons)),
    ...section("Targets", goalLines(r.goals)),
    ...section("Notes", bullets(r.notes)),
    ...section("Method", ...numbered(method(r))),
    ...section(
      "Every run",
      "In the order they ran. up / down: the status page after the run (with checks). TIME_WAIT: sockets in " +
        "TIME_WAIT on the machine when the measured run began.",
      "",
      table(runHeader, runRows),
    ),
  ].join("\n");
}

/** Writes bench/results/YYYY-MM-DD-HHMM-checks.md and .json (UTC); returns the two paths. */
export function saveChecksReport(root: string, r: ChecksReport): [string, string] {
  return saveResults(root, r.info.date, "-checks", renderChecksMarkdown(r), r);
}
