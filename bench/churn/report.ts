/**
 * The report of `--scenario churn`: churn medians per contender, the propagation percentiles, the targets, the
 * method in a few lines, and every run; saved as bench/results/YYYY-MM-DD-HHMM-churn.md and .json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GoalResult } from "../goals.js";
import type { BenchOptions } from "../options.js";
import { goalLines } from "../report.js";
import { median } from "../stats.js";
import type { MachineInfo } from "../system.js";
import type { SocketErrorKinds } from "./load.js";
import type { ChurnRun } from "./measure.js";
import type { PropagationSample, PropagationSeries } from "./propagation.js";

/** Percentiles of one propagation series, ms. */
export interface PropagationSummary {
  /** "idle" (no other traffic) or "under load" (wrk at the churn connection count). */
  label: string;
  samples: number;
  timeouts: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** p99 of the lower bounds: the change was applied after this. */
  loP99Ms: number;
  /** Share of samples the first poll already showed (the poll was answered after the apply), percent. */
  firstPollPct: number;
  /** Median poll round trip: the resolution, with the ~1 ms pause between polls. */
  rttP50Ms: number;
  addP99Ms: number;
  removeP99Ms: number;
}

/** Medians of one contender's churn runs. */
export interface ChurnSummary {
  proxy: "syncgate" | "nginx";
  conns: number;
  runs: number;
  /** Median req/s and p99 of the baseline runs (same load, no change). */
  baselineRps: number;
  baselineP99Ms: number;
  /** Medians of the churn runs. */
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p99Ms: number;
  /** Totals over the churn runs. */
  badStatus: number;
  socketErrors: number;
  /** By kind (null when the load generator gives none). */
  socketErrorKinds: SocketErrorKinds | null;
  changes: number;
  signals: number | null;
  reloads: number | null;
  reloadErrors: number | null;
  applied: number | null;
  /** Largest over the runs. */
  peakProcs: number;
  peakRssMB: number;
  catchUpMs: number | null;
  cpu0BusyPct: number | null;
  tcpConnects: number;
}

/** Everything one `--scenario churn` found. */
export interface ChurnReport {
  scenario: "churn";
  info: MachineInfo;
  options: BenchOptions;
  /** The pool, and the membership every churn run starts from. */
  pool: string[];
  start: string[];
  /** The first changes of round 1's sequence, in words. */
  sampleChanges: string[];
  summaries: ChurnSummary[];
  propagation: PropagationSummary[];
  goals: GoalResult[];
  notes: string[];
  runs: ChurnRun[];
  /** Runs measured again because other processes were busy; not in the medians. */
  discarded: ChurnRun[];
  /** Every propagation sample, per series label. */
  samples: Record<string, PropagationSample[]>;
}

/** The q-quantile (nearest rank) of `values`; NaN when empty. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

/** Percentiles of a series. */
export function summarizePropagation(label: string, series: PropagationSeries): PropagationSummary {
  const ms = series.samples.map((s) => s.ms);
  const of = (kind: string): number[] => series.samples.filter((s) => s.kind === kind).map((s) => s.ms);
  return {
    label,
    samples: series.samples.length,
    timeouts: series.timeouts,
    p50Ms: quantile(ms, 0.5),
    p95Ms: quantile(ms, 0.95),
    p99Ms: quantile(ms, 0.99),
    maxMs: ms.length === 0 ? NaN : Math.max(...ms),
    loP99Ms: quantile(
      series.samples.map((s) => s.loMs),
      0.99,
    ),
    firstPollPct:
      ms.length === 0 ? NaN : (100 * series.samples.filter((s) => s.polls === 1).length) / ms.length,
    rttP50Ms: median(series.samples.map((s) => s.rttMs)),
    addP99Ms: quantile(of("add"), 0.99),
    removeP99Ms: quantile(of("remove"), 0.99),
  };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function sumKinds(xs: (SocketErrorKinds | null)[]): SocketErrorKinds | null {
  if (xs.some((x) => x === null)) return null;
  const out: SocketErrorKinds = { connect: 0, read: 0, write: 0, timeout: 0 };
  for (const x of xs as SocketErrorKinds[]) {
    for (const k of Object.keys(out) as (keyof SocketErrorKinds)[]) out[k] += x[k];
  }
  return out;
}

/** "1,234 (read 1,200, connect 34)": the total and its non-zero kinds. */
function socketErrorText(total: number, kinds: SocketErrorKinds | null): string {
  const parts = kinds === null ? [] : (Object.entries(kinds) as [string, number][]).filter(([, n]) => n > 0);
  if (total === 0 || parts.length === 0) return int(total);
  return `${int(total)} (${parts.map(([k, n]) => `${k} ${int(n)}`).join(", ")})`;
}

function sumOrNull(xs: (number | null)[]): number | null {
  return xs.some((x) => x === null) ? null : sum(xs as number[]);
}

/** Medians (and totals) per contender and connection count. */
export function summarizeChurn(runs: ChurnRun[]): ChurnSummary[] {
  const out: ChurnSummary[] = [];
  const keys = [...new Set(runs.map((r) => `${r.conns} ${r.proxy}`))];
  for (const key of keys) {
    const measured = runs.filter((r) => `${r.conns} ${r.proxy}` === key && r.requests > 0);
    const base = measured.filter((r) => r.phase === "baseline");
    const mine = measured.filter((r) => r.phase === "churn");
    const first = mine[0];
    if (!first) continue;
    const rps = mine.map((r) => r.rps);
    const catchUp = mine.map((r) => r.catchUpMs).filter((x): x is number => x !== null);
    const cpu0 = mine.map((r) => r.cpu0BusyPct).filter((x): x is number => x !== null);
    out.push({
      proxy: first.proxy,
      conns: first.conns,
      runs: mine.length,
      baselineRps: median(base.map((r) => r.rps)),
      baselineP99Ms: median(base.map((r) => r.p99Ms)),
      rps: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p99Ms: median(mine.map((r) => r.p99Ms)),
      badStatus: sum(mine.map((r) => r.badStatus)),
      socketErrors: sum(mine.map((r) => r.socketErrors)),
      socketErrorKinds: sumKinds(mine.map((r) => r.socketErrorKinds)),
      changes: sum(mine.map((r) => r.changes)),
      signals: sumOrNull(mine.map((r) => r.signals)),
      reloads: sumOrNull(mine.map((r) => r.reloads)),
      reloadErrors: sumOrNull(mine.map((r) => r.reloadErrors)),
      applied: sumOrNull(mine.map((r) => r.applied)),
      peakProcs: Math.max(...mine.map((r) => r.peakProcs)),
      peakRssMB: Math.max(...mine.map((r) => r.peakRssMB)),
      catchUpMs: catchUp.length === 0 ? null : median(catchUp),
      cpu0BusyPct: cpu0.length === 0 ? null : median(cpu0),
      tcpConnects: median(mine.map((r) => r.tcpConnects)),
    });
  }
  return out;
}

function fixed(n: number | null, digits: number): string {
  return n === null || !Number.isFinite(n) ? "–" : n.toFixed(digits);
}

function int(n: number | null): string {
  return n === null || !Number.isFinite(n) ? "–" : Math.round(n).toLocaleString("en-US");
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
  const align = header.map((_h, i) => (i < 2 ? "---" : "---:"));
  return [line(header), line(align), ...rows.map(line)].join("\n");
}

/** The churn table: one row per contender and connection count. */
export function churnTable(summaries: ChurnSummary[]): string {
  const header = ["proxy", "conns", "req/s no churn", "req/s churn", "churn ÷ no churn", "×nginx", "p99 ms"];
  header.push(
    "non-2xx",
    "socket errors",
    "changes",
    "reloads done / SIGHUPs",
    "applied indexes",
    "peak procs",
  );
  header.push("peak RSS MB", "catch-up ms", "TCP connects", "req/s churn min–max");
  const rows = summaries.map((s) => {
    const nginx = summaries.find((x) => x.proxy === "nginx" && x.conns === s.conns);
    const ratio = nginx && nginx.rps > 0 ? s.rps / nginx.rps : null;
    return [
      s.proxy,
      String(s.conns),
      int(s.baselineRps),
      int(s.rps),
      fixed(s.baselineRps > 0 ? s.rps / s.baselineRps : null, 2),
      fixed(ratio, 2),
      `${fixed(s.baselineP99Ms, 1)} → ${fixed(s.p99Ms, 1)}`,
      int(s.badStatus),
      socketErrorText(s.socketErrors, s.socketErrorKinds),
      int(s.changes),
      s.reloads === null ? "–" : `${int(s.reloads)} / ${int(s.signals)}`,
      int(s.applied),
      String(s.peakProcs),
      fixed(s.peakRssMB, 1),
      fixed(s.catchUpMs, 0),
      int(s.tcpConnects),
      `${int(s.rpsMin)}–${int(s.rpsMax)}`,
    ];
  });
  return table(header, rows);
}

/** The propagation table: one row per series. */
export function propagationTable(p: PropagationSummary[]): string {
  const header = [
    "series",
    "samples",
    "timeouts",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "lower-bound p99 ms",
  ];
  header.push("first poll showed it", "add p99 ms", "remove p99 ms", "poll RTT p50 ms");
  const rows = p.map((s) => [
    s.label,
    String(s.samples),
    String(s.timeouts),
    fixed(s.p50Ms, 2),
    fixed(s.p95Ms, 2),
    fixed(s.p99Ms, 2),
    fixed(s.maxMs, 2),
    fixed(s.loP99Ms, 2),
    `${fixed(s.firstPollPct, 0)}%`,
    fixed(s.addP99Ms, 2),
    fixed(s.removeP99Ms, 2),
    fixed(s.rttP50Ms, 2),
  ]);
  return table(header, rows);
}

function method(r: ChurnReport): string[] {
  const o = r.options;
  const c = o.churn;
  const rate = c?.rate ?? 0;
  return [
    `Churn: ${o.rounds} round(s) × ${o.conns.join(" and ")} connections × {syncgate, nginx}, interleaved (the ` +
      `first contender alternates). Per contender and round: ${o.warmupS} s of warm-up, a baseline run ` +
      `(\`wrk -t1 -cN\` GET / for ${o.durationS} s, no change), then the churn run: the same load for ` +
      `${o.durationS} s while the upstream's membership changes ${rate} times a second — a seeded ` +
      "random sequence of add, remove, re-weight, down/up and whole-set swap over a pool of " +
      `${r.pool.length} backends (one nginx worker on ${r.pool.length} loopback ports), never leaving zero ` +
      "servers up; both contenders of a round get the same sequence. Each run starts from the same membership.",
    "syncgate follows the Consul API double (test/support/consul-double.ts, in the harness process) with " +
      "blocking queries; each change is one or more KV writes (`upstreams/churn/IP:PORT` = " +
      '`{"weight":W,"max_fails":2,"fail_timeout":10,"down":0|1}`; a swap writes the new keys first, then ' +
      "deletes the old ones).",
    "nginx gets each change the way consul-template drives it: the harness rewrites the `include`d server file " +
      "(temp file + rename) and sends the master SIGHUP (what `nginx -s reload` does). Reloads done: " +
      '"start worker processes" lines in its notice-level error log; SIGHUPs: the "signal 1 (SIGHUP) received" ' +
      "lines — signals that arrive while one is already pending are merged by the kernel and never logged. " +
      "peak procs: the most processes its tree had at once (master + the current worker + old workers still " +
      "draining their connections), sampled every 50 ms. applied indexes (syncgate): registry answers that " +
      "changed its server list; a swap is several writes, so this can exceed the changes, and writes that land " +
      "while a query is on its way back are applied together.",
    "Both: one worker pinned to CPU 0, upstream `keepalive " +
      `${o.keepalive}\`, the main bench's headers, retries (\`proxy_next_upstream error timeout http_502\`) ` +
      "and access log; wrk, the backends and the harness (with the Consul double) on CPU 1. non-2xx and socket " +
      "errors (connect, read, write, timeout) are wrk's counts (a read error is a connection closed under a " +
      "request: an old nginx worker closes its keep-alive client connections as it shuts down, and a request " +
      "wrk already sent on one is lost — a real client would retry it), totals over the churn runs; req/s and p99 are " +
      "medians (p99: baseline → churn); TCP connects: connections opened on the machine per churn run (median; " +
      "wrk's own 64 included), i.e. upstream connections made anew and clients reconnecting.",
    "catch-up: after the last change, until syncgate's upstream_show lists the last membership, or until " +
      "nginx has started a worker after the last SIGHUP and every older worker has exited (wrk stopped by then).",
    "Propagation: syncgate alone, the registry at the start membership; each sample waits until syncgate's " +
      "blocking query is held by the double, pauses 10–30 ms, then adds one server of the pool (weight 2) or " +
      "removes it again, in-process: the double answers the held query inside the write call, so the write is " +
      "acknowledged when the call returns. The harness then polls `GET /upstream_show?churn` on one keep-alive " +
      "connection, ~1 ms apart, until the change shows; the figure ends when that poll's answer arrives (an " +
      "upper bound; the lower bound ends when the last poll that missed it was sent). upstream_show lists the " +
      "very server list the balancer picks from, so this observes the apply itself. When the first poll already " +
      "shows the change (syncgate handled the registry's answer before the poll, which arrived just after it), " +
      "the lower bound is 0 and the figure is the apply plus one poll round trip. " +
      '"under load": the same while wrk runs at the churn connection count (the polls then queue behind ' +
      "wrk's requests in syncgate, and the harness shares CPU 1 with wrk, so the figure includes both).",
  ];
}

/** The whole markdown report. */
export function renderChurnMarkdown(r: ChurnReport): string {
  const i = r.info;
  const runHeader = [
    "proxy",
    "conns",
    "round",
    "phase",
    "seed",
    "req/s",
    "p99 ms",
    "non-2xx",
    "socket errors",
  ];
  runHeader.push(
    "changes",
    "changes/s",
    "late ms",
    "reloads / SIGHUPs",
    "applied",
    "peak procs",
    "catch-up ms",
  );
  runHeader.push("CPU0 %", "CPU1 %", "other CPU %", "TCP connects");
  const runRows = r.runs.map((x) => [
    x.proxy,
    String(x.conns),
    String(x.round),
    x.phase,
    x.phase === "baseline" ? "–" : String(x.seed),
    x.failure ? `${int(x.rps)} (${x.failure.split("\n")[0] ?? ""})` : int(x.rps),
    fixed(x.p99Ms, 2),
    int(x.badStatus),
    socketErrorText(x.socketErrors, x.socketErrorKinds),
    int(x.changes),
    fixed(x.changesPerS, 1),
    fixed(x.maxLateMs, 1),
    x.reloads === null ? "–" : `${x.reloads} / ${x.signals}`,
    int(x.applied),
    String(x.peakProcs),
    fixed(x.catchUpMs, 0),
    fixed(x.cpu0BusyPct, 0),
    fixed(x.cpu1BusyPct, 0),
    fixed(x.otherCpuPct, 0),
    int(x.tcpConnects),
  ]);
  return [
    `# syncgate registry churn benchmark, ${i.date.slice(0, 16).replace("T", " ")} UTC`,
    "",
    `- Machine: ${i.nproc} CPUs, ${i.cpuModel}, Linux ${i.kernel}`,
    `- Software: Node ${i.node}, ${i.nginx}, ${i.loadTool}, syncgate ${i.syncgate}`,
    `- Pool: ${r.pool.join(", ")}; every run starts from ${r.start.join(", ")}`,
    "",
    "## Churn: requests while the membership changes",
    "",
    churnTable(r.summaries),
    "",
    "## Propagation: registry write acknowledged → syncgate serves it",
    "",
    propagationTable(r.propagation),
    "",
    "## Targets",
    "",
    goalLines(r.goals),
    "",
    "## Notes",
    "",
    r.notes.length === 0 ? "- none" : r.notes.map((n) => `- ${n}`).join("\n"),
    "",
    "## Method",
    "",
    ...method(r).map((m, n) => `${n + 1}. ${m}`),
    "",
    `The first changes of round 1: ${r.sampleChanges.join("; ")}.`,
    "",
    "## Every churn run",
    "",
    "late ms: the most a change was made after its slot (the harness shares CPU 1 with wrk).",
    "",
    table(runHeader, runRows),
    "",
  ].join("\n");
}

/** Writes bench/results/YYYY-MM-DD-HHMM-churn.md and .json (UTC); returns the two paths. */
export function saveChurnReport(root: string, r: ChurnReport): [string, string] {
  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const d = r.info.date;
  const stem = `${d.slice(0, 10)}-${d.slice(11, 13)}${d.slice(14, 16)}-churn`;
  const md = join(dir, `${stem}.md`);
  const json = join(dir, `${stem}.json`);
  writeFileSync(md, renderChurnMarkdown(r));
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
  return [md, json];
}
