/** The churn scenario's figures: medians and totals of the churn runs per contender, percentiles of propagation. */
import { sumKinds } from "../load.js";
import { median, medianOrNull, quantile, rpsRange, sum } from "../stats.js";
import type { ChurnRun } from "./measure.js";
import type { PropagationSeries } from "./propagation.js";

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

/**
 * One contender's churn runs at one connection count: rps, p99Ms, catchUpMs, cpu0BusyPct and tcpConnects are
 * medians; badStatus, socketErrors (and by kind, null when the load generator gives none), changes, signals,
 * reloads, reloadErrors and applied are totals; peakProcs and peakRssMB the largest.
 */
export interface ChurnSummary extends Pick<
  ChurnRun,
  | "proxy"
  | "conns"
  | "rps"
  | "p99Ms"
  | "badStatus"
  | "socketErrors"
  | "socketErrorKinds"
  | "changes"
  | "signals"
  | "reloads"
  | "reloadErrors"
  | "applied"
  | "peakProcs"
  | "peakRssMB"
  | "catchUpMs"
  | "cpu0BusyPct"
  | "tcpConnects"
> {
  runs: number;
  /** Median req/s and p99 of the baseline runs (same load, no change). */
  baselineRps: number;
  baselineP99Ms: number;
  /** Slowest and fastest churn run. */
  rpsMin: number;
  rpsMax: number;
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
    out.push({
      proxy: first.proxy,
      conns: first.conns,
      runs: mine.length,
      baselineRps: median(base.map((r) => r.rps)),
      baselineP99Ms: median(base.map((r) => r.p99Ms)),
      ...rpsRange(mine),
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
      catchUpMs: medianOrNull(mine.map((r) => r.catchUpMs)),
      cpu0BusyPct: medianOrNull(mine.map((r) => r.cpu0BusyPct)),
      tcpConnects: median(mine.map((r) => r.tcpConnects)),
    });
  }
  return out;
}
