/**
 * `npm run bench -- --scenario churn` (issue 4 items 8 and 9): syncgate following a Consul KV folder and nginx
 * rewriting its server file + reloading, side by side under wrk while the membership changes `rate` times a
 * second; then syncgate's propagation delay, idle and under load. Started from bench/run.ts, which pins the
 * harness, owns the temp folder and stops every tracked process at the end.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { startConsulDouble, type ConsulDouble } from "../../test/support/consul-double.js";
import { baseSetup } from "../contenders.js";
import type { GoalResult } from "../goals.js";
import { runLoad } from "../load.js";
import type { ChurnOptions } from "../options.js";
import { outputTail, stopAll } from "../procs.js";
import { freePorts, httpGet, waitReady } from "../sanity.js";
import {
  interleavedRounds,
  notPinnedNote,
  OTHER_CPU_LIMIT,
  redoWhenNoisy,
  sayEnding,
  type ScenarioContext,
} from "../scenario.js";
import { changeSequence, describeChange, type Membership } from "./changes.js";
import { measureChurn, type ChurnRun } from "./measure.js";
import { measurePropagation, type PropagationSeries } from "./propagation.js";
import { churnTable, propagationTable, saveChurnReport, type ChurnReport } from "./report.js";
import { startNginx, startPool, startSyncgate, type ChurnContender, type ChurnSetup } from "./setup.js";
import { summarizeChurn, summarizePropagation, type PropagationSummary } from "./summary.js";

/** What bench/run.ts hands over. */
export type ChurnContext = ScenarioContext;

/** The target for propagation (issue 4 item 9). */
const PROPAGATION_P99_MS = 100;
/** Redos at the most of a baseline + churn pair during which other processes used over OTHER_CPU_LIMIT % of a core. */
const MAX_REDOS = 2;
/** The most other processes used during a baseline + churn pair, % of a core. */
function othersBusy(pair: ChurnRun[]): number {
  return Math.max(0, ...pair.map((r) => r.otherCpuPct ?? 0));
}
/** A propagation sample not seen in this time counts as a timeout. */
const SAMPLE_TIMEOUT_MS = 5000;

function progress(r: ChurnRun, rounds: number): string {
  const other = r.otherCpuPct === null ? "" : `  (other CPU ${r.otherCpuPct.toFixed(0)}%)`;
  const head = `[round ${r.round}/${rounds} c${r.conns}] ${r.proxy.padEnd(8)} ${r.phase.padEnd(8)}`;
  if (r.phase === "baseline") {
    return `${head} ${Math.round(r.rps).toString().padStart(7)} req/s  p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}${other}`;
  }
  const extra =
    r.proxy === "nginx"
      ? `reloads ${r.reloads}/${r.signals} SIGHUPs, peak ${r.peakProcs} processes`
      : `applied ${r.applied} indexes`;
  const catchUp = r.catchUpMs === null ? "–" : `${r.catchUpMs.toFixed(0)} ms`;
  const failed = r.failure ? `  FAILED: ${r.failure.split("\n")[0] ?? ""}` : "";
  return (
    `${head} ${Math.round(r.rps).toString().padStart(7)} req/s  p99 ${r.p99Ms.toFixed(2)} ms  ` +
    `non-2xx ${r.badStatus}  socket errors ${r.socketErrors}  ${r.changes} changes (${r.changesPerS.toFixed(1)}/s, seed ${r.seed})  ` +
    `${extra}  catch-up ${catchUp}${other}${failed}`
  );
}

function propagationLine(p: PropagationSummary): string {
  return (
    `propagation (${p.label}): ${p.samples} samples, ${p.timeouts} timeouts, p50 ${p.p50Ms.toFixed(2)} ms, ` +
    `p95 ${p.p95Ms.toFixed(2)} ms, p99 ${p.p99Ms.toFixed(2)} ms, max ${p.maxMs.toFixed(2)} ms ` +
    `(poll RTT p50 ${p.rttP50Ms.toFixed(2)} ms)`
  );
}

function goals(runs: ChurnRun[], propagation: PropagationSummary[]): GoalResult[] {
  const out: GoalResult[] = [];
  for (const p of propagation) {
    const goal = `propagation p99 ≤ ${PROPAGATION_P99_MS} ms (${p.label})`;
    if (p.samples === 0) out.push({ goal, actual: "not measured", met: null });
    else {
      const timeouts = p.timeouts > 0 ? `, ${p.timeouts} samples timed out` : "";
      out.push({
        goal,
        actual: `${p.p99Ms.toFixed(2)} ms over ${p.samples} samples${timeouts}`,
        met: p.p99Ms <= PROPAGATION_P99_MS && p.timeouts === 0,
      });
    }
  }
  const mine = runs.filter((r) => r.proxy === "syncgate" && r.phase === "churn");
  const errors = mine.reduce((a, r) => a + r.socketErrors + r.badStatus, 0);
  out.push({
    goal: "no failed request under churn (syncgate)",
    actual: mine.length === 0 ? "not measured" : `${errors} errors in ${mine.length} runs`,
    met: mine.length === 0 ? null : errors === 0 && mine.every((r) => r.failure === undefined),
  });
  return out;
}

/** Observations from the runs, one sentence each. */
function observations(runs: ChurnRun[], rate: number, durationS: number): string[] {
  const notes: string[] = [];
  for (const r of runs) {
    const who = `${r.proxy}, round ${r.round}, ${r.conns} connections`;
    if (r.failure) notes.push(`${who}: ${r.failure.split("\n")[0] ?? ""}`);
    if ((r.otherCpuPct ?? 0) > OTHER_CPU_LIMIT) {
      notes.push(`${who}, ${r.phase}: other processes used ${r.otherCpuPct?.toFixed(0)}% of a core (noisy).`);
    }
    if (r.phase === "baseline") {
      if (r.errors > 0) notes.push(`${who}: ${r.errors} errors even without changes.`);
      continue;
    }
    if (r.changes < rate * durationS * 0.95) {
      notes.push(`${who}: only ${r.changes} of ${rate * durationS} changes were made before wrk ended.`);
    }
    if (r.maxLateMs > 1000 / rate) {
      notes.push(
        `${who}: a change was made ${r.maxLateMs.toFixed(0)} ms after its slot (the harness shares CPU 1).`,
      );
    }
    if ((r.reloadErrors ?? 0) > 0)
      notes.push(`${who}: ${r.reloadErrors} [emerg]/[alert] lines in nginx's log.`);
  }
  for (const proxy of ["syncgate", "nginx"] as const) {
    const mine = runs.filter((r) => r.proxy === proxy);
    const loadBound = mine.filter((r) => (r.cpu1BusyPct ?? 0) >= 95);
    if (loadBound.length > 0) {
      notes.push(
        `${proxy}: CPU 1 (wrk + backends + harness) was ≥ 95% busy in ${loadBound.length} of its ` +
          `${mine.length} runs: the load side may cap its req/s.`,
      );
    }
    const rss = Math.max(0, ...mine.map((r) => r.peakRssMB));
    if (proxy === "syncgate" && rss > 100) {
      notes.push(`syncgate: peak RSS ${rss.toFixed(1)} MB (the main bench's target is ≤ 100 MB).`);
    }
  }
  // nginx's reloads, over all churn runs: how many changes became a reload, and how many workers overlapped.
  const nginx = runs.filter((r) => r.proxy === "nginx" && r.phase === "churn");
  if (nginx.length > 0) {
    const changes = nginx.reduce((a, r) => a + r.changes, 0);
    const signals = nginx.reduce((a, r) => a + (r.signals ?? 0), 0);
    const reloads = nginx.reduce((a, r) => a + (r.reloads ?? 0), 0);
    const catchUp = nginx.map((r) => r.catchUpMs).filter((x): x is number => x !== null);
    const peak = Math.max(...nginx.map((r) => r.peakProcs));
    const merged =
      reloads < changes ? "SIGHUPs that arrived during a reload merged into the next one" : "none merged";
    notes.push(
      `nginx: ${changes} changes over ${nginx.length} runs → ${signals} SIGHUPs seen by its master → ` +
        `${reloads} reloads (${((100 * reloads) / Math.max(1, changes)).toFixed(0)}%): ${merged}; ` +
        `up to ${peak - 1} workers alive at once (the current one and ${peak - 2} old ones draining); after the ` +
        `last change its reload was done and the old workers gone in ${catchUp.map((x) => x.toFixed(0)).join(", ")} ms.`,
    );
  }
  return notes;
}

async function sanity(c: ChurnContender): Promise<void> {
  await waitReady(c.proc, c.port, "/healthz");
  const r = await httpGet(c.port, "/");
  if (r.status !== 200 || r.body !== "hello world\n") {
    throw new Error(`${c.name}: GET / answered ${r.status} ${JSON.stringify(r.body.slice(0, 80))}`);
  }
}

async function propagationUnderLoad(
  ctx: ChurnContext,
  consul: ConsulDouble,
  syncgate: ChurnContender,
  extra: string[],
): Promise<PropagationSeries> {
  const { opts } = ctx;
  const url = `http://127.0.0.1:${syncgate.port}/`;
  const loadCpu = ctx.pinned ? "1" : null;
  const started = performance.now();
  const loaded = runLoad(ctx.tools, ctx.wrkScript, {
    url,
    conns: opts.conns[0] ?? 64,
    seconds: opts.durationS,
    cpu: loadCpu,
  });
  const guard = loaded.catch(() => undefined); // Awaited below; never an unhandled rejection meanwhile.
  try {
    await sleep(1000);
    return await measurePropagation({
      consul,
      port: syncgate.port,
      extra,
      samples: Number.MAX_SAFE_INTEGER,
      until: started + (opts.durationS - 0.5) * 1000,
      timeoutMs: SAMPLE_TIMEOUT_MS,
    });
  } finally {
    await guard;
  }
}

/** Runs the whole scenario; returns the exit code. */
export async function runChurnScenario(ctx: ChurnContext): Promise<number> {
  const { opts, say } = ctx;
  const churn = opts.churn as ChurnOptions;
  const setup: ChurnSetup = baseSetup(ctx);
  const ports = await freePorts(churn.backends + 2);
  const poolPorts = ports.slice(0, churn.backends);
  const pool = poolPorts.map((p) => `127.0.0.1:${p}`);
  const half = Math.max(2, Math.floor(pool.length / 2));
  const start: Membership = new Map(pool.slice(0, half).map((a) => [a, { weight: 1, down: false }]));
  const notes: string[] = [];
  if (!ctx.pinned) notes.push(notPinnedNote("the proxy"));

  const backends = startPool(setup, poolPorts);
  for (const p of poolPorts) await waitReady(backends, p, "/");
  const consul = await startConsulDouble();
  try {
    const syncgate = startSyncgate(setup, consul, ports[churn.backends] as number, start);
    const nginx = startNginx(setup, ports[churn.backends + 1] as number, start);
    for (const c of [syncgate, nginx]) {
      await sanity(c);
      await c.reset(start);
      say(`bench: ${c.name} ready on :${c.port}, serving ${start.size} of the ${pool.length} backends`);
    }

    const runs: ChurnRun[] = [];
    const discarded: ChurnRun[] = [];
    const count = churn.rate * opts.durationS;
    let sampleChanges: string[] = [];
    let seed = churn.seed;
    let states: Membership[] = [];
    const newRound = (round: number): void => {
      seed = churn.seed + round - 1;
      const sequence = changeSequence(start, pool, count, seed);
      states = sequence.states;
      if (round === 1) sampleChanges = sequence.changes.slice(0, 12).map(describeChange);
    };
    await interleavedRounds(
      opts.rounds,
      opts.conns,
      [syncgate, nginx],
      async (c, round, conns) => {
        await c.reset(start);
        const spec = {
          tools: ctx.tools,
          wrkScript: ctx.wrkScript,
          loadCpu: setup.loadCpu,
          proxyCpu: setup.proxyCpu,
          conns,
          durationS: opts.durationS,
          warmupS: opts.warmupS,
          rate: churn.rate,
          round,
          seed,
          start,
          states: [] as Membership[],
          ourRoots: [] as number[],
        };
        // The same load without changes first (it is the warm-up of the churn run), then with them. This
        // machine is shared: a pair during which other processes took a good part of a core is redone.
        const others = [backends.pid, (c === syncgate ? nginx : syncgate).proc.pid];
        const attempts = await redoWhenNoisy({
          measure: async (): Promise<ChurnRun[]> => {
            const pair: ChurnRun[] = [];
            for (const run of [spec, { ...spec, warmupS: 0, states }]) {
              const record = await measureChurn(c, { ...run, ourRoots: others }).catch((err: unknown) => {
                throw new Error(`${c.name} run failed: ${(err as Error).message}\n${outputTail(c.proc, 20)}`);
              });
              if (c.proc.exited !== null) {
                throw new Error(
                  `${c.name} exited (${c.proc.exited}) during the run:\n${outputTail(c.proc, 40)}`,
                );
              }
              pair.push(record);
              say(progress(record, opts.rounds));
            }
            return pair;
          },
          otherCpu: othersBusy,
          maxRedos: MAX_REDOS,
          onRedo: async () => {
            say(`  -> redone: other processes used over ${OTHER_CPU_LIMIT}% of a core`);
            await c.reset(start);
          },
        });
        // The quietest attempt counts; the others are kept as discarded.
        runs.push(...attempts.kept);
        discarded.push(...attempts.discarded.flat());
      },
      newRound,
    );

    const extra = pool.slice(half);
    await syncgate.reset(start);
    say(`bench: propagation, idle: ${churn.samples} samples`);
    const idle = await measurePropagation({
      consul,
      port: syncgate.port,
      extra,
      samples: churn.samples,
      until: Infinity,
      timeoutMs: SAMPLE_TIMEOUT_MS,
    });
    await syncgate.reset(start);
    say(`bench: propagation under load: wrk -c${opts.conns[0] ?? 64} for ${opts.durationS} s`);
    const loaded = await propagationUnderLoad(ctx, consul, syncgate, extra);
    const series = { idle, "under load": loaded };
    const propagation = Object.entries(series).map(([label, s]) => summarizePropagation(label, s));
    await stopAll();

    const summaries = summarizeChurn(runs);
    const goalList = goals(runs, propagation);
    notes.push(...observations(runs, churn.rate, opts.durationS));
    if (discarded.length > 0) {
      notes.push(
        `${discarded.length / 2} run pair(s) redone because other processes used over ${OTHER_CPU_LIMIT}% of a ` +
          "core (at most twice per pair; the quietest attempt counts, see `discarded` in the JSON).",
      );
    }
    const report: ChurnReport = {
      scenario: "churn",
      info: ctx.info,
      options: opts,
      pool,
      start: [...start.keys()],
      sampleChanges,
      summaries,
      propagation,
      goals: goalList,
      notes,
      runs,
      discarded,
      samples: Object.fromEntries(Object.entries(series).map(([label, s]) => [label, s.samples])),
    };
    sayEnding(say, {
      blocks: [[churnTable(summaries)], [propagationTable(propagation), ...propagation.map(propagationLine)]],
      targetsTitle: "targets",
      goals: goalList,
      notes,
      save: opts.save ? () => saveChurnReport(ctx.root, report) : null,
    });
    return 0;
  } finally {
    await consul.stop();
  }
}
