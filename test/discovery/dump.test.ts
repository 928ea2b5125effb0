/** Dump file (upsync spec §4.5): exact format, parse round trip, atomic write. */
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ServerSpec } from "../../src/config/types.js";
import {
  type DumpFs,
  dumpTempName,
  formatDump,
  formatServerLine,
  parseDump,
  writeDumpAtomic,
} from "../../src/discovery/dump.js";
import { registrySpec } from "./fixtures.js";

const META = {
  source: "consul 127.0.0.1:8500/v1/kv/upstreams/test/",
  index: "1234",
  time: Date.UTC(2026, 10, 24, 10, 0, 5, 123),
};

test("server lines in the module's format, backup after down", () => {
  const rows: [ServerSpec, string][] = [
    [registrySpec("127.0.0.1:8081"), "server 127.0.0.1:8081 weight=1 max_fails=2 fail_timeout=10s;"],
    [
      registrySpec("127.0.0.1:8088", { weight: 40, maxFails: 3, failTimeout: 20_000, down: true }),
      "server 127.0.0.1:8088 weight=40 max_fails=3 fail_timeout=20s down;",
    ],
    [
      registrySpec("127.0.0.1:8089", { weight: 20, maxFails: 0, failTimeout: 30_000 }),
      "server 127.0.0.1:8089 weight=20 max_fails=0 fail_timeout=30s;",
    ],
    [
      registrySpec("10.0.0.1:80", { backup: true }),
      "server 10.0.0.1:80 weight=1 max_fails=2 fail_timeout=10s backup;",
    ],
    [
      registrySpec("10.0.0.1:80", { down: true, backup: true }),
      "server 10.0.0.1:80 weight=1 max_fails=2 fail_timeout=10s down backup;",
    ],
    [
      registrySpec("10.0.0.1:80", { failTimeout: 0 }),
      "server 10.0.0.1:80 weight=1 max_fails=2 fail_timeout=0s;",
    ],
    [
      registrySpec("10.0.0.1:80", { failTimeout: 90_000 }),
      "server 10.0.0.1:80 weight=1 max_fails=2 fail_timeout=90s;",
    ],
    [registrySpec("[::1]:8080"), "server [::1]:8080 weight=1 max_fails=2 fail_timeout=10s;"],
    // Not registry attributes, never written (spec §4.5: no max_conns).
    [
      registrySpec("10.0.0.1:80", { maxConns: 5, slowStart: 30_000 }),
      "server 10.0.0.1:80 weight=1 max_fails=2 fail_timeout=10s;",
    ],
  ];
  for (const [spec, line] of rows) assert.equal(formatServerLine(spec), line);
});

test("dump text: one comment line, then one line per server in registry order, no blank line", () => {
  const servers = [
    registrySpec("127.0.0.1:8089", { weight: 20, maxFails: 0, failTimeout: 30_000 }),
    registrySpec("127.0.0.1:8088", { weight: 40, maxFails: 3, failTimeout: 20_000, down: true }),
    registrySpec("127.0.0.1:8090", { backup: true }),
  ];
  assert.equal(
    formatDump("test", servers, META),
    "# syncgate dump of upstream test; source: consul 127.0.0.1:8500/v1/kv/upstreams/test/; index: 1234; time: 2026-11-24T10:00:05.123Z\n" +
      "server 127.0.0.1:8089 weight=20 max_fails=0 fail_timeout=30s;\n" +
      "server 127.0.0.1:8088 weight=40 max_fails=3 fail_timeout=20s down;\n" +
      "server 127.0.0.1:8090 weight=1 max_fails=2 fail_timeout=10s backup;\n",
  );
  // A newline in a comment value would start a directive: it is flattened.
  const text = formatDump("t", [registrySpec("1.2.3.4:80")], {
    source: "file /a\nb",
    index: "x\r\ny",
    time: new Date(0),
  });
  assert.equal(
    text.split("\n")[0],
    "# syncgate dump of upstream t; source: file /a b; index: x y; time: 1970-01-01T00:00:00.000Z",
  );
  assert.throws(() => formatDump("t", [], META), {
    message: "upsync_dump_server: there are no peers to dump",
  });
});

test("round trip: what formatDump writes parseDump reads back the same", () => {
  const servers = [
    registrySpec("127.0.0.1:8089", { weight: 20, maxFails: 0, failTimeout: 30_000 }),
    registrySpec("127.0.0.1:8088", { weight: 40, maxFails: 3, failTimeout: 20_000, down: true }),
    registrySpec("10.0.0.1:80", { down: true, backup: true }),
    registrySpec("[2001:db8::1]:8080", { failTimeout: 0 }),
  ];
  const parsed = parseDump(formatDump("test", servers, META), "/etc/syncgate/servers_test.conf");
  assert.deepEqual(
    parsed,
    servers.map((s, i) => ({ ...s, origin: { file: "/etc/syncgate/servers_test.conf", line: i + 2 } })),
  );
});

test("parseDump: the config's server rules and messages; comments and blank text ignored", () => {
  assert.deepEqual(parseDump(""), []);
  assert.deepEqual(parseDump("# only a comment\n\n"), []);
  // A hand-written file (upsync_type=file) takes the config's defaults for what it omits (max_fails=1).
  const [s] = parseDump("server 127.0.0.1:8081;  # a comment\n", "/x.conf");
  assert.deepEqual(s, {
    address: "127.0.0.1:8081",
    host: "127.0.0.1",
    port: 8081,
    weight: 1,
    maxFails: 1,
    failTimeout: 10_000,
    maxConns: 0,
    backup: false,
    down: false,
    slowStart: 0,
    origin: { file: "/x.conf", line: 1 },
  });
  const errors: [string, string][] = [
    ["server 1.2.3.4:80 weight=0;", 'invalid parameter "weight=0" in /d.conf:1'],
    ["# c\nkeepalive 4;", '"keepalive" directive is not allowed here in /d.conf:2'],
    ["server 1.2.3.4:80", 'unexpected end of file, expecting ";" or "}" in /d.conf:1'],
    ["server;", 'invalid number of arguments in "server" directive in /d.conf:1'],
    ["server 1.2.3.4:80 { }", '"server" directive is not terminated by ";" in /d.conf:1'],
    ["server 1.2.3.4:99999;", 'invalid port in upstream "1.2.3.4:99999" in /d.conf:1'],
  ];
  for (const [text, message] of errors) assert.throws(() => parseDump(text, "/d.conf"), { message }, text);
});

async function tempDir(): Promise<string> {
  return fsp.mkdtemp(join(tmpdir(), "syncgate-dump-"));
}

test("writeDumpAtomic: creates the folder, writes the text, leaves no temp file", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, "a", "b", "servers_test.conf");
    await writeDumpAtomic(path, "server 1.2.3.4:80 weight=1 max_fails=2 fail_timeout=10s;\n");
    assert.equal(
      await fsp.readFile(path, "utf8"),
      "server 1.2.3.4:80 weight=1 max_fails=2 fail_timeout=10s;\n",
    );
    assert.deepEqual(await fsp.readdir(join(dir, "a", "b")), ["servers_test.conf"]);
    assert.equal((await fsp.stat(path)).mode & 0o777, 0o644 & ~process.umask());
    // Replacing keeps the file's mode.
    await fsp.chmod(path, 0o600);
    await writeDumpAtomic(path, "second\n");
    assert.equal(await fsp.readFile(path, "utf8"), "second\n");
    assert.equal((await fsp.stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await fsp.readdir(join(dir, "a", "b")), ["servers_test.conf"]);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test("writeDumpAtomic: concurrent writes leave one whole text and no temp file", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, "d.conf");
    const texts = Array.from({ length: 20 }, (_, i) => `${String(i).repeat(10_000)}\n`);
    await Promise.all(texts.map((t) => writeDumpAtomic(path, t)));
    assert.ok(texts.includes(await fsp.readFile(path, "utf8")));
    assert.deepEqual(await fsp.readdir(dir), ["d.conf"]);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

/** A DumpFs over the real one that records every call and can fail one step. */
function recordingFs(calls: string[], fail: Partial<Record<string, NodeJS.ErrnoException>> = {}): DumpFs {
  const check = (step: string) => {
    const err = fail[step];
    if (err) throw err;
  };
  const wrap = (fh: fsp.FileHandle, name: string): fsp.FileHandle =>
    ({
      writeFile: async (data: string, enc: BufferEncoding) => {
        calls.push(`write ${name}`);
        check("write");
        return fh.writeFile(data, enc);
      },
      sync: async () => {
        calls.push(`fsync ${name}`);
        check(name === "dir" ? "dirsync" : "fsync");
        return fh.sync();
      },
      close: async () => {
        calls.push(`close ${name}`);
        return fh.close();
      },
    }) as unknown as fsp.FileHandle;
  return {
    mkdir: (async (p: string, o: object) => {
      calls.push(`mkdir ${p}`);
      check("mkdir");
      return fsp.mkdir(p, o);
    }) as DumpFs["mkdir"],
    stat: (async (p: string) => {
      calls.push(`stat ${p}`);
      return fsp.stat(p);
    }) as DumpFs["stat"],
    open: (async (p: string, flags: string, mode?: number) => {
      const name = flags === "r" ? "dir" : "temp";
      calls.push(`open ${p} ${flags}`);
      check(name === "dir" ? "diropen" : "open");
      return wrap(await fsp.open(p, flags, mode), name);
    }) as DumpFs["open"],
    rename: (async (a: string, b: string) => {
      calls.push(`rename ${a} ${b}`);
      check("rename");
      return fsp.rename(a, b);
    }) as DumpFs["rename"],
    unlink: (async (p: string) => {
      calls.push(`unlink ${p}`);
      return fsp.unlink(p);
    }) as DumpFs["unlink"],
  };
}

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });

test("writeDumpAtomic: temp file in the same folder, fsync, rename, fsync of the folder — in that order", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, "servers_test.conf");
    const calls: string[] = [];
    await writeDumpAtomic(path, "x\n", recordingFs(calls));
    const temp = calls.find((c) => c.startsWith("open ") && c.endsWith(" wx"))!.split(" ")[1]!;
    assert.match(temp, new RegExp(`^${dir}/\\.servers_test\\.conf\\.${process.pid}\\.\\d+\\.tmp$`));
    assert.deepEqual(calls, [
      `mkdir ${dir}`,
      `stat ${path}`,
      `open ${temp} wx`,
      "write temp",
      "fsync temp",
      "close temp",
      `rename ${temp} ${path}`,
      `open ${dir} r`,
      "fsync dir",
      "close dir",
    ]);
    assert.equal(dumpTempName("/etc/sg/d.conf", 12, 3), "/etc/sg/.d.conf.12.3.tmp");
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test("writeDumpAtomic: a failure leaves the old file whole, removes the temp file, says what failed as nginx", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, "d.conf");
    await fsp.writeFile(path, "old\n");
    const rows: [string, string, (temp: string) => string][] = [
      ["mkdir", "EACCES", () => `mkdir() "${dir}" failed (13: Permission denied)`],
      ["open", "EACCES", (t) => `open() "${t}" failed (13: Permission denied)`],
      ["write", "ENOSPC", (t) => `write() "${t}" failed (28: No space left on device)`],
      ["fsync", "EROFS", (t) => `fsync() "${t}" failed (30: Read-only file system)`],
      ["rename", "EISDIR", (t) => `rename() "${t}" to "${path}" failed (21: Is a directory)`],
      ["diropen", "EACCES", () => `open() "${dir}" failed (13: Permission denied)`],
    ];
    for (const [step, code, message] of rows) {
      const calls: string[] = [];
      const err = await writeDumpAtomic(path, "new\n", recordingFs(calls, { [step]: errno(code) })).then(
        () => null,
        (e: unknown) => e as { code: string; message: string },
      );
      const opened = calls.find((c) => c.endsWith(" wx"));
      const temp = opened ? opened.split(" ")[1]! : "";
      assert.equal(err?.message, message(temp), step);
      assert.equal(err?.code, "SG_ERR_IO", step);
      if (step !== "diropen") assert.equal(await fsp.readFile(path, "utf8"), "old\n", step);
      assert.deepEqual(await fsp.readdir(dir), ["d.conf"], step);
      if (["write", "fsync", "rename"].includes(step)) assert.ok(calls.includes(`unlink ${temp}`), step);
    }
    // A folder that cannot be fsynced on this platform is not an error.
    await writeDumpAtomic(path, "new\n", recordingFs([], { dirsync: errno("EINVAL") }));
    assert.equal(await fsp.readFile(path, "utf8"), "new\n");
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
