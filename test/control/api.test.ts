/**
 * The admin API without sockets: the body checks as a table, the documents byte for byte, and the registry path
 * with a fake writer — a write that comes back (201) and one that does not within the wait (202, logged).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServerSpec, UpsyncConf } from "../../src/config/types.js";
import { AdminApi, type ApiRequest } from "../../src/control/api.js";
import { parseServerBody, type BodyTarget } from "../../src/control/api-input.js";
import { formatDuration, serverConfJson } from "../../src/control/api-json.js";
import type { RegistryServer, RegistryWriter, ServerValue } from "../../src/control/types.js";
import { Upstream } from "../../src/upstream/upstream.js";
import { registrySpec } from "../discovery/fixtures.js";
import { server, upstreamConf } from "../support/servers.js";

const post: BodyTarget = { kind: "post" };
const patch: BodyTarget = {
  kind: "patch",
  id: 7,
  spec: server("10.0.0.1:80", { maxConns: 5, slowStart: 30_000 }),
};
const body = (v: unknown): Buffer => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));

test("request bodies: what each field takes, and the code of each refusal", () => {
  const cases: [BodyTarget, unknown, unknown][] = [
    [
      post,
      { server: "10.0.0.2:8080" },
      { address: { address: "10.0.0.2:8080", host: "10.0.0.2", port: 8080 } },
    ],
    [post, { server: "010.0.0.2" }, { address: { address: "10.0.0.2:80", host: "10.0.0.2", port: 80 } }],
    [post, { server: "[::1]" }, { address: { address: "[::1]:80", host: "::1", port: 80 } }],
    [
      post,
      { server: "[0:0::1]:81", weight: 3, max_fails: 0, fail_timeout: 30, backup: true, down: false },
      {
        address: { address: "[::1]:81", host: "::1", port: 81 },
        weight: 3,
        maxFails: 0,
        failTimeout: 30_000,
        backup: true,
        down: false,
      },
    ],
    [
      post,
      { server: "10.0.0.2:80", fail_timeout: "1m30s", max_conns: 0, slow_start: "0s", route: "" },
      { address: { address: "10.0.0.2:80", host: "10.0.0.2", port: 80 }, failTimeout: 90_000 },
    ],
    [patch, { drain: true, weight: 2 }, { drain: true, weight: 2 }],
    [patch, { id: 7, server: "10.0.0.1:80", max_conns: 5, slow_start: "30s" }, {}],
    [patch, {}, {}],
    [post, {}, ["UpstreamConfFormatError", 'missing "server" argument']],
    [post, { server: 80 }, ["UpstreamBadAddress", 'invalid "server" argument']],
    [
      post,
      { server: "10.0.0.2:0" },
      ["UpstreamBadAddress", 'invalid "server" argument "10.0.0.2:0": invalid port (IP:PORT, no host names)'],
    ],
    [
      post,
      { server: "::1" },
      ["UpstreamBadAddress", 'invalid "server" argument "::1": invalid ip (IP:PORT, no host names)'],
    ],
    [
      post,
      { server: "10.0.0.2", weight: 1.5 },
      ["UpstreamBadWeight", 'invalid "weight" value: an integer from 1 to 2147483647'],
    ],
    [
      post,
      { server: "10.0.0.2", weight: "2" },
      ["UpstreamBadWeight", 'invalid "weight" value: an integer from 1 to 2147483647'],
    ],
    [
      post,
      { server: "10.0.0.2", fail_timeout: "10x" },
      ["UpstreamBadFailTimeout", 'invalid "fail_timeout" value: a time in whole seconds ("10s")'],
    ],
    [
      post,
      { server: "10.0.0.2", down: 1 },
      ["UpstreamConfFormatError", 'invalid "down" value: true or false'],
    ],
    [
      post,
      { server: "10.0.0.2", slow_start: "10s" },
      ["UpstreamBadSlowStart", '"slow_start" cannot be changed through the API: set it in the config'],
    ],
    [post, { server: "10.0.0.2", route: "a" }, ["UpstreamBadRoute", '"route" is not supported']],
    [
      post,
      { server: "10.0.0.2", id: 3 },
      ["UpstreamConfFormatError", '"id" cannot be set: syncgate assigns it'],
    ],
    [
      patch,
      { max_conns: 0 },
      ["UpstreamBadMaxConns", '"max_conns" cannot be changed through the API: set it in the config'],
    ],
    [
      patch,
      { server: "10.0.0.1:81" },
      [
        "UpstreamServerImmutable",
        'the address of server with ID "7" cannot change: add the new server, then remove this one',
      ],
    ],
    [patch, { drain: null }, ["UpstreamConfFormatError", 'invalid "drain" value: true or false']],
    [patch, { backup: { x: 1 } }, ["UpstreamConfFormatError", 'nested object or list in "backup"']],
  ];
  for (const [target, input, want] of cases) {
    const got = parseServerBody(body(input), target);
    const shown = "code" in got ? [got.code, got.text] : got;
    if ("code" in got) assert.equal(got.status, 400, JSON.stringify(input));
    assert.deepEqual(shown, want, JSON.stringify(input));
  }
  for (const text of ["", "{", "[]", "null", "3"]) {
    const got = parseServerBody(text === "" ? null : body(text), post);
    assert.ok("code" in got && got.status === 415 && got.code === "JsonError", text);
  }
});

test("documents: nginx's time format and the settings document's fields, in order", () => {
  assert.deepEqual([0, 1000, 60_000, 1500].map(formatDuration), ["0s", "1s", "60s", "1500ms"]);
  assert.equal(
    JSON.stringify(serverConfJson(server("10.0.0.1:80", { maxConns: 3 }), 4, true)),
    '{"id":4,"server":"10.0.0.1:80","weight":1,"max_conns":3,"max_fails":1,"fail_timeout":"10s",' +
      '"slow_start":"0s","route":"","backup":false,"down":false,"drain":true}',
  );
  assert.equal(
    JSON.stringify(serverConfJson(server("10.0.0.1:80"), null, false)),
    '{"server":"10.0.0.1:80","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s",' +
      '"slow_start":"0s","route":"","backup":false,"down":false}',
  );
});

const upsync: UpsyncConf = {
  type: "consul",
  scheme: "http",
  addresses: [{ host: "127.0.0.1", port: 8500 }],
  path: "/v1/kv/upstreams/u/",
  interval: 50,
  timeout: 1000,
  strongDependency: false,
  tokenFile: null,
  lb: null,
  origin: { file: null, line: 0 },
};

function synced(specs: ServerSpec[]): Upstream {
  return new Upstream(upstreamConf("u", specs, { upsync, dumpPath: "/tmp/unused.conf" }), specs, Date.now());
}

/** A registry in memory; `echo` plays the sync: it applies what was written to `u` after a few ms. */
function fakeRegistry(u: Upstream, echo: boolean): { writer: RegistryWriter; writes: string[] } {
  const keys = new Map<string, ServerValue>(
    u.group.all().map((p) => [p.id, { weight: 1, max_fails: 2, fail_timeout: 10, down: 0, backup: 0 }]),
  );
  const writes: string[] = [];
  const sync = (): void => {
    if (!echo) return;
    const specs = [...keys].map(([address, v]) =>
      registrySpec(address, {
        weight: v.weight,
        maxFails: v.max_fails,
        failTimeout: v.fail_timeout * 1000,
        down: v.down === 1,
        backup: v.backup === 1,
      }),
    );
    setTimeout(() => u.apply(specs, Date.now()), 20);
  };
  const writer: RegistryWriter = {
    source: "consul 127.0.0.1:8500/v1/kv/upstreams/u/",
    list: () => Promise.resolve([...keys].map(([address, value]): RegistryServer => ({ address, value }))),
    put(address, value) {
      writes.push(`put ${address} ${JSON.stringify(value)}`);
      keys.set(address, value);
      sync();
      return Promise.resolve();
    },
    remove(address) {
      writes.push(`remove ${address}`);
      keys.delete(address);
      sync();
      return Promise.resolve();
    },
  };
  return { writer, writes };
}

function adminApi(u: Upstream, writer: RegistryWriter, logs: string[]): AdminApi {
  return new AdminApi({
    upstreams: () => [u],
    registry: () => null,
    health: () => [],
    now: () => Date.now(),
    log: (level, message) => logs.push(`[${level}] ${message}`),
    writer: () => writer,
    waitMs: () => 150,
  });
}

const req = (method: string, path: string, doc?: unknown): ApiRequest => ({
  method,
  path,
  body: doc === undefined ? null : body(doc),
  requestId: "0".repeat(32),
});

test("registry writes: answered once the sync brought them back, or 202 (logged) when it did not in time", async () => {
  const u = synced([registrySpec("10.0.0.1:80")]);
  const logs: string[] = [];
  const back = fakeRegistry(u, true);
  const api = adminApi(u, back.writer, logs);
  const added = await api.handle(
    true,
    req("POST", "9/http/upstreams/u/servers", { server: "10.0.0.2:80", weight: 3 }),
  );
  assert.equal(added.status, 201);
  const id = u.group.get("10.0.0.2:80")!.serial;
  assert.equal(
    added.body,
    `{"id":${id},"server":"10.0.0.2:80","weight":3,"max_conns":0,"max_fails":2,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false}`,
  );
  assert.deepEqual(back.writes, [
    'put 10.0.0.2:80 {"weight":3,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}',
  ]);
  assert.deepEqual(logs, [
    '[notice] api: upstream "u": added server 10.0.0.2:80 in consul 127.0.0.1:8500/v1/kv/upstreams/u/',
  ]);

  // The same registry, now without a sync to bring writes back.
  const u2 = synced([registrySpec("10.0.0.1:80"), registrySpec("10.0.0.2:80")]);
  const lost = fakeRegistry(u2, false);
  const logs2: string[] = [];
  const api2 = adminApi(u2, lost.writer, logs2);
  const pending = await api2.handle(
    true,
    req("POST", "9/http/upstreams/u/servers", { server: "10.0.0.3:80" }),
  );
  assert.equal(pending.status, 202);
  assert.equal(
    pending.body,
    '{"server":"10.0.0.3:80","weight":1,"max_conns":0,"max_fails":2,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false}',
  );
  const ib = u2.group.get("10.0.0.2:80")!.serial;
  const removed = await api2.handle(true, req("DELETE", `9/http/upstreams/u/servers/${ib}`));
  assert.equal(removed.status, 202);
  assert.deepEqual(
    (JSON.parse(removed.body!) as { server: string }[]).map((s) => s.server),
    ["10.0.0.1:80"],
  );
  assert.deepEqual(logs2, [
    '[warn] api: upstream "u": added server 10.0.0.3:80 in consul 127.0.0.1:8500/v1/kv/upstreams/u/, not back from the registry within 150 ms: it applies when the registry\'s update arrives',
    '[warn] api: upstream "u": removed server 10.0.0.2:80 in consul 127.0.0.1:8500/v1/kv/upstreams/u/, not back from the registry within 150 ms: it applies when the registry\'s update arrives',
  ]);
});
