/**
 * The open-file limit the health checker warns about (`openFileLimit`): read from /proc/self/limits, the same
 * limit a shell started by this process reports with `ulimit -n` (Node.js has raised its soft limit to the hard one).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { openFileLimit } from "../../src/lib/limits.js";

test("the open-file limit is the one a shell started by this process reports (`ulimit -n`)", () => {
  const shell = execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  assert.equal(openFileLimit(), shell === "unlimited" ? Infinity : Number(shell));
});

test("unlimited, a number, and text without the line", () => {
  const row = (soft: string) =>
    "Limit                     Soft Limit           Hard Limit           Units     \n" +
    `Max open files            ${soft}            1048576              files     \n`;
  assert.equal(openFileLimit(row("unlimited")), Infinity);
  assert.equal(openFileLimit(row("1024")), 1024);
  assert.equal(
    openFileLimit("Max processes             10                   10                   processes\n"),
    null,
  );
  assert.equal(openFileLimit(null), null);
});
