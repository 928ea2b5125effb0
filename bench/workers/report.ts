/**
 * The figures and report of `--scenario workers`: medians per proxy, worker count and connection count, with
 * syncgate ÷ nginx at the same worker count and N workers ÷ the fewest; saved as
 * bench/results/YYYY-MM-DD-HHMM-workers.md and .json.
 */
import type { GoalResult } from "../goals.js";
import { bullets, cpuColumns, fixed, int, numbered, reportHead, section, table } from "../markdown.js";
import type { BenchOptions } from "../options.js";
import { goalLines } from "../report.js";
import { saveResults } from "../save.js";
import { median, summarize, type RunRecord, type Summary } from "../stats.js";
import type { MachineInfo } from "../system.js";

/** One measured run at one worker count. */
export interface WorkersRun extends RunRecord {
  /** `worker_processes` in the proxy's config. */
  workers: number;
  /** Processes in its tree during the run (primary/master + workers). */
  procs: number;
}

/** The medians of one proxy at one worker count and connection count, with the ratios. */
export interface WorkersSummary extends Summary {
  workers: number;
  procs: number;
  /** CPU µs/req over nginx's at the same worker and connection count (rpsRatio, p99Ratio: likewise). */
  cpuRatio: number | null;
  /** req/s and CPU µs/req over the same proxy's with the fewest workers, at the same connection count. */
  rpsScale: number | null;
  cpuScale: number | null;
}

/** Medians per worker count (each compared with nginx at that count), then each over its fewest-worker row. */
export function summarizeWorkers(runs: WorkersRun[], workers: number[], conns: number[]): WorkersSummary[] {
  const out: WorkersSummary[] = [];
  for (const n of workers) {
    const mine = runs.filter((r) => r.workers === n);
    for (const s of summarize(mine, ["syncgate", "nginx"], conns)) {
      const procs = median(
        mine.filter((r) => r.proxy === s.proxy && r.conns === s.conns).map((r) => r.procs),
      );
      out.push({ ...s, workers: n, procs, cpuRatio: null, rpsScale: null, cpuScale: null });
    }
  }
  const fewest = Math.min(...workers);
  const ratio = (a: number, b: number | undefined): number | null =>
    b !== undefined && b > 0 && Number.isFinite(a) ? a / b : null;
  for (const s of out) {
    const nginx = out.find((x) => x.proxy === "nginx" && x.workers === s.workers && x.conns === s.conns);
    const base = out.find((x) => x.proxy === s.proxy && x.workers === fewest && x.conns === s.conns);
    s.cpuRatio = ratio(s.cpuUsPerReq, nginx?.cpuUsPerReq);
    s.rpsScale = ratio(s.rps, base?.rps);
    s.cpuScale = ratio(s.cpuUsPerReq, base?.cpuUsPerReq);
  }
  return out.sort((a, b) => a.conns - b.conns || a.workers - b.workers);
}

/** The table of medians and ratios. */
export function workersTable(summaries: WorkersSummary[]): string {
  const fewest = Math.min(...summaries.map((s) => s.workers));
  const header = ["proxy", "workers", "conns", "processes", "req/s", "×nginx", `×${fewest} worker`];
  header.push(
    "CPU µs/req",
    "CPU ×nginx",
    `CPU ×${fewest} worker`,
    "p50 ms",
    "p99 ms",
    "p99 ×nginx",
    "errors",
  );
  header.push("RSS MB", "CPU0 %", "CPU1 %", "req/s min–max");
  const rows = summaries.map((s) => [
    s.proxy,
    String(s.workers),
    String(s.conns),
    fixed(s.procs, 0),
    int(s.rps),
    fixed(s.rpsRatio, 2),
    fixed(s.rpsScale, 2),
    fixed(s.cpuUsPerReq, 1),
    fixed(s.cpuRatio, 2),
    fixed(s.cpuScale, 2),
    fixed(s.p50Ms, 2),
    fixed(s.p99Ms, 2),
    fixed(s.p99Ratio, 2),
    String(s.errors),
    fixed(s.rssMB, 1),
    fixed(s.cpu0BusyPct, 0),
    fixed(s.cpu1BusyPct, 0),
    `${int(s.rpsMin)}–${int(s.rpsMax)}`,
  ]);
  return table(header, rows);
}

/** The ratios in words, one line per connection count and comparison. */
export function ratioLines(summaries: WorkersSummary[]): string[] {
  const lines: string[] = [];
  const fewest = Math.min(...summaries.map((s) => s.workers));
  for (const s of summaries) {
    const who = `${s.proxy} ×${s.workers}`;
    if (s.proxy === "syncgate") {
      lines.push(
        `c${s.conns}: syncgate ${s.workers} / nginx ${s.workers} workers: req/s ${fixed(s.rpsRatio, 2)}×, ` +
          `CPU µs/req ${fixed(s.cpuRatio, 2)}×`,
      );
    }
    if (s.workers !== fewest) {
      lines.push(
        `c${s.conns}: ${who} / ${fewest} worker: req/s ${fixed(s.rpsScale, 2)}×, CPU µs/req ${fixed(s.cpuScale, 2)}×`,
      );
    }
  }
  return lines;
}

/** Everything one `--scenario workers` found. */
export interface WorkersReport {
  scenario: "workers";
  info: MachineInfo;
  options: BenchOptions;
  /** Whether the proxy, wrk and the backends share the machine's cores (always, unless there is one CPU). */
  sharedCores: string;
  summaries: WorkersSummary[];
  goals: GoalResult[];
  notes: string[];
  runs: WorkersRun[];
  /** Runs measured again because other processes were busy; not in the medians. */
  discarded: WorkersRun[];
}

/** The statement every printout of this scenario carries. */
export function sharedCoresNote(nproc: number): string {
  return (
    `The load generator (wrk, one thread) and the backends (one nginx worker) share the machine's ${nproc} ` +
    "cores with the proxy: nothing is pinned apart, so a proxy with 2 workers competes with wrk for the same " +
    "CPUs, and N workers ÷ 1 is bounded by that, not by the proxy alone."
  );
}

function method(r: WorkersReport): string[] {
  const o = r.options;
  return [
    `${o.rounds} round(s) × ${o.conns.join(" and ")} connections × {syncgate, nginx} × worker_processes ` +
      `${o.workers?.workers.join(" and ")}, interleaved (the first of the ${2 * (o.workers?.workers.length ?? 0)} ` +
      `configurations rotates each round); ${o.durationS} s per run after ${o.warmupS} s of warm-up.`,
    "Both proxies run the main bench's config (bench/conf/nginx.conf, syncgate.conf) with `worker_processes N`, " +
      "against the same backends (one nginx worker on two ports answering `hello world\\n`); load: " +
      "`wrk -t1 -cN --latency` GET /.",
    r.sharedCores,
    "CPU µs/req: user + system time of the proxy's whole process tree (nginx: master + workers; syncgate: " +
      "primary + workers) during the measured run, over its requests; RSS: the tree's peak summed VmRSS; " +
      "processes: the tree's size during the run. CPU0 % / CPU1 %: how busy each core was (everything included).",
    "×nginx: over nginx's median with the same worker count and connections; ×N worker: over the same proxy's " +
      "median with the fewest workers. A run during which other processes used over 10% of a core is redone " +
      "(at most twice).",
  ];
}

/** The whole markdown report. */
export function renderWorkersMarkdown(r: WorkersReport): string {
  const i = r.info;
  const header = ["proxy", "workers", "conns", "round", "processes", "req/s", "p50 ms", "p99 ms", "errors"];
  header.push("RSS MB", "CPU µs/req", ...cpuColumns.header);
  const rows = r.runs.map((x) => [
    x.proxy,
    String(x.workers),
    String(x.conns),
    String(x.round),
    String(x.procs),
    x.failure ? `failed: ${x.failure.split("\n")[0]}` : int(x.rps),
    fixed(x.p50Ms, 2),
    fixed(x.p99Ms, 2),
    String(x.errors),
    fixed(x.rssMB, 1),
    fixed(x.cpuUsPerReq, 1),
    ...cpuColumns.cells(x),
  ]);
  return [
    ...reportHead("syncgate worker processes benchmark", i),
    `- Software: Node ${i.node}, ${i.nginx}, ${i.loadTool}, syncgate ${i.syncgate}`,
    `- ${r.sharedCores}`,
    "",
    ...section("Medians", workersTable(r.summaries)),
    ...section("Ratios", bullets(ratioLines(r.summaries))),
    ...section("Checks", goalLines(r.goals)),
    ...section("Notes", bullets(r.notes)),
    ...section("Method", ...numbered(method(r))),
    ...section("Every run", table(header, rows)),
  ].join("\n");
}

/** Writes bench/results/YYYY-MM-DD-HHMM-workers.md and .json (UTC); returns the two paths. */
export function saveWorkersReport(root: string, r: WorkersReport): [string, string] {
  return saveResults(root, r.info.date, "-workers", renderWorkersMarkdown(r), r);
}
