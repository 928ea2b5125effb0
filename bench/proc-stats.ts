/** Readings from /proc: a process tree's CPU time and memory, and per-CPU busy time. */
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Clock ticks per second for /proc times (`getconf CLK_TCK`; 100 on every Linux we run). */
export let clockTicks = 100;

/** Sets the tick rate read from `getconf CLK_TCK`. */
export function setClockTicks(hz: number): void {
  if (Number.isFinite(hz) && hz > 0) clockTicks = hz;
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | null {
  const text = readOrNull(`/proc/${pid}/stat`);
  if (text === null) return null;
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** `pid` and all its descendants, found through each process's parent pid. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    const ppid = Number(fields?.[1]); // Field 4 of stat: the parent pid.
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    tree.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return tree;
}

/** utime + stime of the given processes, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
export function cpuTicks(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) total += Number(f[11]) + Number(f[12]);
  }
  return total;
}

/** utime + stime + cutime + cstime of one process (fields 14 to 17 of /proc/PID/stat); 0 once it is gone. */
function ticksWithChildren(pid: number): number {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) : 0;
}

/** This process's CPU time plus that of its reaped children (wrk), in clock ticks. */
export function selfTicks(): number {
  return ticksWithChildren(process.pid);
}

/** User and system CPU ticks of one process (fields 14 and 15 of /proc/PID/stat); zeros once it is gone. */
export function userSysTicks(pid: number): [number, number] {
  const f = statFields(pid);
  return f ? [Number(f[11]), Number(f[12])] : [0, 0];
}

/**
 * CPU ticks of the trees under `roots`, reaped children included: a live process's utime + stime + cutime +
 * cstime, summed over the live tree, counts every process that ever ran in it exactly once (nginx's old workers
 * land in the master's cutime when it reaps them).
 */
export function treeTicks(roots: number[]): number {
  let total = 0;
  for (const pid of roots.flatMap((r) => processTree(r))) total += ticksWithChildren(pid);
  return total;
}

/**
 * CPU time spent outside the benchmark's own processes (other users of the machine, kernel threads) between
 * two readings, in percent of one core; `oursTicks` is the benchmark's own time over the same span.
 */
export function otherCpuPercent(
  before: Map<string, CpuTime>,
  after: Map<string, CpuTime>,
  oursTicks: number,
) {
  const a = before.get("cpu");
  const b = after.get("cpu");
  const cores = [...after.keys()].filter((k) => k !== "cpu").length;
  if (!a || !b || b.total === a.total || cores === 0) return null;
  return Math.max(0, (100 * (b.proc - a.proc - oursTicks)) / ((b.total - a.total) / cores));
}

/** Summed VmRSS of the given processes, in bytes. */
export function rssBytes(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readOrNull(`/proc/${pid}/status`) ?? "");
    if (m?.[1]) total += Number(m[1]) * 1024;
  }
  return total;
}

/** Jiffies of one CPU (or of all, "cpu"): busy, total, and spent in processes (user, nice, system). */
export interface CpuTime {
  busy: number;
  total: number;
  proc: number;
}

/** Busy and total jiffies per CPU ("cpu0", ...) and of all CPUs ("cpu"), from /proc/stat. */
export function cpuTimes(): Map<string, CpuTime> {
  const out = new Map<string, CpuTime>();
  for (const line of (readOrNull("/proc/stat") ?? "").split("\n")) {
    const m = /^(cpu\d*)\s+(.*)$/.exec(line);
    if (!m?.[1] || m[2] === undefined) continue;
    const v = m[2].split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal; guest is already in user.
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    out.set(m[1], { busy: total - idle, total, proc: (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) });
  }
  return out;
}

/** Percent busy of the pinned CPU `cpu` ("0", "1") between two `cpuTimes()` readings; null when not pinned. */
export function coreBusy(
  before: Map<string, CpuTime>,
  after: Map<string, CpuTime>,
  cpu: string | null,
): number | null {
  return cpu === null ? null : busyPercent(before, after, `cpu${cpu}`);
}

/** Percent busy of `cpu` between two `cpuTimes()` readings. */
export function busyPercent(
  before: Map<string, CpuTime>,
  after: Map<string, CpuTime>,
  cpu: string,
): number | null {
  const a = before.get(cpu);
  const b = after.get(cpu);
  if (!a || !b || b.total === a.total) return null;
  return (100 * (b.busy - a.busy)) / (b.total - a.total);
}

/** TCP connections this machine has opened so far (ActiveOpens in /proc/net/snmp). */
export function tcpActiveOpens(): number {
  const lines = (readOrNull("/proc/net/snmp") ?? "").split("\n").filter((l) => l.startsWith("Tcp:"));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf("ActiveOpens")] ?? NaN);
}

/** Calls `sample` now and every `everyMs`; the function returned stops that, after one last call. */
export function sampleEvery(everyMs: number, sample: () => void): () => void {
  sample();
  const timer = setInterval(sample, everyMs);
  return () => {
    clearInterval(timer);
    sample();
  };
}

/** Samples the peak RSS of a process tree every `everyMs` until stopped. */
export class RssSampler {
  private peak = 0;
  private readonly stopSampling: () => void;

  constructor(
    private readonly pids: number[],
    everyMs = 100,
  ) {
    this.stopSampling = sampleEvery(everyMs, () => {
      this.peak = Math.max(this.peak, rssBytes(this.pids));
    });
  }

  /** Stops sampling; returns the peak in bytes. */
  stop(): number {
    this.stopSampling();
    return this.peak;
  }
}

/** Peak process count and summed RSS of a tree whose members come and go (nginx workers across reloads). */
export class TreeSampler {
  peakProcs = 0;
  peakRss = 0;
  readonly stop: () => void;

  constructor(
    private readonly root: number,
    everyMs: number,
  ) {
    this.stop = sampleEvery(everyMs, () => {
      const pids = processTree(this.root);
      this.peakProcs = Math.max(this.peakProcs, pids.length);
      this.peakRss = Math.max(this.peakRss, rssBytes(pids));
    });
  }
}

/**
 * The processes in `pid`'s tree once it has `want` of them, or once their number has not changed for a second
 * (workers may be forked after the first one answers), or after 5 s: whatever it has then.
 */
export async function waitTreeSize(pid: number, want: number): Promise<number> {
  const started = performance.now();
  let n = processTree(pid).length;
  let since = started;
  while (n < want && performance.now() - since < 1000 && performance.now() - started < 5000) {
    await sleep(50);
    const now = processTree(pid).length;
    if (now !== n) since = performance.now();
    n = now;
  }
  return n;
}
