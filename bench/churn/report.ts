/**
 * The report of `--scenario churn`: churn medians per contender, the propagation percentiles, the targets, the
 * method in a few lines, and every run; saved as bench/results/YYYY-MM-DD-HHMM-churn.md and .json.
 */
import type { GoalResult } from "../goals.js";
import {
  bullets,
  cpuColumns,
  fixed,
  int,
  numbered,
  reportHead,
  section,
  socketErrorText,
  table,
} from "../markdown.js";
import type { BenchOptions } from "../options.js";
import { goalLines } from "../report.js";
import { saveResults } from "../save.js";
import type { MachineInfo } from "../system.js";
import type { ChurnRun } from "./measure.js";
import type { PropagationSample } from "./propagation.js";
import type { ChurnSummary, PropagationSummary } from "./summary.js";

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
  const ms = (...xs: number[]): string[] => xs.map((x) => fixed(x, 2));
  const rows = p.map((s) => [
    s.label,
    String(s.samples),
    String(s.timeouts),
    ...ms(s.p50Ms, s.p95Ms, s.p99Ms, s.maxMs, s.loP99Ms),
    `${fixed(s.firstPollPct, 0)}%`,
    ...ms(s.addP99Ms, s.removeP99Ms, s.rttP50Ms),
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
  runHeader.push(...cpuColumns.header, "TCP connects");
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
    ...cpuColumns.cells(x),
    int(x.tcpConnects),
  ]);
  return [
    ...reportHead("syncgate registry churn benchmark", i),
    `- Software: Node ${i.node}, ${i.nginx}, ${i.loadTool}, syncgate ${i.syncgate}`,
    `- Pool: ${r.pool.join(", ")}; every run starts from ${r.start.join(", ")}`,
    "",
    ...section("Churn: requests while the membership changes", churnTable(r.summaries)),
    ...section(
      "Propagation: registry write acknowledged → syncgate serves it",
      propagationTable(r.propagation),
    ),
    ...section("Targets", goalLines(r.goals)),
    ...section("Notes", bullets(r.notes)),
    ...section(
      "Method",
      ...numbered(method(r)),
      "",
      `The first changes of round 1: ${r.sampleChanges.join("; ")}.`,
    ),
    ...section(
      "Every churn run",
      "late ms: the most a change was made after its slot (the harness shares CPU 1 with wrk).",
      "",
      table(runHeader, runRows),
    ),
  ].join("\n");
}

/** Writes bench/results/YYYY-MM-DD-HHMM-churn.md and .json (UTC); returns the two paths. */
export function saveChurnReport(root: string, r: ChurnReport): [string, string] {
  return saveResults(root, r.info.date, "-churn", renderChurnMarkdown(r), r);
}
