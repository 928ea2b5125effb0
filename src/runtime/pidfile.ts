/**
 * The pid file: written once the server accepts, removed when it exits, and the guard against a second instance
 * on the same pid file (issue 7 item 2). nginx would fail to bind the ports instead, after truncating the pid
 * file of the running server; syncgate refuses before it touches anything.
 */
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { errnoText, SyncgateError } from "../lib/errors.js";

/** The pid the file names, or null when it is missing, unreadable or not a pid. */
function readPid(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
  return /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : null;
}

/** Whether process `pid` runs (and, where /proc tells, runs syncgate or node: a reused pid is not an instance). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return /syncgate|node/.test(cmdline);
  } catch {
    return true;
  }
}

/**
 * Refuses to start when the pid file names another running instance; a stale file (its process is gone) is
 * ignored and overwritten later.
 */
export function refuseSecondInstance(path: string): void {
  const pid = readPid(path);
  if (pid === null || pid === process.pid || !running(pid)) return;
  throw new SyncgateError(
    "SG_ERR_IO",
    `another syncgate (pid ${pid}) is running with pid file "${path}"; stop it (syncgate -s stop) or set another "pid"`,
  );
}

/** Writes this process's pid; throws nginx's open() error. */
export function writePid(path: string): void {
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch (err) {
    throw new SyncgateError("SG_ERR_IO", `open() "${path}" failed ${errnoText(err)}`);
  }
}

/** Removes the pid file if it still names this process. */
export function removePid(path: string): void {
  if (readPid(path) !== process.pid) return;
  try {
    unlinkSync(path);
  } catch {
    // Already gone: nothing to clean.
  }
}
