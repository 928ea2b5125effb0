/** `upsync_type=file` (issue 4 item 2): snapshots at start and on change (in place, by rename), errors kept quiet. */
import assert from "node:assert/strict";
import { mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type TestContext, test } from "node:test";
import type { UpsyncConf } from "../../src/config/types.js";
import { contentIndex, translateFile, watchFile } from "../../src/discovery/file-source.js";
import { tempDir } from "../support/tmp.js";
import { eventually } from "../support/wait.js";
import { watch } from "./watch-harness.js";

const A = "server 127.0.0.1:8081 weight=1 max_fails=2 fail_timeout=10s;\n";
const B = "server 127.0.0.1:8082 weight=3 max_fails=0 fail_timeout=5s down;\n";

function fileConf(path: string, interval = 5000): UpsyncConf {
  return {
    type: "file",
    scheme: null,
    addresses: [],
    path,
    interval,
    timeout: 360_000,
    strongDependency: false,
    tokenFile: null,
    lb: null,
    origin: { file: "/etc/syncgate/syncgate.conf", line: 3 },
  };
}

/** Polls `cond` every 10 ms; fails after `ms`. */
const waitFor = (what: string, cond: () => boolean, ms = 2000): Promise<void> => eventually(what, cond, ms);

const settle = (ms = 250) => new Promise((r) => setTimeout(r, ms));

/** Starts a watch on `path`; stopped (and awaited) when the test ends. */
function start(t: TestContext, path: string, extra: { interval?: number; fsWatch?: boolean } = {}) {
  const w = watch(
    t,
    watchFile,
    fileConf(path, extra.interval),
    extra.fsWatch === undefined ? {} : { fsWatch: extra.fsWatch },
  );
  const servers = (i: number) => w.snaps[i]!.servers.map((s) => `${s.address} w=${s.weight} down=${s.down}`);
  return { ...w, servers };
}

test("translateFile: servers in file order with their lines; host names and repeats skipped; the index hashes", () => {
  const text = `# dump\n${A}server backend.local:80;\n${B}server 127.0.0.1:8081 weight=9;\n`;
  const s = translateFile(text, "/etc/s.conf");
  assert.deepEqual(
    s.servers.map((x) => [x.address, x.origin.line]),
    [
      ["127.0.0.1:8081", 2],
      ["127.0.0.1:8082", 4],
    ],
  );
  assert.deepEqual(s.skipped, [
    {
      key: "/etc/s.conf:3",
      reason: `upsync: host name in "backend.local:80" is not allowed, server skipped`,
    },
    { key: "/etc/s.conf:5", reason: "upsync: duplicate server 127.0.0.1:8081, the first line wins" },
  ]);
  assert.equal(s.index, contentIndex(text));
  assert.match(s.index, /^[0-9a-f]{16}$/);
  assert.deepEqual(translateFile("", "/etc/s.conf").servers, []);
  assert.throws(() => translateFile("server 127.0.0.1:8081 weight=x;\n", "/etc/s.conf"), {
    message: `invalid parameter "weight=x" in /etc/s.conf:1`,
  });
});

test("a snapshot at start, on an in-place write and on a rename over the file; a touch is no change", async (t) => {
  const dir = tempDir(t, { "servers.conf": A });
  const path = join(dir, "servers.conf");
  const w = start(t, path);
  await waitFor("the first snapshot", () => w.snaps.length === 1);
  assert.deepEqual(w.servers(0), ["127.0.0.1:8081 w=1 down=false"]);
  assert.equal(w.snaps[0]!.index, contentIndex(A));
  assert.deepEqual(w.states, [{ ok: true, error: null, index: contentIndex(A) }]);

  writeFileSync(path, A + B);
  await waitFor("the in-place write", () => w.snaps.length === 2);
  assert.deepEqual(w.servers(1), ["127.0.0.1:8081 w=1 down=false", "127.0.0.1:8082 w=3 down=true"]);

  writeFileSync(join(dir, ".servers.conf.tmp"), B);
  renameSync(join(dir, ".servers.conf.tmp"), path);
  await waitFor("the rename", () => w.snaps.length === 3);
  assert.deepEqual(w.servers(2), ["127.0.0.1:8082 w=3 down=true"]);

  const later = new Date(Date.now() + 5000);
  utimesSync(path, later, later);
  writeFileSync(join(dir, "unrelated.txt"), "x");
  await settle();
  assert.equal(w.snaps.length, 3, "same content, no snapshot");
  assert.equal(w.states.length, 1);
});

test("deletion and bad content keep the last servers and report once per change of state", async (t) => {
  const dir = tempDir(t, { "servers.conf": A });
  const path = join(dir, "servers.conf");
  const w = start(t, path);
  await waitFor("the first snapshot", () => w.snaps.length === 1);

  rmSync(path);
  const good = { ok: true, error: null, index: contentIndex(A) };
  const missing = { ...good, ok: false, error: `open() "${path}" failed (2: No such file or directory)` };
  await waitFor("the missing file", () => w.states.length === 2);
  writeFileSync(join(dir, "unrelated.txt"), "x");
  await settle();
  assert.deepEqual(w.states, [good, missing], "reported once");

  writeFileSync(path, "server 127.0.0.1:8081 weight=1\n");
  const bad = { ...good, ok: false, error: `unexpected end of file, expecting ";" or "}" in ${path}:2` };
  await waitFor("the parse error", () => w.states.length === 3);
  writeFileSync(path, "server 127.0.0.1:8081 weight=1\n");
  await settle();
  assert.deepEqual(w.states, [good, missing, bad]);
  assert.equal(w.snaps.length, 1, "nothing emitted while the file is missing or bad");

  // The same servers as before: the state recovers, no snapshot (the index is the content's).
  writeFileSync(path, A);
  await waitFor("the recovery", () => w.states.length === 4);
  await settle();
  assert.deepEqual(w.states[3], good);
  assert.equal(w.snaps.length, 1);

  writeFileSync(path, "");
  await waitFor("the empty file", () => w.snaps.length === 2);
  assert.deepEqual(w.snaps[1]!.servers, [], "an empty file is an empty list: the applier refuses it");
});

test("a file missing at start is reported, then picked up when it appears", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "servers.conf");
  const w = start(t, path);
  await waitFor("the error", () => w.states.length === 1);
  assert.deepEqual(w.states, [
    { ok: false, error: `open() "${path}" failed (2: No such file or directory)`, index: "" },
  ]);
  assert.equal(w.snaps.length, 0);
  writeFileSync(path, B);
  await waitFor("the file", () => w.snaps.length === 1);
  assert.deepEqual(w.servers(0), ["127.0.0.1:8082 w=3 down=true"]);
  assert.deepEqual(w.states[1], { ok: true, error: null, index: contentIndex(B) });
});

test("without fs.watch the stat poll every upsync_interval finds changes, also in a folder created later", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "later", "servers.conf");
  const w = start(t, path, { interval: 100, fsWatch: false });
  await waitFor("the error", () => w.states.length === 1);
  assert.deepEqual(w.states[0], {
    ok: false,
    error: `open() "${path}" failed (2: No such file or directory)`,
    index: "",
  });
  tempFiles(dir, { "later/servers.conf": A });
  await waitFor("the polled file", () => w.snaps.length === 1);
  writeFileSync(path, A + B);
  await waitFor("the polled change", () => w.snaps.length === 2);
  assert.equal(w.snaps[1]!.servers.length, 2);
});

test("the watch on a folder created later starts at the next poll", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "later", "servers.conf");
  // A long poll: only fs.watch, started by the first poll, can report the second change in time.
  const w = start(t, path, { interval: 1000 });
  await waitFor("the error", () => w.states.length === 1);
  tempFiles(dir, { "later/servers.conf": A });
  await waitFor("the polled file", () => w.snaps.length === 1);
  await settle(50);
  writeFileSync(path, B);
  await waitFor("the watched change", () => w.snaps.length === 2, 400);
});

test("abort stops the watch: the promise resolves and no more snapshots come", async (t) => {
  const dir = tempDir(t, { "servers.conf": A });
  const path = join(dir, "servers.conf");
  const w = start(t, path, { interval: 50 });
  await waitFor("the first snapshot", () => w.snaps.length === 1);
  w.ac.abort();
  await w.done;
  writeFileSync(path, B);
  await settle(200);
  assert.equal(w.snaps.length, 1);

  const ac = new AbortController();
  ac.abort();
  await watchFile(fileConf(path), {
    signal: ac.signal,
    onSnapshot: () => assert.fail("snapshot"),
    onState: () => assert.fail("state"),
  });
});

/** Writes files below `dir`, creating folders. */
function tempFiles(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
}
