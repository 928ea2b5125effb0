/**
 * One measured churn run: wrk on `GET /` while the harness moves the contender through a seeded sequence of
 * memberships at a fixed rate (each one written the contender's way), then how long the contender took to serve
 * the last one. Meanwhile the proxy's process tree is sampled: nginx starts a worker per completed reload and old
 * workers linger while they drain, so its peak process count shows reloads piling up.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { DetailedLoad } from "../load.js";
import { runUnderLoad } from "../loaded-run.js";
import { countSince, fileSize, NGINX_SIGHUP, NGINX_STARTS, waitReloaded } from "../reloads.js";
import type { Tools } from "../system.js";
import type { Membership } from "./changes.js";
import { waitShown, type ChurnContender } from "./setup.js";

/** One churn run of one contender. */
export interface ChurnRun extends DetailedLoad {
  round: number;
  conns: number;
  proxy: "syncgate" | "nginx";
  /** "baseline": the same load with no change (right before the churn run); "churn": with the changes. */
  phase: "baseline" | "churn";
  /** Seed of the change sequence (the same for both contenders in a round). */
  seed: number;
  /** socketErrors + badStatus. */
  errors: number;
  /** Changes made during the run, and per second of it. */
  changes: number;
  changesPerS: number;
  /** How late the harness made its latest change against the schedule, ms (its CPU is shared with wrk). */
  maxLateMs: number;
  /** nginx: SIGHUPs its master logged; reloads that got as far as starting a new worker; [emerg]/[alert] lines. */
  signals: number | null;
  reloads: number | null;
  reloadErrors: number | null;
  /** syncgate: registry indexes it applied (one `applied index` log line each). */
  applied: number | null;
  /** Peak processes in the proxy's tree (nginx: master + current and draining workers), sampled every 50 ms. */
  peakProcs: number;
  /** Peak summed VmRSS of that tree, MB. */
  peakRssMB: number;
  /**
   * From the last change to the proxy serving the last membership, ms: syncgate — until upstream_show lists it;
   * nginx — until a worker started after the last SIGHUP and every older worker exited (after wrk stopped).
   */
  catchUpMs: number | null;
  cpu0BusyPct: number | null;
  cpu1BusyPct: number | null;
  /** CPU used outside the benchmark (other users of the machine, kernel threads) during the run, % of one core. */
  otherCpuPct: number | null;
  /** TCP connections opened on the machine during the run (wrk reconnecting included). */
  tcpConnects: number;
  failure?: string;
}

/** What a run needs from the scenario. */
export interface ChurnRunSpec {
  tools: Tools;
  wrkScript: string;
  /** CPU of wrk (and the harness and backends), and of the proxy; null when not pinned. */
  loadCpu: string | null;
  proxyCpu: string | null;
  conns: number;
  durationS: number;
  warmupS: number;
  rate: number;
  round: number;
  seed: number;
  start: Membership;
  /** The memberships after each change, in order (`rate × durationS` of them). */
  states: Membership[];
  /** Pids of everything else the benchmark started (backends, the other proxy), for the other-CPU figure. */
  ourRoots: number[];
}

/** Runs the changes on schedule until they are all made or `done()` says the load ended. */
async function churn(
  c: ChurnContender,
  states: Membership[],
  rate: number,
  done: () => boolean,
): Promise<{ made: number; elapsedMs: number; maxLateMs: number; lastOffset: number }> {
  const t0 = performance.now();
  let made = 0;
  let maxLateMs = 0;
  let lastOffset = fileSize(c.errorLog);
  for (const [i, m] of states.entries()) {
    const due = t0 + ((i + 1) * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (done()) break;
    maxLateMs = Math.max(maxLateMs, performance.now() - due);
    lastOffset = fileSize(c.errorLog);
    c.set(m);
    made++;
  }
  return { made, elapsedMs: performance.now() - t0, maxLateMs, lastOffset };
}

/**
 * Warm-up without changes, then the measured run with the changes of `spec.states` (none: a baseline run).
 * The contender must serve `spec.start` already.
 */
export async function measureChurn(c: ChurnContender, spec: ChurnRunSpec): Promise<ChurnRun> {
  const url = `http://127.0.0.1:${c.port}/`;
  const cores: [string | null, string | null] = [spec.proxyCpu, spec.loadCpu];
  // The changes stop when wrk does, whichever ends first.
  const {
    load: result,
    action: run,
    around,
  } = await runUnderLoad(c.proc.pid, c.errorLog, { ...spec, url, cores }, (finished) =>
    churn(c, spec.states, spec.rate, finished),
  );
  const { logOffset, ...seen } = around;
  const last = run.made > 0 ? (spec.states[run.made - 1] as Membership) : spec.start;
  let catchUpMs: number | null = null;
  let failure: string | undefined;
  try {
    if (run.made > 0) {
      catchUpMs =
        c.name === "syncgate"
          ? await waitShown(c.port, last, 10_000)
          : await waitReloaded(c.proc.pid, c.errorLog, run.lastOffset, 30_000);
    }
  } catch (err) {
    failure = (err as Error).message;
  }
  const nginx = c.name === "nginx";
  return {
    round: spec.round,
    conns: spec.conns,
    proxy: c.name,
    phase: spec.states.length === 0 ? "baseline" : "churn",
    seed: spec.seed,
    ...result,
    errors: result.socketErrors + result.badStatus,
    changes: run.made,
    changesPerS: run.elapsedMs > 0 ? (run.made * 1000) / run.elapsedMs : 0,
    maxLateMs: run.maxLateMs,
    signals: nginx ? countSince(c.errorLog, logOffset, NGINX_SIGHUP) : null,
    reloads: nginx ? countSince(c.errorLog, logOffset, NGINX_STARTS) : null,
    reloadErrors: nginx ? countSince(c.errorLog, logOffset, /\[(emerg|alert)\]/) : null,
    applied: nginx ? null : countSince(c.errorLog, logOffset, /upstream "churn" applied index/),
    catchUpMs,
    ...seen,
    ...(failure === undefined ? {} : { failure }),
  };
}
