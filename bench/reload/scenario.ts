/**
 * `npm run bench -- --scenario reload`: what reloading a changed configuration under load costs nginx and
 * syncgate with the same number of worker processes. Each round, each contender gets a baseline run (wrk, no
 * reload) and a reload run (wrk while the harness reloads it every `--reload-every` ms, checking that each
 * reload took effect); the report gives reloads done, requests, failed requests, failed per reload and req/s.
 * Started from bench/run.ts, which pins the harness, owns the temp folder and stops every tracked process at
 * the end (also on errors and Ctrl-C).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { expectedProcs, sharedCoresSetup, startBackendsReady, type Setup } from "../contenders.js";
import type { ReloadOptions } from "../options.js";
import { waitTreeSize } from "../proc-stats.js";
import { outputTail, stopAll } from "../procs.js";
import { pidFromFile } from "../reloads.js";
import { freePorts, httpGet, waitReady } from "../sanity.js";
import {
  interleavedRounds,
  OTHER_CPU_LIMIT,
  redoWhenNoisy,
  sayEnding,
  type ScenarioContext,
} from "../scenario.js";
import { CONFIRM_PER_WORKER, EFFECT_TIMEOUT_MS, measureReload, type ReloadRun } from "./measure.js";
import { reloadTable, saveReloadReport, type ReloadReport } from "./report.js";
import { startReloadContender, waitGeneration, type ReloadContender } from "./setup.js";
import { reloadGoals, reloadNotes, summarizeReload } from "./summary.js";

/** Redos at the most of a baseline + reload pair during which other processes used over OTHER_CPU_LIMIT % of a core. */
const MAX_REDOS = 2;

function progress(r: ReloadRun, rounds: number): string {
  const head = `[round ${r.round}/${rounds} c${r.conns}] ${r.proxy.padEnd(8)} ${r.phase.padEnd(8)}`;
  const other = r.otherCpuPct === null ? "" : `  (other CPU ${r.otherCpuPct.toFixed(0)}%)`;
  const kinds = r.socketErrorKinds;
  const byKind =
    kinds === null ? "" : ` (read ${kinds.read}, connect ${kinds.connect}, write ${kinds.write})`;
  const base =
    `${head} ${Math.round(r.rps).toString().padStart(7)} req/s  p99 ${r.p99Ms.toFixed(2)} ms  ` +
    `failed ${r.errors}${r.errors > 0 ? byKind : ""}`;
  if (r.phase === "baseline") return `${base}${other}`;
  const effects = r.events.flatMap((e) => (e.effectMs === null ? [] : [e.effectMs]));
  const effect = effects.length === 0 ? "" : ` (effect ≤ ${Math.max(...effects).toFixed(0)} ms)`;
  const starts = r.workerStarts === null ? "" : `, new workers ${r.workerStarts}`;
  const failed = r.failure ? `  PROBLEM: ${r.failure.split("\n")[0] ?? ""}` : "";
  return (
    `${base}  reloads ${r.reloads}, took effect ${r.effective}${effect}  ` +
    `SIGHUPs logged ${r.signalsLogged}${starts}, peak ${r.peakProcs} procs${other}${failed}`
  );
}

/** Waits until `c` answers, proxies GET / and serves generation 0; notes what does not look as expected. */
async function ready(c: ReloadContender, notes: string[]): Promise<void> {
  await waitReady(c.proc, c.port, "/healthz");
  const r = await httpGet(c.port, "/");
  if (r.status !== 200 || r.body !== "hello world\n") {
    throw new Error(`${c.name}: GET / answered ${r.status} ${JSON.stringify(r.body.slice(0, 80))}`);
  }
  const served = await waitGeneration(c.port, 0, CONFIRM_PER_WORKER * c.workers, EFFECT_TIMEOUT_MS);
  if (served.ms === null) throw new Error(`${c.name}: GET /generation never answered 0`);
  const expected = expectedProcs(c.name, c.workers);
  c.idleProcs = await waitTreeSize(c.proc.pid, Math.max(...expected));
  if (!expected.includes(c.idleProcs)) {
    notes.push(
      `${c.name}: \`worker_processes ${c.workers}\` runs as ${c.idleProcs} process(es) (expected ` +
        `${expected.join(" or ")}: a primary/master and its workers).`,
    );
  }
  // A primary may write its pid file once all its workers listen, a moment after the first one answers.
  let pid = pidFromFile(c.pidFile);
  for (let waited = 0; pid !== c.proc.pid && waited < 3000; waited += 50) {
    await sleep(50);
    pid = pidFromFile(c.pidFile);
  }
  if (pid !== c.proc.pid) {
    notes.push(`${c.name}: its pid file ${c.pidFile} names ${pid ?? "nothing"}, not ${c.proc.pid}.`);
  }
}

/** Runs the whole scenario; returns the exit code. */
export async function runReloadScenario(ctx: ScenarioContext): Promise<number> {
  const { opts, say } = ctx;
  const rl = opts.reload as ReloadOptions;
  const ports = await freePorts(4);
  const setup: Setup = {
    ...sharedCoresSetup(ctx, ctx.info.nproc),
    backends: [ports[0] as number, ports[1] as number],
  };
  const notes: string[] = [];
  const backends = await startBackendsReady(setup);
  const contenders = (["syncgate", "nginx"] as const).map((name, i) =>
    startReloadContender(setup, name, ports[2 + i] as number, rl.workers, rl.by),
  );
  for (const c of contenders) {
    await ready(c, notes);
    say(`bench: ${c.name} ready on :${c.port}, worker_processes ${c.workers}, ${c.idleProcs} processes`);
  }

  const runs: ReloadRun[] = [];
  const discarded: ReloadRun[] = [];
  const dead = new Set<string>();
  await interleavedRounds(opts.rounds, opts.conns, contenders, async (c, round, conns) => {
    if (dead.has(c.name)) return;
    const others = [backends.pid, ...contenders.filter((x) => x !== c).map((x) => x.proc.pid)];
    const spec = {
      tools: ctx.tools,
      wrkScript: ctx.wrkScript,
      loadCpu: setup.loadCpu,
      conns,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      everyMs: 0,
      round,
      ourRoots: others,
    };
    // The same load without reloads first (it is the warm-up of the reload run), then with them.
    const attempts = await redoWhenNoisy({
      measure: async (): Promise<ReloadRun[]> => {
        const pair: ReloadRun[] = [];
        for (const run of [spec, { ...spec, warmupS: 0, everyMs: rl.everyMs }]) {
          const record = await measureReload(c, run);
          pair.push(record);
          say(progress(record, opts.rounds));
          if (c.proc.exited !== null) break;
        }
        return pair;
      },
      otherCpu: (pair) => Math.max(0, ...pair.map((r) => r.otherCpuPct ?? 0)),
      redoable: () => c.proc.exited === null,
      maxRedos: MAX_REDOS,
      onRedo: () => say(`  -> redone: other processes used over ${OTHER_CPU_LIMIT}% of a core`),
    });
    runs.push(...attempts.kept);
    discarded.push(...attempts.discarded.flat());
    if (c.proc.exited !== null) {
      dead.add(c.name);
      const printed = outputTail(c.proc, 40);
      say(`bench: ${c.name} exited (${c.proc.exited}). It printed:\n${printed}`);
      notes.push(`${c.name} exited (${c.proc.exited}) in round ${round}: ${printed.replaceAll("\n", " ⏎ ")}`);
    }
  });
  await stopAll();

  const summaries = summarizeReload(runs);
  const goals = reloadGoals(summaries);
  notes.push(...reloadNotes(runs, rl.everyMs, opts.durationS));
  if (discarded.length > 0) {
    notes.push(
      `${Math.ceil(discarded.length / 2)} run pair(s) redone because other processes used over ` +
        `${OTHER_CPU_LIMIT}% of a core (the quietest attempt counts; see \`discarded\` in the JSON).`,
    );
  }
  const report: ReloadReport = {
    scenario: "reload",
    info: ctx.info,
    options: opts,
    idleProcs: Object.fromEntries(contenders.map((c) => [c.name, c.idleProcs])),
    summaries,
    goals,
    notes,
    runs,
    discarded,
  };
  sayEnding(say, {
    blocks: [[reloadTable(summaries)]],
    targetsTitle: "checks",
    goals,
    notes,
    save: opts.save ? () => saveReloadReport(ctx.root, report) : null,
  });
  return 0;
}
