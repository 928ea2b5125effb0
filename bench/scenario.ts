/**
 * What every scenario (the proxies side by side, churn, checks) runs the same way: the preparation (tools, clock
 * ticks, pinning the harness, the temp folder and its removal), the interleaved rounds, the redo of a run while
 * other processes were busy, and the closing printout (tables, targets, notes, saved files).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { GoalResult } from "./goals.js";
import type { BenchOptions } from "./options.js";
import { setClockTicks } from "./proc-stats.js";
import { capture, killAllSync } from "./procs.js";
import { goalLines } from "./report.js";
import { ensureTools, machineInfo, type MachineInfo, type Tools } from "./system.js";

/** What bench/run.ts hands every scenario. */
export interface ScenarioContext {
  root: string;
  tmp: string;
  tools: Tools;
  info: MachineInfo;
  opts: BenchOptions;
  /** Whether the machine has 2 CPUs to pin the proxy apart from the load. */
  pinned: boolean;
  wrkScript: string;
  say: (line: string) => void;
}

/** Percent of a core used by other processes above which a run is redone (at most a scenario's own number of times). */
export const OTHER_CPU_LIMIT = 10;

/** The load figures of a run that could not be measured. */
export const NO_LOAD = {
  requests: 0,
  durationS: 0,
  rps: 0,
  p50Ms: 0,
  p99Ms: 0,
  maxMs: 0,
  socketErrors: 0,
  badStatus: 0,
  errors: 0,
};

/** The note when nothing could be pinned: `who` shares its core with wrk. */
export function notPinnedNote(who: string): string {
  return `Fewer than 2 CPUs: nothing was pinned, so ${who} shares its core with wrk.`;
}

let tmp: string | null = null;

/** Kills whatever is left and removes the temp folder; safe in exit and signal handlers. */
export function cleanupSync(): void {
  killAllSync();
  if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
  tmp = null;
}

/** On Ctrl-C, SIGTERM, SIGHUP and at exit: stops everything the benchmark started and removes the temp folder. */
export function cleanUpOnExit(say: (line: string) => void): void {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      say(`\nbench: ${signal}: stopping everything it started`);
      cleanupSync();
      process.exit(130);
    });
  }
  process.on("exit", cleanupSync);
}

/**
 * Finds the tools, reads the clock tick rate, pins the harness to CPU 1 (beside wrk) when there are two CPUs,
 * makes the temp folder (removed by `cleanupSync`) and reads the machine's description.
 */
export async function prepare(
  root: string,
  opts: BenchOptions,
  wrkScript: string,
  say: (line: string) => void,
): Promise<ScenarioContext> {
  const isRoot = process.getuid?.() === 0;
  const tools = await ensureTools(root, opts.tool, isRoot);
  setClockTicks(Number((await capture("getconf", "getconf", ["CLK_TCK"])).stdout.trim()));
  const pinned = availableParallelism() >= 2;
  if (pinned) await capture("taskset", "taskset", ["-pc", "1", String(process.pid)]); // The harness sits with wrk.
  tmp = mkdtempSync(join(tmpdir(), "syncgate-bench-"));
  const info = await machineInfo(root, tools, new Date());
  return { root, tmp, tools, info, opts, pinned, wrkScript, say };
}

/**
 * Every round, every connection count, every one of `items` once: the first of them moves one place on each
 * round, so none always runs right after another. `beforeRound` runs at the start of each round.
 */
export async function interleavedRounds<T>(
  rounds: number,
  conns: readonly number[],
  items: readonly T[],
  run: (item: T, round: number, conns: number) => Promise<void>,
  beforeRound: (round: number) => void = () => undefined,
): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    beforeRound(round);
    for (const c of conns) {
      const shift = (round - 1) % items.length;
      for (const item of [...items.slice(shift), ...items.slice(0, shift)]) await run(item, round, c);
    }
  }
}

/** How `redoWhenNoisy` measures and judges one attempt. */
export interface Redo<R> {
  measure: () => Promise<R>;
  /** Percent of a core other processes used during the attempt. */
  otherCpu: (r: R) => number;
  /** Redos at the most after the first attempt. */
  maxRedos: number;
  /** Whether the attempt may be redone at all (default: yes). */
  redoable?: (r: R) => boolean;
  /** Before each redo, with the attempt given up. */
  onRedo: (r: R) => Promise<void> | void;
  /** Which attempt counts: the quietest (default; the first of equals) or the last. */
  keep?: "quietest" | "last";
}

/**
 * This machine is shared: an attempt during which other processes used over OTHER_CPU_LIMIT % of a core is
 * redone, up to `maxRedos` times. Returns the attempt that counts and the others, in order.
 */
export async function redoWhenNoisy<R>(o: Redo<R>): Promise<{ kept: R; discarded: R[] }> {
  const attempts: R[] = [];
  for (let attempt = 0; ; attempt++) {
    const r = await o.measure();
    attempts.push(r);
    if (!(o.redoable?.(r) ?? true) || o.otherCpu(r) <= OTHER_CPU_LIMIT || attempt >= o.maxRedos) break;
    await o.onRedo(r);
  }
  const kept =
    o.keep === "last"
      ? (attempts[attempts.length - 1] as R)
      : attempts.reduce((a, b) => (o.otherCpu(b) < o.otherCpu(a) ? b : a));
  return { kept, discarded: attempts.filter((r) => r !== kept) };
}

/** The closing printout of a scenario. */
export interface Ending {
  /** Printed in order, each after an empty line; a block is lines. */
  blocks: string[][];
  /** The heading of the targets ("targets", "syncgate targets"). */
  targetsTitle: string;
  goals: GoalResult[];
  notes: string[];
  /** Writes the report and returns its .md and .json paths; null with --no-save. */
  save: (() => [string, string]) | null;
}

/** Prints the tables, the targets and the notes, then saves the report (or says it was not saved). */
export function sayEnding(say: (line: string) => void, e: Ending): void {
  for (const block of e.blocks) {
    say("");
    for (const line of block) say(line);
  }
  say("");
  say(`${e.targetsTitle}:`);
  say(goalLines(e.goals));
  if (e.notes.length > 0) say(`\nNotes:\n${e.notes.map((n) => `- ${n}`).join("\n")}`);
  if (e.save) {
    const [md, json] = e.save();
    say(`\nbench: wrote ${md} and ${json}`);
  } else {
    say("\nbench: results not saved (--no-save)");
  }
}
