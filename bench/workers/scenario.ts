/**
 * `npm run bench -- --scenario workers`: throughput and CPU per request of syncgate and nginx with
 * `worker_processes 1` and `2` (or `--workers A,B`), against the same backends, in interleaved rounds; medians,
 * syncgate ÷ nginx at each worker count and N workers ÷ 1 for each. Nothing is pinned apart: the proxies'
 * workers, wrk and the backends share the machine's cores, and the report says so. Measured the main bench's
 * way (bench/measure.ts): CPU time summed over each proxy's whole process tree. Started from bench/run.ts,
 * which pins the harness, owns the temp folder and stops every tracked process at the end.
 */
import {
  expectedProcs,
  folder,
  sharedCoresSetup,
  startBackendsReady,
  startContender,
  workerProcesses,
  type Contender,
  type Setup,
} from "../contenders.js";
import type { GoalResult } from "../goals.js";
import { measure, NO_RUN, progress } from "../measure.js";
import { processTree, waitTreeSize } from "../proc-stats.js";
import { stopAll } from "../procs.js";
import { checkBehaviour, freePorts, waitReady } from "../sanity.js";
import {
  interleavedRounds,
  OTHER_CPU_LIMIT,
  redoWhenNoisy,
  sayEnding,
  type ScenarioContext,
} from "../scenario.js";
import {
  ratioLines,
  saveWorkersReport,
  sharedCoresNote,
  summarizeWorkers,
  workersTable,
  type WorkersReport,
  type WorkersRun,
  type WorkersSummary,
} from "./report.js";

/** Redos at the most of a run during which other processes used over OTHER_CPU_LIMIT % of a core. */
const MAX_REDOS = 2;

/** One proxy at one worker count. */
interface Configured {
  c: Contender;
  workers: number;
  /** Processes in its tree once started (1 + workers when each worker is a process). */
  procs: number;
}

/** syncgate runs each worker count as a primary and that many workers (or one process for one worker). */
function goals(items: Configured[]): GoalResult[] {
  return items
    .filter((x) => x.c.name === "syncgate")
    .map((x) => {
      const expected = expectedProcs("syncgate", x.workers);
      return {
        goal: `syncgate \`worker_processes ${x.workers}\` runs as ${expected.join(" or ")} processes`,
        actual: `${x.procs} process(es)`,
        met: expected.includes(x.procs),
      };
    });
}

/** Observations from the medians, one sentence each. */
function observations(summaries: WorkersSummary[]): string[] {
  const notes: string[] = [];
  for (const s of summaries) {
    const who = `${s.proxy} ×${s.workers} at ${s.conns} connections`;
    const spread = s.rps > 0 ? (s.rpsMax - s.rpsMin) / s.rps : 0;
    if (spread > 0.25)
      notes.push(`${who}: req/s varied ${(spread * 100).toFixed(0)}% across rounds (noisy).`);
    if ((s.otherCpuPct ?? 0) > OTHER_CPU_LIMIT) {
      notes.push(
        `${who}: other processes used ${s.otherCpuPct?.toFixed(0)}% of a core during its runs (median).`,
      );
    }
    if ((s.cpu0BusyPct ?? 0) >= 95 && (s.cpu1BusyPct ?? 0) >= 95) {
      notes.push(`${who}: both cores were ≥ 95% busy: the machine, not the proxy alone, was the limit.`);
    }
    if (s.errors > 0) notes.push(`${who}: ${s.errors} errors.`);
  }
  return notes;
}

/** Starts `name` with `workers` worker processes in its own folder, and checks it like the main bench does. */
async function startConfigured(
  setup: Setup,
  name: "syncgate" | "nginx",
  workers: number,
  port: number,
  notes: string[],
): Promise<Configured> {
  // The templates put each proxy's files in TMP/<name>/: one TMP per worker count keeps them apart.
  const own: Setup = { ...setup, tmp: folder(setup, `w${workers}`) };
  const c = startContender(own, name, port, workerProcesses(workers));
  await waitReady(c.proc, c.port, "/healthz");
  for (const p of await checkBehaviour(c.port, setup.backends, c.accessLog)) {
    notes.push(`${name} ×${workers} sanity check: ${p}`);
  }
  const expected = expectedProcs(name, workers);
  const procs = await waitTreeSize(c.proc.pid, Math.max(...expected));
  if (!expected.includes(procs)) {
    notes.push(
      `${name}: \`worker_processes ${workers}\` ran as ${procs} process(es) (expected ${expected.join(" or ")}: ` +
        "a primary/master and its workers); its figures are those of that many processes.",
    );
  }
  return { c, workers, procs };
}

/** Runs the whole scenario; returns the exit code. */
export async function runWorkersScenario(ctx: ScenarioContext): Promise<number> {
  const { opts, say } = ctx;
  const counts = opts.workers?.workers ?? [1, 2];
  const ports = await freePorts(2 + 2 * counts.length);
  const setup: Setup = {
    ...sharedCoresSetup(ctx, ctx.info.nproc),
    backends: [ports[0] as number, ports[1] as number],
  };
  const notes: string[] = [];
  const shared = sharedCoresNote(ctx.info.nproc);
  const backends = await startBackendsReady(setup);
  const items: Configured[] = [];
  for (const [i, n] of counts.entries()) {
    for (const [j, name] of (["syncgate", "nginx"] as const).entries()) {
      const item = await startConfigured(setup, name, n, ports[2 + 2 * i + j] as number, notes);
      say(`bench: ${name} ready on :${item.c.port}, worker_processes ${n}, ${item.procs} processes`);
      items.push(item);
    }
  }
  say(`bench: ${shared}`);

  const runs: WorkersRun[] = [];
  const discarded: WorkersRun[] = [];
  await interleavedRounds(opts.rounds, opts.conns, items, async (item, round, conns) => {
    const { c, workers } = item;
    const who = `${c.name} ×${workers}`;
    // Everything else the benchmark started, for the other-CPU figure (idle proxies included).
    const ours = [backends.pid, ...items.filter((x) => x !== item).map((x) => x.c.proc.pid)];
    const attempts = await redoWhenNoisy({
      measure: async (): Promise<WorkersRun> => {
        const spec = {
          setup,
          opts,
          wrkScript: ctx.wrkScript,
          conns,
          round,
          cores: ["0", "1"] as [string, string],
        };
        try {
          const r = await measure(c, { ...spec, ourPids: ours.flatMap((p) => processTree(p)) });
          return { ...r, workers, procs: processTree(c.proc.pid).length };
        } catch (err) {
          const failure = (err as Error).message;
          return { round, conns, proxy: c.name, ...NO_RUN, failure, workers, procs: 0 };
        }
      },
      otherCpu: (r) => r.otherCpuPct ?? 0,
      maxRedos: MAX_REDOS,
      onRedo: (r) => say(`${progress(r, opts.rounds, who)}  -> redone: other processes were busy`),
    });
    discarded.push(...attempts.discarded);
    const record = attempts.kept;
    if (c.proc.exited !== null) record.failure = `${who} exited (${c.proc.exited}) during the run`;
    runs.push(record);
    say(`${progress(record, opts.rounds, who)}  ${record.procs} procs`);
  });
  await stopAll();

  const summaries = summarizeWorkers(runs, counts, opts.conns);
  const goalList = goals(items);
  notes.push(...observations(summaries));
  if (discarded.length > 0) {
    notes.push(
      `${discarded.length} runs were redone because other processes used over ${OTHER_CPU_LIMIT}% of a core.`,
    );
  }
  const report: WorkersReport = {
    scenario: "workers",
    info: ctx.info,
    options: opts,
    sharedCores: shared,
    summaries,
    goals: goalList,
    notes,
    runs,
    discarded,
  };
  sayEnding(say, {
    blocks: [[workersTable(summaries)], ratioLines(summaries), [shared]],
    targetsTitle: "checks",
    goals: goalList,
    notes,
    save: opts.save ? () => saveWorkersReport(ctx.root, report) : null,
  });
  return 0;
}
