/** Medians of `--scenario checks` per configuration and connection count, and the with ÷ without comparison. */
import type { GoalResult } from "../goals.js";
import { finiteMedianOrNull, maxOrNull, median, minOrNull, rpsRange, sum } from "../stats.js";
import type { ChecksRun } from "./measure.js";
import type { ChecksConfig } from "./setup.js";

/** The target: CPU µs per request with checks at most this many times that without (issue 5 item 6). */
export const CPU_RATIO_TARGET = 1.1;

/** Medians of one configuration at one connection count. */
export interface ChecksSummary {
  config: ChecksConfig;
  conns: number;
  runs: number;
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50Ms: number;
  p99Ms: number;
  /** Total over the runs. */
  errors: number;
  cpuUsPerReq: number;
  cpuMin: number;
  cpuMax: number;
  /** Medians of the user and system parts of CPU µs/req. */
  userUsPerReq: number;
  sysUsPerReq: number;
  idleCpuPct: number;
  idleProbesPerS: number;
  probesPerS: number;
  /** Connections the targets accepted per second (below probes/s when probes share connections). */
  connectsPerS: number;
  successesPerS: number | null;
  rssMB: number;
  rssMaxMB: number;
  /** The most files open at once over the runs; the lowest open-file limit syncgate got. */
  peakFds: number | null;
  fdLimit: number | null;
  startMs: number;
  cpu0BusyPct: number | null;
  cpu1BusyPct: number | null;
  otherCpuPct: number | null;
  timeWait: number | null;
  /** With checks: servers found down, and the most found failing (fall > 0), on the status page after a run. */
  downAfter: number | null;
  failingMax: number | null;
}

/** With ÷ without at one connection count. */
export interface ChecksComparison {
  conns: number;
  /** Median CPU µs/req with checks ÷ median without: the figure. */
  cpuRatio: number;
  /** The median of each round's own with ÷ without (the same figure, paired by round). */
  pairedCpuRatio: number;
  /** The same ratio of the user and of the system part alone. */
  userRatio: number;
  sysRatio: number;
  rpsRatio: number;
  /** Extra CPU µs per request with checks (median with − median without). */
  extraUsPerReq: number;
  /** CPU µs per probe, idle: (idle CPU with − without) over the probes per second then. */
  usPerProbeIdle: number;
  /** CPU µs per probe under load: the extra µs/req × req/s (with checks) over the probes per second. */
  usPerProbeLoaded: number;
}

/** Medians per configuration (without first) and connection count. */
export function summarizeChecks(runs: ChecksRun[], conns: number[]): ChecksSummary[] {
  const out: ChecksSummary[] = [];
  for (const c of conns) {
    for (const config of ["without", "with"] as const) {
      const mine = runs.filter((r) => r.config === config && r.conns === c && r.failure === undefined);
      if (mine.length === 0) continue;
      const cpu = mine.map((r) => r.cpuUsPerReq);
      const withChecks = config === "with";
      out.push({
        config,
        conns: c,
        runs: mine.length,
        ...rpsRange(mine),
        p50Ms: median(mine.map((r) => r.p50Ms)),
        p99Ms: median(mine.map((r) => r.p99Ms)),
        errors: sum(mine.map((r) => r.errors)),
        cpuUsPerReq: median(cpu),
        cpuMin: Math.min(...cpu),
        cpuMax: Math.max(...cpu),
        userUsPerReq: median(mine.map((r) => r.userUsPerReq)),
        sysUsPerReq: median(mine.map((r) => r.sysUsPerReq)),
        idleCpuPct: median(mine.map((r) => r.idleCpuPct)),
        idleProbesPerS: median(mine.map((r) => r.idleProbesPerS)),
        probesPerS: median(mine.map((r) => r.probesPerS)),
        connectsPerS: median(mine.map((r) => r.connectsPerS)),
        successesPerS: finiteMedianOrNull(mine.map((r) => r.successesPerS)),
        rssMB: median(mine.map((r) => r.rssMB)),
        rssMaxMB: Math.max(...mine.map((r) => r.rssMB)),
        peakFds: maxOrNull(mine.map((r) => r.peakFds)),
        fdLimit: minOrNull(mine.map((r) => r.fdLimit)),
        startMs: median(mine.map((r) => r.startMs)),
        cpu0BusyPct: finiteMedianOrNull(mine.map((r) => r.cpu0BusyPct)),
        cpu1BusyPct: finiteMedianOrNull(mine.map((r) => r.cpu1BusyPct)),
        otherCpuPct: finiteMedianOrNull(mine.map((r) => r.otherCpuPct)),
        timeWait: finiteMedianOrNull(mine.map((r) => r.timeWait)),
        downAfter: withChecks ? mine.reduce((a, r) => a + (r.status?.down ?? 0), 0) : null,
        failingMax: withChecks ? Math.max(...mine.map((r) => r.status?.failing ?? 0)) : null,
      });
    }
  }
  return out;
}

/** With ÷ without per connection count where both were measured. */
export function compareChecks(summaries: ChecksSummary[], runs: ChecksRun[]): ChecksComparison[] {
  const out: ChecksComparison[] = [];
  for (const w of summaries.filter((s) => s.config === "with")) {
    const wo = summaries.find((s) => s.config === "without" && s.conns === w.conns);
    if (!wo || wo.cpuUsPerReq <= 0) continue;
    const ok = runs.filter((r) => r.conns === w.conns && r.failure === undefined);
    const paired: number[] = [];
    for (const round of new Set(ok.map((r) => r.round))) {
      const a = ok.find((r) => r.round === round && r.config === "without");
      const b = ok.find((r) => r.round === round && r.config === "with");
      if (a && b && a.cpuUsPerReq > 0) paired.push(b.cpuUsPerReq / a.cpuUsPerReq);
    }
    const extra = w.cpuUsPerReq - wo.cpuUsPerReq;
    out.push({
      conns: w.conns,
      cpuRatio: w.cpuUsPerReq / wo.cpuUsPerReq,
      pairedCpuRatio: median(paired),
      userRatio: wo.userUsPerReq > 0 ? w.userUsPerReq / wo.userUsPerReq : NaN,
      sysRatio: wo.sysUsPerReq > 0 ? w.sysUsPerReq / wo.sysUsPerReq : NaN,
      rpsRatio: wo.rps > 0 ? w.rps / wo.rps : NaN,
      extraUsPerReq: extra,
      usPerProbeIdle:
        w.idleProbesPerS > 0 ? (((w.idleCpuPct - wo.idleCpuPct) / 100) * 1e6) / w.idleProbesPerS : NaN,
      usPerProbeLoaded: w.probesPerS > 0 ? (extra * w.rps) / w.probesPerS : NaN,
    });
  }
  return out;
}

/** The targets: the CPU ratio per connection count, no server marked down by the checks, no failed request. */
export function checksGoals(
  comparisons: ChecksComparison[],
  summaries: ChecksSummary[],
  rounds: number,
): GoalResult[] {
  const out: GoalResult[] = [];
  for (const c of comparisons) {
    const runs = Math.min(...summaries.filter((s) => s.conns === c.conns).map((s) => s.runs));
    const enough = runs >= 4 ? "" : ` (only ${runs} runs each: the issue asks for at least 4)`;
    const close =
      Math.abs(c.cpuRatio - CPU_RATIO_TARGET) <= 0.02
        ? " (within 0.02 of the target: noise can flip it)"
        : "";
    out.push({
      goal: `CPU µs/request with checks ≤ ${CPU_RATIO_TARGET.toFixed(2)}× without, ${c.conns} connections`,
      actual: `${c.cpuRatio.toFixed(3)}× (paired by round: ${c.pairedCpuRatio.toFixed(3)}×)${close}${enough}`,
      met: runs >= Math.min(4, rounds) ? c.cpuRatio <= CPU_RATIO_TARGET : null,
    });
  }
  const withRuns = summaries.filter((s) => s.config === "with");
  if (withRuns.length > 0) {
    const down = withRuns.reduce((a, s) => a + (s.downAfter ?? 0), 0);
    out.push({
      goal: "no server marked down by the checks (status page after each run)",
      actual: `${down} down`,
      met: down === 0,
    });
  }
  const errors = summaries.reduce((a, s) => a + s.errors, 0);
  out.push({
    goal: "zero failed requests",
    actual: summaries.length === 0 ? "not measured" : `${errors} in all runs`,
    met: summaries.length === 0 ? null : errors === 0,
  });
  return out;
}
