/** The reload scenario's figures per contender, its checks, and the notes worth a reader's attention. */
import type { GoalResult } from "../goals.js";
import { type SocketErrorKinds, sumKinds } from "../load.js";
import { OTHER_CPU_LIMIT } from "../scenario.js";
import { median, medianOrNull, quantile, sum } from "../stats.js";
import type { ReloadRun } from "./measure.js";

/**
 * One contender's reload runs at one connection count: totals of reloads, requests and failures over the
 * rounds, medians of req/s, the reload → effect delay over every reload that took effect.
 */
export interface ReloadSummary {
  proxy: "syncgate" | "nginx";
  workers: number;
  conns: number;
  runs: number;
  /** Reloads asked for, and of those, how many took effect. */
  reloads: number;
  effective: number;
  /** Requests completed or failed during the reload runs, and how many failed (socket errors + non-2xx). */
  requests: number;
  failed: number;
  failedPerReload: number | null;
  socketErrorKinds: SocketErrorKinds | null;
  badStatus: number;
  /** Median req/s of the reload runs and of the baseline runs (same load, no reload). */
  rps: number;
  baselineRps: number;
  /** Failed requests over the baseline runs. */
  baselineFailed: number;
  /** Reload asked → first confirming poll showed it, ms: median and largest. */
  effectP50Ms: number | null;
  effectMaxMs: number | null;
  failedPolls: number;
  signalsLogged: number;
  workerStarts: number | null;
  peakProcs: number;
  settleMs: number | null;
}

/** Totals and medians per contender and connection count, in the order the runs came. */
export function summarizeReload(runs: ReloadRun[]): ReloadSummary[] {
  const out: ReloadSummary[] = [];
  for (const key of [...new Set(runs.map((r) => `${r.conns} ${r.proxy}`))]) {
    const measured = runs.filter((r) => `${r.conns} ${r.proxy}` === key && r.requests > 0);
    const base = measured.filter((r) => r.phase === "baseline");
    const mine = measured.filter((r) => r.phase === "reload");
    const first = mine[0];
    if (!first) continue;
    const reloads = sum(mine.map((r) => r.reloads));
    const failed = sum(mine.map((r) => r.errors));
    const effects = mine.flatMap((r) => r.events.flatMap((e) => (e.effectMs === null ? [] : [e.effectMs])));
    const starts = mine.map((r) => r.workerStarts);
    out.push({
      proxy: first.proxy,
      workers: first.workers,
      conns: first.conns,
      runs: mine.length,
      reloads,
      effective: sum(mine.map((r) => r.effective)),
      requests: sum(mine.map((r) => r.requests + r.socketErrors)),
      failed,
      failedPerReload: reloads > 0 ? failed / reloads : null,
      socketErrorKinds: sumKinds(mine.map((r) => r.socketErrorKinds)),
      badStatus: sum(mine.map((r) => r.badStatus)),
      rps: median(mine.map((r) => r.rps)),
      baselineRps: median(base.map((r) => r.rps)),
      baselineFailed: sum(base.map((r) => r.errors)),
      effectP50Ms: effects.length === 0 ? null : quantile(effects, 0.5),
      effectMaxMs: effects.length === 0 ? null : Math.max(...effects),
      failedPolls: sum(mine.map((r) => r.failedPolls)),
      signalsLogged: sum(mine.map((r) => r.signalsLogged)),
      workerStarts: starts.some((s) => s === null) ? null : sum(starts as number[]),
      peakProcs: Math.max(...mine.map((r) => r.peakProcs)),
      settleMs: medianOrNull(mine.map((r) => r.settleMs)),
    });
  }
  return out;
}

/** Every reload took effect (each contender), and syncgate lost no request to its reloads. */
export function reloadGoals(summaries: ReloadSummary[]): GoalResult[] {
  const out: GoalResult[] = [];
  for (const s of summaries) {
    out.push({
      goal: `every reload took effect (${s.proxy}, ${s.workers} workers, c${s.conns})`,
      actual: `${s.effective} of ${s.reloads}`,
      met: s.reloads === 0 ? null : s.effective === s.reloads,
    });
  }
  for (const s of summaries.filter((x) => x.proxy === "syncgate")) {
    out.push({
      goal: `no failed request during reloads (syncgate, c${s.conns})`,
      actual: `${s.failed} of ${s.requests} over ${s.reloads} reloads (${s.effective} took effect)`,
      met: s.reloads === 0 || s.effective === 0 ? null : s.failed === 0,
    });
  }
  return out;
}

/** Observations from the runs, one sentence each. */
export function reloadNotes(runs: ReloadRun[], everyMs: number, durationS: number): string[] {
  const notes: string[] = [];
  const planned = Math.max(0, Math.floor((durationS * 1000) / everyMs) - 1);
  for (const r of runs) {
    const who = `${r.proxy}, round ${r.round}, c${r.conns}, ${r.phase}`;
    if (r.failure) notes.push(`${who}: ${r.failure.split("\n")[0] ?? ""}`);
    if ((r.otherCpuPct ?? 0) > OTHER_CPU_LIMIT) {
      notes.push(`${who}: other processes used ${r.otherCpuPct?.toFixed(0)}% of a core (noisy).`);
    }
    if (r.phase === "baseline") {
      if (r.errors > 0) notes.push(`${who}: ${r.errors} failed requests even without reloads.`);
      continue;
    }
    if (r.reloads < planned) {
      notes.push(
        `${who}: ${r.reloads} of the ${planned} reloads planned (each waits for the previous one to take ` +
          "effect or time out).",
      );
    }
    if (r.failedPolls > 0)
      notes.push(`${who}: ${r.failedPolls} /generation polls on fresh connections failed.`);
    if (r.workerStarts !== null && r.workerStarts < r.reloads) {
      notes.push(`${who}: nginx started new workers ${r.workerStarts} times for ${r.reloads} reloads.`);
    }
  }
  return notes;
}
