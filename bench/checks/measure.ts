/**
 * One run of `--scenario checks`: syncgate started afresh with one configuration (without or with checks), then
 * a few seconds with no load (its idle CPU: the probes' own cost), a warm-up, and the measured wrk run — CPU
 * time of the process per request, peak RSS and open files, and the probes the targets accepted meanwhile.
 * syncgate is stopped again at the end, so the other configuration never competes with it for CPU 0.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { runLoad, warmUp, type LoadResult } from "../load.js";
import {
  clockTicks,
  coreBusy,
  cpuTicks,
  cpuTimes,
  otherCpuPercent,
  rssBytes,
  sampleEvery,
  selfTicks,
  tcpActiveOpens,
  userSysTicks,
} from "../proc-stats.js";
import { stop } from "../procs.js";
import { checkBehaviour, waitReady } from "../sanity.js";
import {
  checkCounts,
  openFileLimit,
  openFiles,
  probesIn,
  startSyncgate,
  stubCounts,
  timeWaitSockets,
  type CheckCounts,
  type ChecksConfig,
  type ChecksSetup,
} from "./setup.js";

/** One measured run. */
export interface ChecksRun extends LoadResult {
  round: number;
  conns: number;
  config: ChecksConfig;
  /** socketErrors + badStatus. */
  errors: number;
  /** From spawn until syncgate answered (with checks: and listed every server up), ms. */
  startMs: number;
  /** syncgate's soft open-file limit as started (after `ulimit -n`). */
  fdLimit: number | null;
  /** syncgate's CPU with no load for `idleS` seconds, % of one core, and the probes accepted meanwhile per second. */
  idleCpuPct: number;
  idleProbesPerS: number;
  /** Peak VmRSS during the measured run, MB; peak open files. */
  rssMB: number;
  peakFds: number | null;
  /** syncgate's user + system CPU time during the measured run over its requests, µs; and the two parts. */
  cpuUsPerReq: number;
  userUsPerReq: number;
  sysUsPerReq: number;
  cpu0BusyPct: number | null;
  cpu1BusyPct: number | null;
  otherCpuPct: number | null;
  tcpConnects: number;
  /** TCP sockets in TIME_WAIT on the machine when the measured run began. */
  timeWait: number | null;
  /** Probes the targets answered per second of the measured run (http: requests; tcp: connections). */
  probesPerS: number;
  /** Connections the targets accepted per second of the measured run (= probes/s without check keep-alive). */
  connectsPerS: number;
  /** With checks: the pool's rise counters' growth per second over the run (successful probes); else null. */
  successesPerS: number | null;
  /** With checks: the status page after the run; else null. */
  status: CheckCounts | null;
  /** Behaviour problems seen before the run (the main bench's sanity check; first run of each config only). */
  problems: string[];
  failure?: string;
}

/** What a run needs from the scenario. */
export interface ChecksRunSpec {
  setup: ChecksSetup;
  config: ChecksConfig;
  port: number;
  round: number;
  conns: number;
  durationS: number;
  warmupS: number;
  idleS: number;
  wrkScript: string;
  /** Run the main bench's behaviour check first. */
  sanity: boolean;
  /** Pids of the backends and targets (for the other-CPU figure). */
  ourPids: number[];
}

/** Peak RSS and open files of one process, sampled every `everyMs`. */
class PeakSampler {
  rss = 0;
  fds: number | null = null;
  readonly stop: () => void;

  constructor(
    private readonly pid: number,
    everyMs = 100,
  ) {
    this.stop = sampleEvery(everyMs, () => {
      this.rss = Math.max(this.rss, rssBytes([this.pid]));
      const fds = openFiles(this.pid);
      if (fds !== null) this.fds = Math.max(this.fds ?? 0, fds);
    });
  }
}

/** Waits until the status page lists `expected` servers, all up; throws after `timeoutMs`. */
async function waitAllUp(port: number, expected: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = "no answer";
  while (performance.now() < deadline) {
    try {
      const c = await checkCounts(port);
      if (c.total === expected && c.down === 0) return;
      last = `${c.total} listed, ${c.down} down`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`check_status never listed ${expected} servers all up in ${timeoutMs} ms (${last})`);
}

/** Starts syncgate with `spec.config`, measures it, stops it. */
export async function measureChecks(spec: ChecksRunSpec): Promise<ChecksRun> {
  const { setup } = spec;
  const withChecks = spec.config === "with";
  const t0 = performance.now();
  const sg = startSyncgate(setup, spec.config, spec.port);
  const pid = sg.proc.pid; // `sh -c ... exec` and taskset both exec: this is node.
  try {
    await waitReady(sg.proc, spec.port, "/healthz");
    if (withChecks) await waitAllUp(spec.port, setup.targets.length + setup.backends.length, 20_000);
    const startMs = performance.now() - t0;
    const problems = spec.sanity
      ? await checkBehaviour(spec.port, setup.backends, sg.accessLog).catch((e: unknown) => [String(e)])
      : [];
    const fdLimit = openFileLimit(pid);

    // No load: what the probes cost on their own (and a process at rest without them).
    const probes = async (): Promise<number> => probesIn(setup.check, await stubCounts(setup.control));
    const idleProbes = await probes();
    const idleTicks = cpuTicks([pid]);
    const idleT = performance.now();
    await sleep(spec.idleS * 1000);
    const idleSeconds = (performance.now() - idleT) / 1000;
    const idleCpuPct = (100 * (cpuTicks([pid]) - idleTicks)) / clockTicks / idleSeconds;
    const idleProbesPerS = ((await probes()) - idleProbes - 1) / idleSeconds;

    const load = { url: `http://127.0.0.1:${spec.port}/`, conns: spec.conns, cpu: setup.loadCpu };
    await warmUp(setup.tools, spec.wrkScript, load, spec.warmupS);

    // The status page lists every server: read it outside the CPU window.
    const statusBefore = withChecks ? await checkCounts(spec.port) : null;
    const statusBeforeT = performance.now();
    const stubBefore = await stubCounts(setup.control);
    const acceptsBeforeT = performance.now();
    const timeWait = timeWaitSockets();
    const cpuBefore = cpuTimes();
    const [userBefore, sysBefore] = userSysTicks(pid);
    const opensBefore = tcpActiveOpens();
    const oursBefore = cpuTicks(spec.ourPids) + selfTicks();
    const sampler = new PeakSampler(pid);
    let result: LoadResult;
    try {
      result = await runLoad(setup.tools, spec.wrkScript, { ...load, seconds: spec.durationS });
    } finally {
      sampler.stop();
    }
    const [userAfter, sysAfter] = userSysTicks(pid);
    const ticks = userAfter - userBefore + (sysAfter - sysBefore);
    const perReq = (t: number): number =>
      result.requests > 0 ? (t * 1e6) / clockTicks / result.requests : NaN;
    const cpuAfter = cpuTimes();
    const tcpConnects = tcpActiveOpens() - opensBefore;
    const ours = ticks + cpuTicks(spec.ourPids) + selfTicks() - oursBefore;
    const stubAfter = await stubCounts(setup.control);
    // Minus this reading's own connection and request.
    const accepts = stubAfter.accepts - stubBefore.accepts - 1;
    const probed = probesIn(setup.check, stubAfter) - probesIn(setup.check, stubBefore) - 1;
    const acceptsSeconds = (performance.now() - acceptsBeforeT) / 1000;
    const status = withChecks ? await checkCounts(spec.port) : null;
    const statusSeconds = (performance.now() - statusBeforeT) / 1000;
    if (sg.proc.exited !== null) throw new Error(`syncgate exited (${sg.proc.exited}) during the run`);
    return {
      round: spec.round,
      conns: spec.conns,
      config: spec.config,
      ...result,
      errors: result.socketErrors + result.badStatus,
      startMs,
      fdLimit,
      idleCpuPct,
      idleProbesPerS,
      rssMB: sampler.rss / 2 ** 20,
      peakFds: sampler.fds,
      cpuUsPerReq: perReq(ticks),
      userUsPerReq: perReq(userAfter - userBefore),
      sysUsPerReq: perReq(sysAfter - sysBefore),
      cpu0BusyPct: coreBusy(cpuBefore, cpuAfter, setup.proxyCpu),
      cpu1BusyPct: coreBusy(cpuBefore, cpuAfter, setup.loadCpu),
      otherCpuPct: otherCpuPercent(cpuBefore, cpuAfter, ours),
      tcpConnects,
      timeWait,
      probesPerS: probed / acceptsSeconds,
      connectsPerS: accepts / acceptsSeconds,
      successesPerS:
        status === null || statusBefore === null
          ? null
          : (status.poolRise - statusBefore.poolRise) / statusSeconds,
      status,
      problems,
    };
  } finally {
    await stop(sg.proc);
  }
}
