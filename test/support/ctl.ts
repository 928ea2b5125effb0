/** `syncgate ctl` as operators run it: the real `bin/syncgate ctl` process, and what its runs must show. */
import assert from "node:assert/strict";
import { type ProcessResult, runSyncgate } from "./process.js";

/** `syncgate ctl ARGS` in `cwd`, killed after `timeoutMs`. */
export function runCtl(cwd: string, args: string[], timeoutMs = 15_000): Promise<ProcessResult> {
  return runSyncgate(["ctl", ...args], cwd, timeoutMs);
}

/** `syncgate ctl ARGS` in `cwd`, bounded at 15 s. */
export function ctl(cwd: string, ...args: string[]): Promise<ProcessResult> {
  return runCtl(cwd, args);
}

/** A success: nothing on stderr, status 0; returns stdout. */
export function ok(r: ProcessResult): string {
  assert.equal(r.stderr, "", "nothing on stderr");
  assert.equal(r.status, 0, r.stdout || undefined);
  return r.stdout;
}

/** A failure: `status`, nothing on stdout, one line on stderr: `syncgate ctl: LINE`, or one matching `line`. */
export function failed(r: ProcessResult, status: number, line: RegExp | string): void {
  assert.equal(r.stdout, "", "nothing on stdout");
  assert.equal(r.stderr.split("\n").length, 2, `one line on stderr: ${r.stderr}`);
  if (typeof line === "string") assert.equal(r.stderr, `syncgate ctl: ${line}\n`);
  else assert.match(r.stderr, line);
  assert.equal(r.status, status, r.stderr);
}
