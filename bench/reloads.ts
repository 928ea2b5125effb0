/**
 * What the scenarios that rewrite a proxy's configuration and reload it share (`--scenario churn` and
 * `--scenario reload`): writing a file so that a reload never reads half of it, reading a log from an offset,
 * the nginx master's reload lines, waiting until an nginx reload is over, and finding the pid a pid file names.
 */
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { processTree } from "./proc-stats.js";

/** What nginx's master logs (notice) when a reload has read the new config and starts its new workers. */
export const NGINX_STARTS = /start worker processes/;

/** What nginx's master logs (notice) when it receives a reload signal. */
export const NGINX_SIGHUP = /signal 1 \(SIGHUP\) received/;

/** Writes `text` to `file` through a temp file renamed over it: a reader sees the old file or the new one. */
export function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.new`, text);
  renameSync(`${file}.new`, file);
}

/** Bytes in `file` now (0 when it does not exist yet). */
export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The text of `file` from byte `offset` on ("" when unreadable). */
export function readSince(file: string, offset: number): string {
  try {
    return readFileSync(file).subarray(offset).toString("utf8");
  } catch {
    return "";
  }
}

/** Lines of `file` from byte `offset` on that match `re`. */
export function countSince(file: string, offset: number, re: RegExp): number {
  return readSince(file, offset)
    .split("\n")
    .filter((l) => re.test(l)).length;
}

/** The pid written in a pid file, or null when there is none (not written yet, removed, or not a number). */
export function pidFromFile(file: string): number | null {
  try {
    const text = readFileSync(file, "utf8").trim();
    return /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : null;
  } catch {
    return null;
  }
}

/**
 * Waits until nginx's master, after the last SIGHUP it logged since `offset` of its error log, has started new
 * workers and the old workers are gone (master + `workers` processes left); returns the milliseconds it took.
 */
export async function waitReloaded(
  master: number,
  errorLog: string,
  offset: number,
  timeoutMs: number,
  workers = 1,
): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    const lines = readSince(errorLog, offset).split("\n");
    const hup = lines.findLastIndex((l) => NGINX_SIGHUP.test(l));
    const reloaded = hup >= 0 && lines.slice(hup).some((l) => NGINX_STARTS.test(l));
    if (reloaded && processTree(master).length === 1 + workers) return performance.now() - started;
    await sleep(20);
  }
  throw new Error(`nginx did not finish reloading in ${timeoutMs} ms`);
}
