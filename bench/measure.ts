/**
 * One measured run of one proxy under load, as the main bench does it and `--scenario workers` reuses it: a
 * warm-up, then wrk for the run's duration while /proc gives the CPU time (user + system) and peak RSS of the
 * proxy's whole process tree (nginx: master + workers; syncgate: primary + cluster workers), how busy each core
 * was, what other processes used, and TCP connections opened; plus the access log lines written.
 */
import { readFileSync, truncateSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Contender, Setup } from "./contenders.js";
import { runLoad, warmUp } from "./load.js";
import type { BenchOptions } from "./options.js";
import {
  clockTicks,
  coreBusy,
  cpuTicks,
  cpuTimes,
  otherCpuPercent,
  processTree,
  RssSampler,
  selfTicks,
  tcpActiveOpens,
} from "./proc-stats.js";
import { NO_LOAD } from "./scenario.js";
import type { RunRecord } from "./stats.js";

function countLines(file: string): number {
  let n = 0;
  const buf = readFileSync(file);
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

function emptyLog(file: string | null): void {
  if (file === null) return;
  try {
    truncateSync(file, 0);
  } catch {
    // Not written yet.
  }
}

/** What one measured run needs besides the proxy. */
export interface RunSpec {
  setup: Setup;
  /** The warm-up and duration. */
  opts: Pick<BenchOptions, "warmupS" | "durationS">;
  wrkScript: string;
  conns: number;
  round: number;
  /** The other processes the benchmark started (backends, idle contenders), for the other-CPU figure. */
  ourPids: number[];
  /** The two CPUs reported as cpu0BusyPct and cpu1BusyPct (default: the proxy's and the load's CPU). */
  cores?: [string | null, string | null];
}

/** One warm-up and one measured run of `c` at `run.conns` connections. */
export async function measure(c: Contender, run: RunSpec): Promise<RunRecord> {
  const { setup, opts, wrkScript, conns, round, ourPids } = run;
  const cores = run.cores ?? [setup.proxyCpu, setup.loadCpu];
  const spec = { url: `http://127.0.0.1:${c.port}/`, conns, cpu: setup.loadCpu };
  await warmUp(setup.tools, wrkScript, spec, opts.warmupS);
  emptyLog(c.accessLog);
  const pids = processTree(c.proc.pid);
  const cpuBefore = cpuTimes();
  const ticksBefore = cpuTicks(pids);
  const opensBefore = tcpActiveOpens();
  const oursBefore = cpuTicks(ourPids) + selfTicks();
  const sampler = new RssSampler(pids);
  let rss: number;
  let load;
  try {
    load = await runLoad(setup.tools, wrkScript, { ...spec, seconds: opts.durationS });
  } finally {
    rss = sampler.stop();
  }
  const ticks = cpuTicks(pids) - ticksBefore;
  const cpuAfter = cpuTimes();
  const tcpConnects = tcpActiveOpens() - opensBefore;
  const ours = ticks + cpuTicks(ourPids) + selfTicks() - oursBefore;
  await sleep(100); // Let the last log lines land.
  const logLines = c.accessLog === null ? null : countLines(c.accessLog);
  emptyLog(c.accessLog);
  return {
    round,
    conns,
    proxy: c.name,
    ...load,
    errors: load.socketErrors + load.badStatus,
    rssMB: rss / 2 ** 20,
    cpuUsPerReq: load.requests > 0 ? (ticks * 1e6) / clockTicks / load.requests : NaN,
    cpu0BusyPct: coreBusy(cpuBefore, cpuAfter, cores[0]),
    cpu1BusyPct: coreBusy(cpuBefore, cpuAfter, cores[1]),
    otherCpuPct: otherCpuPercent(cpuBefore, cpuAfter, ours),
    tcpConnects,
    logLines,
  };
}

/** The figures of a run that could not be measured (with its `failure` set by the caller). */
export const NO_RUN = {
  ...NO_LOAD,
  rssMB: 0,
  cpuUsPerReq: 0,
  cpu0BusyPct: null,
  cpu1BusyPct: null,
  otherCpuPct: null,
  tcpConnects: 0,
  logLines: null,
};

/** One line of progress for a run; `who` names the proxy (default its name). */
export function progress(r: RunRecord, rounds: number, who: string = r.proxy): string {
  const head = `[round ${r.round}/${rounds} c${r.conns}] ${who.padEnd(10)}`;
  if (r.failure) return `${head} FAILED: ${r.failure}`;
  const busy = (p: number | null): string => (p === null ? "–" : `${p.toFixed(0)}%`);
  return (
    `${head} ${Math.round(r.rps).toString().padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  ` +
    `p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}  RSS ${r.rssMB.toFixed(1)} MB  ` +
    `CPU ${r.cpuUsPerReq.toFixed(1)} µs/req  (cpu0 ${busy(r.cpu0BusyPct)}, cpu1 ${busy(r.cpu1BusyPct)}, other ${busy(r.otherCpuPct)}, ${r.tcpConnects} TCP connects)`
  );
}
