/**
 * One measured run under load with something happening meanwhile (registry changes, reloads): warm-up, then wrk
 * and the action start together, while the proxy's process tree is sampled and the machine's CPU and TCP opens
 * are counted around them. The scenarios add what their action saw.
 */
import { runDetailedLoad, warmUp, type DetailedLoad } from "./load.js";
import {
  coreBusy,
  cpuTimes,
  otherCpuPercent,
  selfTicks,
  tcpActiveOpens,
  TreeSampler,
  treeTicks,
} from "./proc-stats.js";
import { fileSize } from "./reloads.js";
import type { Tools } from "./system.js";

/** The run's load and where its CPU figures come from. */
export interface LoadedRunSpec {
  tools: Tools;
  wrkScript: string;
  url: string;
  conns: number;
  /** The CPU wrk is pinned to (null: not pinned). */
  loadCpu: string | null;
  warmupS: number;
  durationS: number;
  /** Root pids of the harness's own processes (backends, registry), left out of "other CPU". */
  ourRoots: number[];
  /** The cores reported as cpu0BusyPct and cpu1BusyPct. */
  cores: [string | null, string | null];
}

/** What the run saw around the proxy, whatever the action was. */
export interface Surroundings {
  /** The proxy's error log size before the run: what the action logged starts there. */
  logOffset: number;
  /** Peak processes in the proxy's tree, and their summed RSS, MB; sampled every 50 ms. */
  peakProcs: number;
  peakRssMB: number;
  cpu0BusyPct: number | null;
  cpu1BusyPct: number | null;
  /** CPU used outside the benchmark during the run, % of one core. */
  otherCpuPct: number | null;
  /** TCP connections opened on the machine during the run (wrk reconnecting included). */
  tcpConnects: number;
}

/**
 * Warms up, then runs wrk for `spec.durationS` and `action` together; `action` is told when wrk has finished.
 * `proxy` is the proxy's root pid, `errorLog` its error log.
 */
export async function runUnderLoad<T>(
  proxy: number,
  errorLog: string,
  spec: LoadedRunSpec,
  action: (finished: () => boolean) => Promise<T>,
): Promise<{ load: DetailedLoad; action: T; around: Surroundings }> {
  const load = { url: spec.url, conns: spec.conns, cpu: spec.loadCpu };
  await warmUp(spec.tools, spec.wrkScript, load, spec.warmupS);
  const logOffset = fileSize(errorLog);
  const roots = [proxy, ...spec.ourRoots];
  const oursBefore = treeTicks(roots) + selfTicks();
  const cpuBefore = cpuTimes();
  const opensBefore = tcpActiveOpens();
  const sampler = new TreeSampler(proxy, 50);
  let finished = false;
  let loaded: DetailedLoad;
  let acted: T;
  try {
    const ended = runDetailedLoad(spec.tools, spec.wrkScript, { ...load, seconds: spec.durationS }).finally(
      () => (finished = true),
    );
    [loaded, acted] = await Promise.all([ended, action(() => finished)]);
  } finally {
    sampler.stop();
  }
  const cpuAfter = cpuTimes();
  const ours = treeTicks(roots) + selfTicks() - oursBefore;
  return {
    load: loaded,
    action: acted,
    around: {
      logOffset,
      peakProcs: sampler.peakProcs,
      peakRssMB: sampler.peakRss / 2 ** 20,
      cpu0BusyPct: coreBusy(cpuBefore, cpuAfter, spec.cores[0]),
      cpu1BusyPct: coreBusy(cpuBefore, cpuAfter, spec.cores[1]),
      otherCpuPct: otherCpuPercent(cpuBefore, cpuAfter, ours),
      tcpConnects: tcpActiveOpens() - opensBefore,
    },
  };
}
