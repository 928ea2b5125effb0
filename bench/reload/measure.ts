/**
 * One measured run of `--scenario reload`: wrk on `GET /` (keep-alive connections; a request lost to a closed
 * connection is counted, never retried) while the harness reloads the proxy every `everyMs` with a changed
 * config and checks that each reload took effect; or the same load with no reload (the baseline). Meanwhile the
 * proxy's process tree is sampled (nginx starts new workers per reload while the old ones drain).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { DetailedLoad } from "../load.js";
import { runUnderLoad } from "../loaded-run.js";
import { countSince, NGINX_SIGHUP, NGINX_STARTS } from "../reloads.js";
import type { Tools } from "../system.js";
import { waitGeneration, waitSettled, type ReloadContender } from "./setup.js";

/** A reload not seen on fresh connections within this time did not take effect. */
export const EFFECT_TIMEOUT_MS = 5000;
/**
 * Answers in a row, per worker, that must show a generation before it counts as served: the workers accept
 * fresh connections in no fixed order, so this makes it unlikely that one of them still serves the old one.
 */
export const CONFIRM_PER_WORKER = 3;
/** After a run, the most the old workers may take to go. */
const SETTLE_TIMEOUT_MS = 30_000;

/** One reload the harness asked for. */
export interface ReloadEvent {
  /** The generation it wrote. */
  gen: number;
  /** When it was asked for, ms after the load started. */
  atMs: number;
  /** From the ask to the first of the confirming polls that showed it, ms; null: it did not take effect. */
  effectMs: number | null;
  /** What failed when asking (no pid file, the command failed...). */
  error?: string;
}

/** One run of one contender. */
export interface ReloadRun extends DetailedLoad {
  round: number;
  conns: number;
  proxy: "syncgate" | "nginx";
  workers: number;
  /** "baseline": the same load, no reload (right before the reload run); "reload": with reloads. */
  phase: "baseline" | "reload";
  /** Failed requests: socket errors (a connection closed or reset under a request, ...) + non-2xx answers. */
  errors: number;
  /** Reloads asked for, and how many took effect. */
  reloads: number;
  effective: number;
  events: ReloadEvent[];
  /** Fresh-connection polls of /generation that failed (refused, reset, a status other than 200). */
  failedPolls: number;
  /** Reload signals the proxy logged (nginx: "signal 1 (SIGHUP) received"; syncgate: lines naming SIGHUP). */
  signalsLogged: number;
  /** nginx: "start worker processes" lines, one per reload that started new workers; null for syncgate. */
  workerStarts: number | null;
  /** Peak processes in the proxy's tree (old workers draining), and their summed RSS, MB; sampled every 50 ms. */
  peakProcs: number;
  peakRssMB: number;
  /** After the run, until the tree was back to its idle size, ms (null: not within 30 s). */
  settleMs: number | null;
  cpu0BusyPct: number | null;
  cpu1BusyPct: number | null;
  /** CPU used outside the benchmark during the run, % of one core. */
  otherCpuPct: number | null;
  /** TCP connections opened on the machine during the run (wrk reconnecting included). */
  tcpConnects: number;
  failure?: string;
}

/** What a run needs from the scenario. */
export interface ReloadRunSpec {
  tools: Tools;
  wrkScript: string;
  /** CPUs for wrk and the harness's reload command (null: not pinned). */
  loadCpu: string | null;
  conns: number;
  durationS: number;
  warmupS: number;
  /** 0: a baseline run. */
  everyMs: number;
  round: number;
  /** Pids of everything else the benchmark started, for the other-CPU figure. */
  ourRoots: number[];
}

/**
 * Reloads every `everyMs` while the load runs, none in its last `everyMs` (so each has load after it); each
 * waits for the one before to take effect (or time out) first.
 */
async function reloadLoop(
  c: ReloadContender,
  everyMs: number,
  durationMs: number,
  done: () => boolean,
): Promise<{ events: ReloadEvent[]; failedPolls: number }> {
  const events: ReloadEvent[] = [];
  let failedPolls = 0;
  const t0 = performance.now();
  for (let slot = 1; slot * everyMs <= durationMs - everyMs;) {
    const wait = t0 + slot * everyMs - performance.now();
    if (wait > 0) await sleep(wait);
    if (done()) break;
    const gen = c.generation + 1;
    const asked = performance.now();
    const error = await c.reload(gen);
    if (error !== null) {
      events.push({ gen, atMs: asked - t0, effectMs: null, error });
    } else {
      const asking = performance.now() - asked; // The command's run time, with --reload-by command.
      const served = await waitGeneration(c.port, gen, CONFIRM_PER_WORKER * c.workers, EFFECT_TIMEOUT_MS);
      failedPolls += served.failedPolls;
      events.push({ gen, atMs: asked - t0, effectMs: served.ms === null ? null : asking + served.ms });
    }
    slot = Math.max(slot + 1, Math.ceil((performance.now() - t0) / everyMs));
  }
  return { events, failedPolls };
}

/** Warm-up, then the measured run (with reloads unless `spec.everyMs` is 0), then waits for the tree to settle. */
export async function measureReload(c: ReloadContender, spec: ReloadRunSpec): Promise<ReloadRun> {
  const url = `http://127.0.0.1:${c.port}/`;
  const {
    load: result,
    action: reloads,
    around,
  } = await runUnderLoad(c.proc.pid, c.errorLog, { ...spec, url, cores: ["0", "1"] }, (finished) =>
    spec.everyMs > 0
      ? reloadLoop(c, spec.everyMs, spec.durationS * 1000, finished)
      : Promise.resolve({ events: [], failedPolls: 0 }),
  );
  const { logOffset, ...seen } = around;
  const settleMs = await waitSettled(c, SETTLE_TIMEOUT_MS);
  const nginx = c.name === "nginx";
  const failures = [
    ...(settleMs === null
      ? [`${c.name} still had old workers ${SETTLE_TIMEOUT_MS / 1000} s after the run`]
      : []),
    ...reloads.events.flatMap((e) => (e.error === undefined ? [] : [`reload ${e.gen}: ${e.error}`])),
  ];
  return {
    round: spec.round,
    conns: spec.conns,
    proxy: c.name,
    workers: c.workers,
    phase: spec.everyMs > 0 ? "reload" : "baseline",
    ...result,
    errors: result.socketErrors + result.badStatus,
    reloads: reloads.events.length,
    effective: reloads.events.filter((e) => e.effectMs !== null).length,
    events: reloads.events,
    failedPolls: reloads.failedPolls,
    signalsLogged: countSince(c.errorLog, logOffset, nginx ? NGINX_SIGHUP : /SIGHUP/),
    workerStarts: nginx ? countSince(c.errorLog, logOffset, NGINX_STARTS) : null,
    settleMs,
    ...seen,
    ...(failures.length === 0 ? {} : { failure: failures.join("; ") }),
  };
}
