/** Log file writers: order, nginx's buffer rules, reopen for rotation, close, failures reported not thrown. */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { LogLevel } from "../../src/lib/errors.js";
import { AccessLogs, AccessLogWriter, type WriterOptions } from "../../src/log/access-log.js";
import { tempDir } from "../support/tmp.js";

type Report = [LogLevel, string];

function writer(path: string, opts: Partial<WriterOptions> = {}): { w: AccessLogWriter; reports: Report[] } {
  const reports: Report[] = [];
  const w = new AccessLogWriter(path, { onError: (l, m) => reports.push([l, m]), ...opts });
  return { w, reports };
}

const read = (p: string): string => (existsSync(p) ? readFileSync(p, "latin1") : "<missing>");

test("unbuffered: every line, in order, each ending in a linefeed", async (t) => {
  const path = join(tempDir(t), "access.log");
  const { w, reports } = writer(path);
  await w.open();
  const lines = Array.from({ length: 500 }, (_, i) => `line ${i}`);
  for (const l of lines) w.write(l);
  await w.idle();
  assert.equal(read(path), lines.map((l) => `${l}\n`).join(""));
  w.write("after");
  await w.close();
  assert.equal(read(path).endsWith("line 499\nafter\n"), true);
  assert.deepEqual(reports, []);
});

test("appends to an existing file and writes byte strings byte for byte", async (t) => {
  const dir = tempDir(t, { "a.log": "old\n" });
  const path = join(dir, "a.log");
  const { w } = writer(path);
  w.write("caf\xc3\xa9 \xff"); // opened lazily by the first write
  await w.close();
  assert.deepEqual(readFileSync(path), Buffer.from("old\ncaf\xc3\xa9 \xff\n", "latin1"));
});

test("buffered: nothing before the buffer fills, the older lines when it overflows, all at close", async (t) => {
  const path = join(tempDir(t), "b.log");
  const { w } = writer(path, { buffer: 20 });
  await w.open();
  w.write("aaaaaaaa"); // 9 bytes with the linefeed
  w.write("bbbbbbbb"); // 18
  await w.idle();
  assert.equal(read(path), "");
  w.write("cc"); // 3 more would overflow 20: the buffer goes out first
  await w.idle();
  assert.equal(read(path), "aaaaaaaa\nbbbbbbbb\n");
  await w.close();
  assert.equal(read(path), "aaaaaaaa\nbbbbbbbb\ncc\n");
});

test("buffered: a line longer than the buffer is written at once, after what was buffered", async (t) => {
  const path = join(tempDir(t), "c.log");
  const { w } = writer(path, { buffer: 10 });
  await w.open();
  w.write("ab");
  w.write("x".repeat(30));
  await w.idle();
  assert.equal(read(path), `ab\n${"x".repeat(30)}\n`);
  w.write("cd");
  await w.idle();
  assert.equal(read(path), `ab\n${"x".repeat(30)}\n`);
  await w.flushed();
  assert.equal(read(path), `ab\n${"x".repeat(30)}\ncd\n`);
  await w.close();
});

test("buffered with flush=: the oldest line waits at most the flush time", async (t) => {
  const path = join(tempDir(t), "d.log");
  const { w } = writer(path, { buffer: 4096, flush: 50 });
  await w.open();
  w.write("one");
  w.write("two");
  await w.idle(); // microtasks only: the timer cannot have fired yet
  assert.equal(read(path), "");
  await sleep(150);
  await w.idle();
  assert.equal(read(path), "one\ntwo\n");
  await w.close();
});

test("reopen after rename: earlier lines stay in the renamed file, later ones go to a new file", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "r.log");
  for (const buffer of [null, 4096]) {
    const { w, reports } = writer(path, { buffer });
    w.write("one");
    await w.idle();
    renameSync(path, `${path}.1`);
    w.write("two"); // still the old file: nginx writes there until it reopens
    await w.reopen();
    w.write("three");
    await w.close();
    assert.equal(read(`${path}.1`), "one\ntwo\n", `buffer=${buffer}`);
    assert.equal(read(path), "three\n", `buffer=${buffer}`);
    assert.deepEqual(reports, []);
    renameSync(path, `${path}.2`);
  }
});

test("reopen that fails reports nginx's emerg and keeps the old file", async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, "sub"));
  const path = join(dir, "sub", "x.log");
  const { w, reports } = writer(path);
  await w.open();
  renameSync(join(dir, "sub"), join(dir, "gone")); // the configured folder vanished
  await w.reopen();
  w.write("kept");
  await w.close();
  assert.equal(read(join(dir, "gone", "x.log")), "kept\n");
  assert.deepEqual(reports, [["emerg", `open() "${path}" failed (2: No such file or directory)`]]);
});

test("close flushes, is idempotent, and drops later writes", async (t) => {
  const path = join(tempDir(t), "e.log");
  const { w } = writer(path, { buffer: 4096 });
  w.write("x");
  const a = w.close();
  assert.equal(w.close(), a);
  await a;
  w.write("late");
  await w.close();
  assert.equal(read(path), "x\n");
});

test("open failure rejects in nginx's words; a lazy one is reported once", async (t) => {
  const dir = tempDir(t);
  const { w } = writer(dir);
  await assert.rejects(w.open(), {
    code: "SG_ERR_IO",
    message: `open() "${dir}" failed (21: Is a directory)`,
  });
  const lazy = writer(dir);
  lazy.w.write("a");
  lazy.w.write("b");
  await lazy.w.close();
  assert.deepEqual(lazy.reports, [["emerg", `open() "${dir}" failed (21: Is a directory)`]]);
});

test("write failures are reported as alerts, at most once a minute", async () => {
  assert.ok(existsSync("/dev/full"), "the write-failure tests need Linux's /dev/full");
  let now = 1_000_000;
  const { w, reports } = writer("/dev/full", { now: () => now });
  w.write("a");
  await w.idle();
  w.write("b");
  await w.idle();
  now += 60_000;
  w.write("c");
  await w.close();
  const failed: Report = ["alert", 'write() to "/dev/full" failed (28: No space left on device)'];
  assert.deepEqual(reports, [failed, failed]);
});

test("a reporter that throws does not escape", async () => {
  assert.ok(existsSync("/dev/full"), "the write-failure tests need Linux's /dev/full");
  const w = new AccessLogWriter("/dev/full", {
    onError: () => {
      throw new Error("boom");
    },
  });
  w.write("a");
  await w.close();
});

test("AccessLogs: one writer per path; buffer parameters merge or conflict as in nginx", async (t) => {
  const dir = tempDir(t);
  const logs = new AccessLogs({ onError: () => undefined });
  const a = join(dir, "a.log");
  const w = logs.acquire({ path: a, buffer: null, flush: null });
  assert.equal(logs.acquire({ path: a, buffer: 1024, flush: 5000 }), w);
  assert.deepEqual([w.buffer, w.flush], [1024, 5000]);
  assert.equal(logs.acquire({ path: a, buffer: null, flush: null }), w);
  assert.equal(logs.acquire({ path: a, buffer: 1024, flush: 5000 }), w);
  assert.throws(() => logs.acquire({ path: a, buffer: 1024, flush: null }), {
    code: "SG_ERR_CONFIG",
    message: `access_log "${a}" already defined with conflicting parameters`,
  });
  const b = logs.acquire({ path: join(dir, "b.log"), buffer: null, flush: null });
  assert.notEqual(b, w);
  assert.equal(logs.get(a), w);
  await logs.open();
  w.write("to a");
  b.write("to b");
  await logs.reopen();
  await logs.close();
  await logs.close();
  assert.equal(read(a), "to a\n");
  assert.equal(read(join(dir, "b.log")), "to b\n");
});
