/**
 * The file writer (issue 6, `upsync FILE upsync_type=file`): exact file texts after each change (order, comments and
 * untouched lines kept), the fallback rewrite for files not written one server per line, atomic replacement (a temp
 * file in the same folder, renamed over), edits in one process serialized, and the watch loop seeing the result.
 */
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { UpsyncConf } from "../../src/config/types.js";
import { editServers } from "../../src/control/registry-file.js";
import { registryWriter } from "../../src/control/registry-writer.js";
import { DEFAULT_VALUE } from "../../src/control/types.js";
import type { DumpFs } from "../../src/discovery/dump.js";
import { watchFile } from "../../src/discovery/file-source.js";
import { failsWith, value } from "../support/registry.js";
import { tempDir } from "../support/tmp.js";
import { until, upsyncConf, watch } from "../discovery/watch-harness.js";

const fileConf = (path: string): UpsyncConf =>
  upsyncConf("file", [], path, { scheme: null, timeout: 360_000 });

const HAND_WRITTEN = [
  "# web servers of shop",
  "# managed by syncgate ctl",
  "",
  "server 10.0.0.1:80 weight=2;  # web1",
  "    server 10.0.0.2:80 max_fails=3 fail_timeout=30 max_conns=10;",
  "# spare:",
  "server backend.local:80;",
  "",
  "# end",
  "",
].join("\n");

test("one server per line: only the changed lines move; comments, blanks and other lines stay as written", async (t) => {
  const path = join(tempDir(t, { "servers.conf": HAND_WRITTEN }), "servers.conf");
  const w = registryWriter(fileConf(path), null);
  assert.equal(w.source, `file ${path}`);
  // The host name line is not a registry server (the watch loop skips it too).
  assert.deepEqual(await w.list(), [
    { address: "10.0.0.1:80", value: value({ weight: 2, max_fails: 1 }) },
    { address: "10.0.0.2:80", value: value({ max_fails: 3, fail_timeout: 30 }) },
  ]);

  await w.put("10.0.0.3:80", value({ weight: 3, backup: 1 }));
  await w.put("10.0.0.1:80", value({ weight: 5, down: 1 }));
  assert.equal(
    readFileSync(path, "utf8"),
    [
      "# web servers of shop",
      "# managed by syncgate ctl",
      "",
      "server 10.0.0.1:80 weight=5 max_fails=2 fail_timeout=10s down;  # web1",
      "    server 10.0.0.2:80 max_fails=3 fail_timeout=30 max_conns=10;",
      "# spare:",
      "server backend.local:80;",
      "server 10.0.0.3:80 weight=3 max_fails=2 fail_timeout=10s backup;",
      "",
      "# end",
      "",
    ].join("\n"),
  );

  await w.remove("10.0.0.1:80");
  await w.remove("10.0.0.1:80"); // idempotent: the file is not even rewritten
  await w.put("[2001:db8::0:1]:8080", DEFAULT_VALUE);
  assert.equal(
    readFileSync(path, "utf8"),
    [
      "# web servers of shop",
      "# managed by syncgate ctl",
      "",
      "    server 10.0.0.2:80 max_fails=3 fail_timeout=30 max_conns=10;",
      "# spare:",
      "server backend.local:80;",
      "server 10.0.0.3:80 weight=3 max_fails=2 fail_timeout=10s backup;",
      "server [2001:db8::1]:8080 weight=1 max_fails=2 fail_timeout=10s;",
      "",
      "# end",
      "",
    ].join("\n"),
  );
  assert.deepEqual(
    (await w.list()).map((s) => s.address),
    ["10.0.0.2:80", "10.0.0.3:80", "[2001:db8::1]:8080"],
  );
});

test("an address written another way is the line changed; repeats of it go; CRLF files stay CRLF", () => {
  const text = "server 010.0.0.1:80 weight=4;\r\nserver 10.0.0.1:80 weight=9;\r\nserver 10.0.0.2:80;\r\n";
  assert.equal(
    editServers(text, "/f", "10.0.0.1:80", value({ weight: 7 })),
    "server 10.0.0.1:80 weight=7 max_fails=2 fail_timeout=10s;\r\nserver 10.0.0.2:80;\r\n",
  );
  assert.equal(editServers(text, "/f", "10.0.0.1:80", null), "server 10.0.0.2:80;\r\n");
  assert.equal(editServers("", "/f", "10.0.0.1:80", null), "");
  assert.equal(
    editServers("# only a comment", "/f", "10.0.0.1:80", DEFAULT_VALUE),
    "# only a comment\nserver 10.0.0.1:80 weight=1 max_fails=2 fail_timeout=10s;\n",
  );
});

test("a file not written one server per line is rewritten: its leading comments, then one line per server", () => {
  const text = [
    "# shop",
    "server 10.0.0.1:80",
    "       weight=2 max_conns=5 slow_start=30;",
    "# about 10.0.0.2",
    "server 10.0.0.2:80; server 10.0.0.3:80 down;",
    "",
  ].join("\n");
  assert.equal(
    editServers(text, "/f", "10.0.0.2:80", value({ weight: 6 })),
    [
      "# shop",
      "server 10.0.0.1:80 weight=2 max_fails=1 fail_timeout=10s max_conns=5 slow_start=30s;",
      "server 10.0.0.2:80 weight=6 max_fails=2 fail_timeout=10s;",
      "server 10.0.0.3:80 weight=1 max_fails=1 fail_timeout=10s down;",
      "",
    ].join("\n"),
  );
  assert.equal(
    editServers(text, "/f", "10.0.0.9:80", DEFAULT_VALUE).split("\n").at(-2),
    "server 10.0.0.9:80 weight=1 max_fails=2 fail_timeout=10s;",
  );
});

test("a missing file lists empty and is created (folder too) by the first put", async (t) => {
  const path = join(tempDir(t), "new", "servers.conf");
  const w = registryWriter(fileConf(path), null);
  assert.deepEqual(await w.list(), []);
  await w.remove("10.0.0.1:80");
  await w.put("10.0.0.1:80", DEFAULT_VALUE);
  assert.equal(readFileSync(path, "utf8"), "server 10.0.0.1:80 weight=1 max_fails=2 fail_timeout=10s;\n");
  await w.remove("10.0.0.1:80");
  assert.equal(readFileSync(path, "utf8"), "");
});

test("atomic: a temp file in the same folder, fsynced, renamed over the file; the mode is kept", async (t) => {
  const dir = tempDir(t, { "servers.conf": "# mine\nserver 10.0.0.1:80;\n" });
  const path = join(dir, "servers.conf");
  chmodSync(path, 0o600);
  const calls: string[] = [];
  const fs: DumpFs = {
    ...fsp,
    open: (async (p: string, flags: string, mode?: number) => {
      calls.push(`open ${p.replace(dir, "DIR")} ${flags}${mode === undefined ? "" : ` ${mode.toString(8)}`}`);
      return fsp.open(p, flags, mode);
    }) as typeof fsp.open,
    rename: async (from, to) => {
      calls.push(`rename ${String(from).replace(dir, "DIR")} ${String(to).replace(dir, "DIR")}`);
      return fsp.rename(from, to);
    },
  };
  const w = registryWriter(fileConf(path), null, { fs });
  await w.put("10.0.0.2:80", DEFAULT_VALUE);
  assert.equal(calls.length, 3, calls.join("\n"));
  const temp = /^open (DIR\/\.servers\.conf\.\d+\.\d+\.tmp) wx 600$/.exec(calls[0]!)?.[1];
  assert.ok(temp, calls[0]);
  assert.deepEqual(calls.slice(1), [`rename ${temp} DIR/servers.conf`, "open DIR r"]);
  assert.deepEqual(readdirSync(dir), ["servers.conf"]);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(
    readFileSync(path, "utf8"),
    "# mine\nserver 10.0.0.1:80;\nserver 10.0.0.2:80 weight=1 max_fails=2 fail_timeout=10s;\n",
  );

  // A failed rename leaves the file as it was and no temp file behind.
  const failing: DumpFs = {
    ...fs,
    rename: () => Promise.reject(Object.assign(new Error("EXDEV"), { code: "EXDEV", errno: -18 })),
  };
  const msg = await failsWith(
    registryWriter(fileConf(path), null, { fs: failing }).remove("10.0.0.1:80"),
    "RegistryUnreachable",
  );
  assert.match(msg, /^file .*servers\.conf: rename\(\) ".*\.tmp" to ".*servers\.conf" failed/);
  assert.deepEqual(readdirSync(dir), ["servers.conf"]);
  assert.match(readFileSync(path, "utf8"), /^server 10\.0\.0\.1:80;$/m);
});

test("edits in one process are serialized: concurrent puts all land", async (t) => {
  const path = join(tempDir(t), "servers.conf");
  const w = registryWriter(fileConf(path), null);
  const other = registryWriter(fileConf(path), null);
  await Promise.all(
    Array.from({ length: 12 }, (_, i) => (i % 2 ? w : other).put(`10.0.1.${i + 1}:80`, DEFAULT_VALUE)),
  );
  assert.deepEqual(
    (await w.list()).map((s) => s.address),
    Array.from({ length: 12 }, (_, i) => `10.0.1.${i + 1}:80`),
  );
});

test("a file that does not parse is RegistryUnreachable naming the line, and is left alone", async (t) => {
  const bad = "server 10.0.0.1:80;\nupstream x {}\n";
  const path = join(tempDir(t, { "servers.conf": bad }), "servers.conf");
  const w = registryWriter(fileConf(path), null);
  const msg = await failsWith(w.put("10.0.0.2:80", DEFAULT_VALUE), "RegistryUnreachable");
  assert.equal(msg, `file ${path}: "upstream" directive is not allowed here in ${path}:2`);
  await failsWith(w.list(), "RegistryUnreachable");
  assert.equal(readFileSync(path, "utf8"), bad);
  writeFileSync(path, "server 10.0.0.1:80 weight=x;\n");
  assert.match(await failsWith(w.list(), "RegistryUnreachable"), /invalid parameter "weight=x"/);
});

test("the file's watch loop applies what the writer wrote", async (t) => {
  const path = join(tempDir(t, { "servers.conf": "server 10.0.0.1:80;\n" }), "servers.conf");
  const seen = watch(t, watchFile, fileConf(path));
  await until("first snapshot", () => seen.snaps.length === 1);
  const w = registryWriter(fileConf(path), null);
  await w.put("10.0.0.2:80", value({ weight: 3, down: 1 }));
  await until("second snapshot", () => seen.snaps.length === 2);
  const s = seen.snaps[1]!.servers;
  assert.deepEqual(
    s.map((x) => [x.address, x.weight, x.maxFails, x.failTimeout, x.down, x.backup]),
    [
      ["10.0.0.1:80", 1, 1, 10_000, false, false],
      ["10.0.0.2:80", 3, 2, 10_000, true, false],
    ],
  );
});
