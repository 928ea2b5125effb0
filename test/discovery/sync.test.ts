/** The applier (issue 4 items 3, 4, 6): dedup, refusal, dump on change only, state kept, origins, status JSON. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ServerSpec, UpstreamConf } from "../../src/config/types.js";
import { type ApplyResult, UpstreamSync, describeSource, loadDumpAtStart } from "../../src/discovery/sync.js";
import type { Snapshot } from "../../src/discovery/types.js";
import { renderUpsyncStatus } from "../../src/status/upsync-status.js";
import { Upstream } from "../../src/upstream/upstream.js";
import { upstreamConf } from "../support/servers.js";
import { tempDir } from "../support/tmp.js";
import { registrySpec } from "./fixtures.js";

const DUMP = "/var/lib/syncgate/servers_test.conf";
const SOURCE = "consul 127.0.0.1:8500/v1/kv/upstreams/test/";
const T0 = Date.UTC(2026, 10, 24, 10, 0, 0, 0);

/** Upstream `test` (config line 10), synced from Consul on 127.0.0.1:8500, dumped to `dumpPath`. */
function testConf(servers: ServerSpec[], dumpPath: string | null = DUMP): UpstreamConf {
  return upstreamConf("test", servers, {
    origin: { file: "/etc/syncgate/syncgate.conf", line: 10 },
    upsync: {
      type: "consul",
      scheme: null,
      addresses: [{ host: "127.0.0.1", port: 8500 }],
      path: "/v1/kv/upstreams/test/",
      interval: 500,
      timeout: 360_000,
      strongDependency: false,
      tokenFile: null,
      lb: null,
      origin: { file: "/etc/syncgate/syncgate.conf", line: 11 },
    },
    dumpPath,
  });
}

/** A server written in the config (nginx defaults, max_fails=1). */
const configSpec = (address: string, line: number, file = "/etc/syncgate/syncgate.conf"): ServerSpec =>
  registrySpec(address, { maxFails: 1, origin: { file, line } });

const snapshot = (index: string, servers: ServerSpec[], extra: Partial<Snapshot> = {}): Snapshot => ({
  servers,
  index,
  skipped: [],
  warnings: [],
  ...extra,
});

function setup(
  initial: ServerSpec[] = [configSpec("127.0.0.1:11111", 12)],
  dumpPath: string | null = DUMP,
  over: Partial<UpstreamConf> = {},
) {
  const conf = { ...testConf(initial, dumpPath), ...over };
  const upstream = new Upstream(conf, initial, T0);
  const logs: string[] = [];
  const dumps: [string, string][] = [];
  let now = T0;
  const sync = new UpstreamSync(upstream, conf, {
    log: (level, msg) => logs.push(`[${level}] ${msg}`),
    now: () => now,
    writeDump: (path: string, text: string) => {
      dumps.push([path, text]);
      return Promise.resolve();
    },
  });
  const tick = (ms: number) => (now += ms);
  return { conf, upstream, sync, logs, dumps, tick };
}

const addrs = (u: Upstream): string[] => u.group.all().map((p) => p.id);

test("describeSource names type, addresses and path", () => {
  const conf = testConf([]);
  assert.equal(describeSource(conf.upsync!), SOURCE);
  assert.equal(
    describeSource({
      ...conf.upsync!,
      type: "etcd3",
      scheme: "https",
      addresses: [
        { host: "10.0.0.5", port: 2379 },
        { host: "::1", port: 2379 },
      ],
      path: "/upstreams/x/",
    }),
    "etcd3 https://10.0.0.5:2379,[::1]:2379/upstreams/x/",
  );
  assert.equal(
    describeSource({ ...conf.upsync!, type: "file", addresses: [], path: "/etc/s.conf" }),
    "file /etc/s.conf",
  );
  // A token in the path (the module's ACL workaround) is never shown: the source is logged, dumped and served.
  assert.equal(
    describeSource({ ...conf.upsync!, path: "/v1/kv/x/?dc=a&token=s3cr3t&TOKEN=t2" }),
    "consul 127.0.0.1:8500/v1/kv/x/?dc=a&token=(hidden)&TOKEN=(hidden)",
  );
});

test("first sync replaces the config servers, writes the exact dump; the same list again is unchanged", async () => {
  const { sync, upstream, logs, dumps, tick } = setup();
  const a = registrySpec("127.0.0.1:8081");
  const b = registrySpec("127.0.0.1:8082", { weight: 5, maxFails: 0, failTimeout: 30_000, down: true });
  assert.equal(sync.apply(snapshot("42", [a, b]), SOURCE), "applied");
  assert.deepEqual(addrs(upstream), ["127.0.0.1:8081", "127.0.0.1:8082"]);
  await sync.flush();
  assert.deepEqual(dumps, [
    [
      DUMP,
      `# syncgate dump of upstream test; source: ${SOURCE}; index: 42; time: 2026-11-24T10:00:00.000Z\n` +
        "server 127.0.0.1:8081 weight=1 max_fails=2 fail_timeout=10s;\n" +
        "server 127.0.0.1:8082 weight=5 max_fails=0 fail_timeout=30s down;\n",
    ],
  ]);
  assert.deepEqual(logs, [
    `[notice] upsync: upstream "test" applied index 42 from ${SOURCE}: 2 servers, 2 added, 1 removed, 0 changed`,
    `[notice] upsync_dump_server: dump conf file ${DUMP} succeeded, number of servers is 2`,
  ]);

  // Same servers and attributes (new objects, a new index): nothing applied, nothing written.
  tick(1000);
  const results: ApplyResult[] = [
    sync.apply(snapshot("43", [registrySpec("127.0.0.1:8081"), { ...b }]), SOURCE),
    sync.apply(snapshot("43", [a, b]), SOURCE),
  ];
  await sync.flush();
  assert.deepEqual(results, ["unchanged", "unchanged"]);
  assert.equal(dumps.length, 1);
  assert.equal(logs.length, 2);
  const st = sync.status();
  assert.equal(st.lastIndex, "43");
  assert.equal(st.lastSync, T0 + 1000);
  assert.equal(st.lastChange, T0);
});

test("the order of servers is part of the list: a reorder applies and dumps", async () => {
  const { sync, upstream, dumps } = setup();
  const a = registrySpec("127.0.0.1:8081");
  const b = registrySpec("127.0.0.1:8082");
  sync.apply(snapshot("1", [a, b]), SOURCE);
  assert.equal(sync.apply(snapshot("2", [b, a]), SOURCE), "applied");
  await sync.flush();
  assert.deepEqual(addrs(upstream), ["127.0.0.1:8082", "127.0.0.1:8081"]);
  assert.equal(dumps.length, 2);
  assert.match(dumps[1]![1], /index: 2;.*\nserver 127\.0\.0\.1:8082 .*\nserver 127\.0\.0\.1:8081 .*\n$/);
});

test("an update that empties the upstream is refused, logged and counted once per index", async () => {
  const { sync, upstream, logs, dumps, tick } = setup();
  sync.apply(snapshot("10", [registrySpec("127.0.0.1:8081"), registrySpec("127.0.0.1:8082")]), SOURCE);
  await sync.flush();
  logs.length = 0;
  dumps.length = 0;

  tick(1000);
  const bad = { key: "upstreams/test/x", reason: "upsync_check_key: has no port in /x" };
  const results = [
    sync.apply(snapshot("11", []), SOURCE),
    sync.apply(snapshot("11", []), SOURCE),
    sync.apply(snapshot("12", [], { skipped: [bad] }), SOURCE),
    sync.apply(snapshot("12", [], { skipped: [bad] }), SOURCE),
  ];
  await sync.flush();
  assert.deepEqual(results, ["refused", "refused", "refused", "refused"]);
  const refusal = (i: string) =>
    `[error] upsync_del_peer: upstream "test" cannot delete all peers: index ${i} from ${SOURCE} ` +
    `lists no usable server, the last 2 servers keep serving`;
  assert.deepEqual(logs, [
    refusal("11"),
    `[error] upsync_check_key: has no port in /x, key: "upstreams/test/x", upstream: "test"`,
    refusal("12"),
  ]);
  assert.deepEqual(dumps, []);
  assert.deepEqual(addrs(upstream), ["127.0.0.1:8081", "127.0.0.1:8082"]);
  const st = sync.status();
  assert.equal(st.refused, 2);
  assert.deepEqual(st.lastError, { message: refusal("12").slice(8), time: T0 + 1000 });
  assert.equal(st.lastSync, T0, "a refusal is not a successful sync");
  assert.equal(st.lastIndex, "12");

  // A good update ends the refusal; the same empty index later is refused and logged again.
  assert.equal(sync.apply(snapshot("13", [registrySpec("127.0.0.1:8081")]), SOURCE), "applied");
  assert.equal(sync.apply(snapshot("13", []), SOURCE), "refused");
  assert.equal(sync.status().refused, 3);
});

test("host names and repeated addresses never reach the upstream; all host names is a refusal", () => {
  const { sync, upstream, logs } = setup();
  const named = registrySpec("backend.local:80");
  const a = registrySpec("127.0.0.1:8081");
  assert.equal(
    sync.apply(snapshot("1", [named, a, registrySpec("127.0.0.1:8081", { weight: 9 })]), SOURCE),
    "applied",
  );
  assert.deepEqual(
    upstream.group.all().map((p) => [p.id, p.spec.weight]),
    [["127.0.0.1:8081", 1]],
  );
  assert.deepEqual(logs.slice(0, 2), [
    `[error] host name in "backend.local:80" is not allowed, key: "backend.local:80", upstream: "test"`,
    `[error] duplicate server 127.0.0.1:8081, key: "127.0.0.1:8081", upstream: "test"`,
  ]);
  assert.equal(sync.apply(snapshot("2", [named]), SOURCE), "refused");
});

test("entry notes are logged once per index", () => {
  const { sync, logs } = setup();
  const s = snapshot("7", [registrySpec("127.0.0.1:8081")], {
    warnings: [
      { key: "upstreams/test/127.0.0.1:8081", reason: `"weight" value is invalid, setting default value 1` },
    ],
  });
  sync.apply(s, SOURCE);
  sync.apply(s, SOURCE);
  const line = `[error] "weight" value is invalid, setting default value 1, key: "upstreams/test/127.0.0.1:8081", upstream: "test"`;
  assert.deepEqual(
    logs.filter((l) => l.startsWith("[error]")),
    [line],
  );
  sync.apply({ ...s, index: "8" }, SOURCE);
  assert.deepEqual(
    logs.filter((l) => l.startsWith("[error]")),
    [line, line],
  );
});

test("attribute changes apply in place: the same Peer object, its failures kept; removal drops the peer", async () => {
  const { sync, upstream, dumps, tick } = setup();
  sync.apply(snapshot("1", [registrySpec("127.0.0.1:8081"), registrySpec("127.0.0.1:8082")]), SOURCE);
  const peer = upstream.group.get("127.0.0.1:8081")!;
  peer.failed(T0);
  peer.acquire();
  assert.equal(peer.fails, 1);

  tick(5000);
  const reweighted = [
    registrySpec("127.0.0.1:8081", { weight: 3, down: true }),
    registrySpec("127.0.0.1:8082"),
  ];
  assert.equal(sync.apply(snapshot("2", reweighted), SOURCE), "applied");
  const after = upstream.group.get("127.0.0.1:8081")!;
  assert.equal(after, peer, "the same Peer object");
  assert.equal(after.fails, 1);
  assert.equal(after.active, 1);
  assert.equal(after.spec.weight, 3);
  assert.equal(after.spec.down, true);

  tick(5000);
  assert.equal(sync.apply(snapshot("3", [registrySpec("127.0.0.1:8082")]), SOURCE), "applied");
  assert.deepEqual(addrs(upstream), ["127.0.0.1:8082"]);
  assert.equal(upstream.group.get("127.0.0.1:8081"), undefined);
  await sync.flush();
  assert.deepEqual(
    dumps.map(([, text]) => text),
    [
      dumps[0]![1],
      `# syncgate dump of upstream test; source: ${SOURCE}; index: 3; time: 2026-11-24T10:00:10.000Z\n` +
        "server 127.0.0.1:8082 weight=1 max_fails=2 fail_timeout=10s;\n",
    ],
    "index 1 was being written when 2 and 3 came; 2 was superseded before it started",
  );
});

test("dump writes are serialised, latest wins; a failed write is logged and shown, serving is unaffected", async () => {
  const conf = testConf([configSpec("127.0.0.1:11111", 12)]);
  const upstream = new Upstream(conf, conf.servers, T0);
  const logs: string[] = [];
  const writes: string[] = [];
  let release: () => void = () => undefined;
  let fail = false;
  const sync = new UpstreamSync(upstream, conf, {
    log: (level, msg) => logs.push(`[${level}] ${msg}`),
    now: () => T0,
    writeDump: async (_path: string, text: string) => {
      writes.push(text.split("\n")[0]!.replace(/.*index: (\w+);.*/, "$1"));
      await new Promise<void>((r) => (release = r));
      if (fail) throw new Error(`open() "${DUMP}" failed (13: Permission denied)`);
    },
  });
  sync.apply(snapshot("1", [registrySpec("127.0.0.1:8081")]), SOURCE);
  sync.apply(snapshot("2", [registrySpec("127.0.0.1:8082")]), SOURCE);
  sync.apply(snapshot("3", [registrySpec("127.0.0.1:8083")]), SOURCE);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, ["1"], "one write at a time");
  fail = true;
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, ["1", "3"], "index 2 was superseded by 3");
  release();
  await sync.flush();
  const message = `upsync_dump_server: open() "${DUMP}" failed (13: Permission denied)`;
  assert.deepEqual(
    logs.filter((l) => l.startsWith("[error]")),
    [`[error] ${message}`, `[error] ${message}`],
  );
  const st = sync.status();
  assert.deepEqual(st.dump, { path: DUMP, written: null, ageMs: null, error: message });
  assert.deepEqual(st.lastError, { message, time: T0 });
  assert.deepEqual(addrs(upstream), ["127.0.0.1:8083"]);
});

test("no dump path: nothing is written", async () => {
  const { sync, dumps } = setup([configSpec("127.0.0.1:11111", 12)], null);
  assert.equal(sync.apply(snapshot("1", [registrySpec("127.0.0.1:8081")]), SOURCE), "applied");
  await sync.flush();
  assert.deepEqual(dumps, []);
});

test("origins: config and dump servers until the first sync, then registry; status JSON exact", async () => {
  const initial = [configSpec("127.0.0.1:11111", 12), configSpec("127.0.0.1:8081", 1, DUMP)];
  const { sync, tick } = setup(initial);
  assert.deepEqual(
    sync.status().servers.map((s) => [s.spec.address, s.origin]),
    [
      ["127.0.0.1:11111", "config"],
      ["127.0.0.1:8081", "dump"],
    ],
  );
  assert.equal(sync.status().source, SOURCE);

  // The registry lists the dump's server unchanged but not the placeholder: applied, all from the registry.
  assert.equal(
    sync.apply(snapshot("5", [registrySpec("127.0.0.1:8081", { maxFails: 1 })]), SOURCE),
    "applied",
  );
  await sync.flush();
  tick(2500);
  sync.apply(snapshot("6", []), SOURCE);
  const body = renderUpsyncStatus([sync.status()], { method: "GET", args: null }).body;
  assert.equal(
    body,
    JSON.stringify(
      {
        upstreams: {
          test: {
            source: SOURCE,
            last_index: "6",
            last_sync: "2026-11-24T10:00:00.000Z",
            last_change: "2026-11-24T10:00:00.000Z",
            last_error: {
              message:
                `upsync_del_peer: upstream "test" cannot delete all peers: index 6 from ${SOURCE} lists no ` +
                "usable server, the last server keeps serving",
              time: "2026-11-24T10:00:02.500Z",
            },
            refused: 1,
            dump: { path: DUMP, written: "2026-11-24T10:00:00.000Z", age_ms: 2500, error: null },
            servers: [
              {
                server: "127.0.0.1:8081",
                weight: 1,
                max_fails: 1,
                fail_timeout: 10,
                down: false,
                backup: false,
                origin: "registry",
              },
            ],
          },
        },
      },
      null,
      2,
    ) + "\n",
  );
});

test("an unchanged first sync still marks the servers as the registry's", async () => {
  const initial = [configSpec("127.0.0.1:8081", 1, DUMP)];
  const { sync, dumps } = setup(initial);
  assert.equal(
    sync.apply(snapshot("5", [registrySpec("127.0.0.1:8081", { maxFails: 1 })]), SOURCE),
    "unchanged",
  );
  await sync.flush();
  assert.deepEqual(dumps, []);
  assert.deepEqual(
    sync.status().servers.map((s) => s.origin),
    ["registry"],
  );
});

test("upsync_status: one upstream by name, unknown name 404, HEAD, other methods 405", () => {
  const { sync } = setup();
  const list = [sync.status()];
  const one = renderUpsyncStatus(list, { method: "GET", args: "test" });
  assert.equal(one.status, 200);
  assert.deepEqual(Object.keys((JSON.parse(one.body!) as { upstreams: object }).upstreams), ["test"]);
  const missing = renderUpsyncStatus(list, { method: "GET", args: "nope" });
  const missingBody = `{\n  "error": "upstream \\"nope\\" is not synced or does not exist"\n}\n`;
  assert.deepEqual(missing, {
    status: 404,
    headers: ["Content-Type", "application/json", "Content-Length", String(missingBody.length)],
    body: missingBody,
  });
  const head = renderUpsyncStatus(list, { method: "HEAD", args: null });
  const get = renderUpsyncStatus(list, { method: "GET", args: null });
  assert.deepEqual(head, { ...get, body: "" });
  assert.deepEqual(renderUpsyncStatus(list, { method: "POST", args: null }), {
    status: 405,
    headers: [],
    body: null,
  });
  assert.equal(renderUpsyncStatus([], { method: "GET", args: null }).body, `{\n  "upstreams": {}\n}\n`);
});

test("loadDumpAtStart: missing, empty and comment-only are null; servers keep the dump as origin; errors name it", async (t) => {
  const dir = tempDir(t, {
    "empty.conf": "",
    "comment.conf": "# syncgate dump of upstream test; source: x; index: 1; time: 2026-11-24T10:00:00.000Z\n",
    "good.conf":
      "# comment\nserver 127.0.0.1:8081 weight=2 max_fails=2 fail_timeout=10s;\nserver 127.0.0.1:8082 weight=1 max_fails=0 fail_timeout=3s down backup;\n",
    "bad.conf": "server 127.0.0.1:8081 weight=2;\nupstream x;\n",
  });
  const at = (name: string | null) => testConf([], name === null ? null : join(dir, name));
  assert.equal(await loadDumpAtStart(at(null)), null);
  assert.equal(await loadDumpAtStart(at("missing.conf")), null);
  assert.equal(await loadDumpAtStart(at("empty.conf")), null);
  assert.equal(await loadDumpAtStart(at("comment.conf")), null);
  const good = join(dir, "good.conf");
  assert.deepEqual(await loadDumpAtStart(at("good.conf")), [
    registrySpec("127.0.0.1:8081", { weight: 2, origin: { file: good, line: 2 } }),
    registrySpec("127.0.0.1:8082", {
      maxFails: 0,
      failTimeout: 3000,
      down: true,
      backup: true,
      origin: { file: good, line: 3 },
    }),
  ]);
  await assert.rejects(loadDumpAtStart(at("bad.conf")), {
    code: "SG_ERR_CONFIG",
    message: `"upstream" directive is not allowed here in ${join(dir, "bad.conf")}:2`,
  });
  writeFileSync(join(dir, "sub"), "not a folder");
  await assert.rejects(loadDumpAtStart(at("sub/servers.conf")), {
    code: "SG_ERR_IO",
    message: `open() "${join(dir, "sub/servers.conf")}" failed (20: Not a directory)`,
  });
});

test("backup: ignored (with a log line) where the balancer cannot use it; a list of backups only is refused", () => {
  const ip = setup(undefined, DUMP, { balancer: { method: "ip_hash" } });
  const list = [registrySpec("127.0.0.1:8081"), registrySpec("127.0.0.1:8082", { backup: true })];
  assert.equal(ip.sync.apply(snapshot("5", list), SOURCE), "applied");
  assert.deepEqual(
    ip.upstream.group.primary.map((p) => p.id),
    ["127.0.0.1:8081", "127.0.0.1:8082"],
  );
  assert.equal(ip.sync.servers()[1]!.backup, false, "the dump never gets a line ip_hash refuses at start");
  assert.ok(ip.logs.some((l) => l.includes('balancing method "ip_hash" does not support "backup"')));

  const rr = setup();
  assert.equal(rr.sync.apply(snapshot("5", list), SOURCE), "applied");
  assert.deepEqual(
    rr.upstream.group.backup.map((p) => p.id),
    ["127.0.0.1:8082"],
  );
  const backups = [registrySpec("127.0.0.1:8083", { backup: true })];
  assert.equal(rr.sync.apply(snapshot("6", backups), SOURCE), "refused");
  assert.deepEqual(addrs(rr.upstream), ["127.0.0.1:8081", "127.0.0.1:8082"]);
  assert.ok(rr.logs.some((l) => l.includes("every server listed is a backup server")));
});
