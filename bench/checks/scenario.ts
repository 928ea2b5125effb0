/**
 * `npm run bench -- --scenario checks` (issue 5 item 6): what active health checks of many servers cost syncgate
 * per request. syncgate alone, started afresh for each run, alternately without and with `check` lines on an
 * extra upstream of `--servers` real listeners (and on the traffic's upstream), under the main bench's load;
 * medians of the interleaved runs and the with ÷ without ratio of CPU µs per request (target ≤ 1.10). Started
 * from bench/run.ts, which pins the harness, owns the temp folder and stops every tracked process at the end.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { baseSetup, startBackendsReady } from "../contenders.js";
import type { ChecksOptions } from "../options.js";
import { processTree } from "../proc-stats.js";
import { stopAll } from "../procs.js";
import { freePorts, waitReady } from "../sanity.js";
import {
  interleavedRounds,
  notPinnedNote,
  NO_LOAD,
  OTHER_CPU_LIMIT,
  redoWhenNoisy,
  sayEnding,
  type ScenarioContext,
} from "../scenario.js";
import { minOrNull } from "../stats.js";
import { measureChecks, type ChecksRun } from "./measure.js";
import { checksTable, comparisonTable, saveChecksReport, type ChecksReport } from "./report.js";
import {
  checkLines,
  NOFILE,
  startTargets,
  stubCounts,
  type ChecksConfig,
  type ChecksSetup,
} from "./setup.js";
import {
  checksGoals,
  compareChecks,
  summarizeChecks,
  type ChecksComparison,
  type ChecksSummary,
} from "./summary.js";

/** What bench/run.ts hands over. */
export type ChecksContext = ScenarioContext;

/** Seconds of no load before each run's warm-up: syncgate's idle CPU, i.e. the probes' own cost. */
const IDLE_S = 3;
/** Redos at the most of a run during which other processes used over OTHER_CPU_LIMIT % of a core. */
const MAX_REDOS = 3;
/** Seconds to wait before a redo, so that whatever else ran may finish. */
const REDO_PAUSE_S = 5;

const ZERO = {
  ...NO_LOAD,
  startMs: 0,
  fdLimit: null,
  idleCpuPct: 0,
  idleProbesPerS: 0,
  rssMB: 0,
  peakFds: null,
  cpuUsPerReq: NaN,
  userUsPerReq: NaN,
  sysUsPerReq: NaN,
  cpu0BusyPct: null,
  cpu1BusyPct: null,
  otherCpuPct: null,
  tcpConnects: 0,
  timeWait: null,
  probesPerS: 0,
  connectsPerS: 0,
  successesPerS: null,
  status: null,
  problems: [],
};

/** The checker's schedule: the next probe `interval` + a jitter of [0, min(interval / 2, 1000)) after the last. */
function expectedProbesPerS(c: ChecksOptions): number {
  const meanGapMs = c.intervalMs + Math.min(c.intervalMs / 2, 1000) / 2;
  return ((c.servers + 2) * 1000) / meanGapMs;
}

function progress(r: ChecksRun, rounds: number): string {
  const head = `[round ${r.round}/${rounds} c${r.conns}] ${(r.config === "with" ? "with checks" : "without").padEnd(11)}`;
  if (r.failure) return `${head} FAILED: ${r.failure.split("\n")[0] ?? ""}`;
  const busy = (p: number | null): string => (p === null ? "–" : `${p.toFixed(0)}%`);
  const status = r.status === null ? "" : `  ${r.status.up} up / ${r.status.down} down`;
  return (
    `${head} ${Math.round(r.rps).toString().padStart(7)} req/s  CPU ${r.cpuUsPerReq.toFixed(2)} µs/req  ` +
    `p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}  probes ${Math.round(r.probesPerS)}/s` +
    ` (connections ${Math.round(r.connectsPerS)}/s)` +
    `  idle CPU ${r.idleCpuPct.toFixed(1)}%  RSS ${r.rssMB.toFixed(1)} MB  fds ${r.peakFds ?? "–"}${status}` +
    `  (cpu0 ${busy(r.cpu0BusyPct)}, cpu1 ${busy(r.cpu1BusyPct)}, other ${busy(r.otherCpuPct)}, start ${Math.round(r.startMs)} ms)`
  );
}

function summaryLine(c: ChecksComparison, s: ChecksSummary[]): string {
  const w = s.find((x) => x.config === "with" && x.conns === c.conns);
  const wo = s.find((x) => x.config === "without" && x.conns === c.conns);
  return (
    `c${c.conns}: CPU ${wo?.cpuUsPerReq.toFixed(2)} → ${w?.cpuUsPerReq.toFixed(2)} µs/req = ` +
    `${c.cpuRatio.toFixed(3)}× (paired ${c.pairedCpuRatio.toFixed(3)}×), req/s ${Math.round(wo?.rps ?? NaN)} → ` +
    `${Math.round(w?.rps ?? NaN)}, ${Math.round(w?.probesPerS ?? NaN)} probes/s, ` +
    `≈ ${c.usPerProbeLoaded.toFixed(1)} µs per probe under load (${c.usPerProbeIdle.toFixed(1)} idle)`
  );
}

function observations(
  ctx: ChecksContext,
  summaries: ChecksSummary[],
  runs: ChecksRun[],
  expected: number,
): string[] {
  const notes: string[] = [];
  const c = ctx.opts.checks as ChecksOptions;
  for (const s of summaries) {
    const who = `${s.config === "with" ? "with checks" : "without"} at ${s.conns} connections`;
    if (s.cpu0BusyPct !== null && s.cpu0BusyPct < 85)
      notes.push(`${who}: CPU 0 (syncgate) was only ${s.cpu0BusyPct.toFixed(0)}% busy — not saturated.`);
    if (s.cpu1BusyPct !== null && s.cpu1BusyPct >= 95)
      notes.push(
        `${who}: CPU 1 (wrk, backends, targets, harness) was ${s.cpu1BusyPct.toFixed(0)}% busy: the load side may cap req/s.`,
      );
    const spread = s.cpuUsPerReq > 0 ? (s.cpuMax - s.cpuMin) / s.cpuUsPerReq : 0;
    if (spread > 0.1) notes.push(`${who}: CPU µs/req varied ${(spread * 100).toFixed(0)}% across rounds.`);
    if (s.config === "with" && s.probesPerS < 0.8 * expected) {
      notes.push(
        `${who}: ${Math.round(s.probesPerS)} probes/s, well under the ≈ ${Math.round(expected)}/s the schedule gives.`,
      );
    }
    if (s.config === "without" && s.probesPerS > 1)
      notes.push(`${who}: the targets saw ${s.probesPerS.toFixed(1)} probes/s.`);
    if ((s.failingMax ?? 0) > 0)
      notes.push(`${who}: up to ${s.failingMax} servers had a failed last probe after a run.`);
    if (s.fdLimit !== null && s.fdLimit < c.servers + 1024) {
      notes.push(
        `${who}: syncgate's open-file limit was only ${s.fdLimit} (for ${c.servers} checked servers).`,
      );
    }
  }
  for (const r of runs) {
    for (const p of r.problems) notes.push(`${r.config} checks, round ${r.round}: sanity check: ${p}`);
    if (r.failure)
      notes.push(
        `${r.config} checks, round ${r.round}, ${r.conns} connections: ${r.failure.split("\n")[0] ?? ""}`,
      );
  }
  return notes;
}

/** Runs the whole scenario; returns the exit code. */
export async function runChecksScenario(ctx: ChecksContext): Promise<number> {
  const { opts, say } = ctx;
  const check = opts.checks as ChecksOptions;
  // The backends (2), the targets' control port, syncgate, then one port per checked server.
  const ports = await freePorts(4 + check.servers);
  const setup: ChecksSetup = {
    ...baseSetup(ctx),
    backends: [ports[0] as number, ports[1] as number],
    control: ports[2] as number,
    targets: ports.slice(4),
    check,
  };
  const port = ports[3] as number;
  const notes: string[] = [];
  if (!ctx.pinned) notes.push(notPinnedNote("syncgate"));

  const backends = await startBackendsReady({ ...setup });
  const targets = startTargets(setup);
  await waitReady(targets, setup.control, "/stub_status");
  await waitReady(targets, setup.targets[setup.targets.length - 1] as number, "/");
  say(
    `bench: ${check.servers} probe targets listening (one nginx worker on CPU 1), stub_status at :${setup.control}`,
  );
  const ourPids = [...processTree(backends.pid), ...processTree(targets.pid)];
  await stubCounts(setup.control);

  const runs: ChecksRun[] = [];
  const discarded: ChecksRun[] = [];
  const sane = new Set<ChecksConfig>();
  const configs: ChecksConfig[] = ["without", "with"];
  await interleavedRounds(opts.rounds, opts.conns, configs, async (config, round, conns) => {
    const attempts = await redoWhenNoisy({
      measure: async (): Promise<ChecksRun> => {
        const spec = {
          setup,
          config,
          port,
          round,
          conns,
          durationS: opts.durationS,
          warmupS: opts.warmupS,
          idleS: IDLE_S,
          wrkScript: ctx.wrkScript,
          sanity: !sane.has(config),
          ourPids,
        };
        sane.add(config);
        const record = await measureChecks(spec).catch((err: unknown): ChecksRun => ({
          round,
          conns,
          config,
          ...ZERO,
          failure: (err as Error).message,
        }));
        say(progress(record, opts.rounds));
        return record;
      },
      otherCpu: (r) => r.otherCpuPct ?? 0,
      maxRedos: MAX_REDOS,
      redoable: (r) => r.failure === undefined,
      onRedo: async () => {
        say(`  -> redone in ${REDO_PAUSE_S} s: other processes used over ${OTHER_CPU_LIMIT}% of a core`);
        await sleep(REDO_PAUSE_S * 1000);
      },
    });
    runs.push(attempts.kept);
    discarded.push(...attempts.discarded);
  });
  await stopAll();

  const expected = expectedProbesPerS(check);
  const summaries = summarizeChecks(runs, opts.conns);
  const comparisons = compareChecks(summaries, runs);
  const goals = checksGoals(comparisons, summaries, opts.rounds);
  notes.push(...observations(ctx, summaries, runs, expected));
  const noisy = runs.filter((r) => (r.otherCpuPct ?? 0) > OTHER_CPU_LIMIT);
  if (noisy.length > 0) {
    const which = noisy.map((r) => `${r.config} round ${r.round} (${r.otherCpuPct?.toFixed(0)}%)`).join(", ");
    notes.push(`Kept although other processes were still busy after ${MAX_REDOS} redos (noisy): ${which}.`);
  }
  if (discarded.length > 0) {
    notes.push(
      `${discarded.length} run(s) redone because other processes used over ${OTHER_CPU_LIMIT}% of a core ` +
        "(the quietest attempt counts; see `discarded` in the JSON).",
    );
  }
  const got = minOrNull(runs.map((r) => r.fdLimit));
  const peakFds = Math.max(0, ...runs.map((r) => r.peakFds ?? 0));
  if (got !== null && got < NOFILE) {
    notes.push(
      `\`ulimit -n ${NOFILE}\` was refused (raising the hard limit needs CAP_SYS_RESOURCE): syncgate ran with ` +
        `its hard limit, ${got} open files; it had at most ${peakFds} open at once.`,
    );
  }
  const report: ChecksReport = {
    scenario: "checks",
    info: ctx.info,
    options: opts,
    checkLines: checkLines(check),
    nofile: { wanted: NOFILE, got },
    expectedProbesPerS: expected,
    summaries,
    comparisons,
    goals,
    notes,
    runs,
    discarded,
  };
  sayEnding(say, {
    blocks: [
      [checksTable(summaries)],
      [comparisonTable(comparisons)],
      comparisons.map((c) => summaryLine(c, summaries)),
    ],
    targetsTitle: "targets",
    goals,
    notes,
    save: opts.save ? () => saveChecksReport(ctx.root, report) : null,
  });
  return 0;
}
