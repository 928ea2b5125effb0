/** Consul KV answers → snapshots: keys (spec §2.3), values (§2.4), folder, order, duplicates, unusable values. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { consulKvFolder, translateConsulKv } from "../../src/discovery/consul-kv.js";
import { addrs, ctx, kv, registrySpec, snap } from "./fixtures.js";

const PATH = "/v1/kv/upstreams/test/";

test("the seed's layout: folder key skipped with the module's words, servers in key order, the index kept", () => {
  const body = [
    kv("upstreams/test/", null),
    kv("upstreams/test/127.0.0.1:8081", '{"weight":1,"max_fails":2,"fail_timeout":10}'),
    kv("upstreams/test/127.0.0.1:8082", '{"weight":3,"max_fails":0,"fail_timeout":30,"down":1}'),
  ];
  assert.deepEqual(translateConsulKv(body, ctx(PATH, "1234")), {
    servers: [
      registrySpec("127.0.0.1:8081"),
      registrySpec("127.0.0.1:8082", { weight: 3, maxFails: 0, failTimeout: 30_000, down: true }),
    ],
    index: "1234",
    skipped: [{ key: "upstreams/test/", reason: "upsync_check_key: has no port in /" }],
    warnings: [],
  });
});

test("registry order is the answer's order (Consul sorts keys); nothing is re-sorted or reversed", () => {
  const body = ["10.0.0.10:80", "10.0.0.9:80", "10.0.0.1:80"].map((a) => kv(`upstreams/test/${a}`, null));
  assert.deepEqual(addrs(snap(translateConsulKv(body, ctx(PATH)))), [
    "10.0.0.10:80",
    "10.0.0.9:80",
    "10.0.0.1:80",
  ]);
});

test("empty: Consul's 404 (null) and [] are an empty list, for the applier to refuse", () => {
  for (const body of [null, [], "[]", "null"]) {
    assert.deepEqual(translateConsulKv(body, ctx(PATH, "7")), {
      servers: [],
      index: "7",
      skipped: [],
      warnings: [],
    });
  }
  // A folder holding only its own key is an empty list too.
  const only = snap(translateConsulKv([kv("upstreams/test/", null)], ctx(PATH)));
  assert.deepEqual(only.servers, []);
});

test("answers that are not a key list are errors: nothing applies", () => {
  const rows: [unknown, string][] = [
    ["<html>502</html>", "upsync_parse_json: root error"],
    ['[{"Key":', "upsync_parse_json: root error"],
    ["{}", "upsync_parse_json: root is not an array of keys"],
    [{ Key: "upstreams/test/1.2.3.4:80" }, "upsync_parse_json: root is not an array of keys"],
    [42, "upsync_parse_json: root is not an array of keys"],
  ];
  for (const [body, error] of rows)
    assert.deepEqual(translateConsulKv(body, ctx(PATH)), { error }, String(body));
});

test("a raw JSON text body is parsed first", () => {
  const text = JSON.stringify([kv("upstreams/test/1.2.3.4:80", '{"weight":2}')]);
  assert.deepEqual(snap(translateConsulKv(text, ctx(PATH))).servers, [
    registrySpec("1.2.3.4:80", { weight: 2 }),
  ]);
});

test("the path is a folder: upstreams/test never takes upstreams/test2/ or upstreams/testing/ (issue 4)", () => {
  const body = [
    kv("upstreams/test/1.2.3.4:80", null),
    kv("upstreams/test2/1.2.3.5:80", null),
    kv("upstreams/testing/1.2.3.6:80", null),
  ];
  for (const path of ["/v1/kv/upstreams/test", "/v1/kv/upstreams/test/"]) {
    const s = snap(translateConsulKv(body, ctx(path)));
    assert.deepEqual(addrs(s), ["1.2.3.4:80"], path);
    assert.deepEqual(s.skipped, [
      {
        key: "upstreams/test2/1.2.3.5:80",
        reason: 'upsync_check_key: upstreams/test2/1.2.3.5:80 is outside the folder "upstreams/test/"',
      },
      {
        key: "upstreams/testing/1.2.3.6:80",
        reason: 'upsync_check_key: upstreams/testing/1.2.3.6:80 is outside the folder "upstreams/test/"',
      },
    ]);
  }
});

test("nested keys are not servers (the module took the last segment of any key)", () => {
  const body = [
    kv("upstreams/test/sub/", null),
    kv("upstreams/test/sub/1.2.3.4:80", null),
    kv("upstreams/test/1.2.3.5:80", null),
  ];
  const s = snap(translateConsulKv(body, ctx(PATH)));
  assert.deepEqual(addrs(s), ["1.2.3.5:80"]);
  assert.deepEqual(s.skipped, [
    {
      key: "upstreams/test/sub/",
      reason: 'upsync_check_key: upstreams/test/sub/ is in a sub-folder of "upstreams/test/"',
    },
    {
      key: "upstreams/test/sub/1.2.3.4:80",
      reason: 'upsync_check_key: upstreams/test/sub/1.2.3.4:80 is in a sub-folder of "upstreams/test/"',
    },
  ]);
});

test("bad keys are skipped one by one with a reason, the rest applies", () => {
  const body = [
    kv("upstreams/test/1.2.3.4", null),
    kv("upstreams/test/backend.local:80", null),
    kv("upstreams/test/1.2.3.4:0", null),
    kv("upstreams/test/1.2.3.4:70000", null),
    kv("upstreams/test/1.2.3.4:80", null),
    kv("upstreams/test/[::1]:8080", null),
  ];
  const s = snap(translateConsulKv(body, ctx(PATH)));
  assert.deepEqual(addrs(s), ["1.2.3.4:80", "[::1]:8080"]);
  assert.deepEqual(s.skipped, [
    { key: "upstreams/test/1.2.3.4", reason: "upsync_check_key: has no port in /1.2.3.4" },
    { key: "upstreams/test/backend.local:80", reason: "upsync_check_key: invalid ip in /backend.local:80" },
    { key: "upstreams/test/1.2.3.4:0", reason: "upsync_check_key: invalid port in /1.2.3.4:0" },
    { key: "upstreams/test/1.2.3.4:70000", reason: "upsync_check_key: invalid port in /1.2.3.4:70000" },
  ]);
});

test("elements without a Key are skipped; member names ignore case as cJSON", () => {
  const body = [
    null,
    5,
    { Value: null },
    { Key: 7 },
    { key: "upstreams/test/1.2.3.4:80", value: Buffer.from('{"weight":4}').toString("base64") },
  ];
  const s = snap(translateConsulKv(body, ctx(PATH)));
  assert.deepEqual(s.servers, [registrySpec("1.2.3.4:80", { weight: 4 })]);
  assert.deepEqual(
    s.skipped.map((n) => n.key),
    ["#0", "#1", "#2", "#3"],
  );
  assert.equal(s.skipped[2]!.reason, 'upsync_parse_json: element 2 has no "Key"');
});

test("duplicates are de-duplicated, the first wins (the module made duplicate peers)", () => {
  const body = [
    kv("upstreams/test/10.0.0.1:080", '{"weight":5}'),
    kv("upstreams/test/10.0.0.1:80", '{"weight":9}'),
    kv("upstreams/test/[::1]:80", null),
    kv("upstreams/test/[0:0::1]:80", null),
  ];
  const s = snap(translateConsulKv(body, ctx(PATH)));
  assert.deepEqual(s.servers, [registrySpec("10.0.0.1:80", { weight: 5 }), registrySpec("[::1]:80")]);
  assert.deepEqual(s.skipped, [
    {
      key: "upstreams/test/10.0.0.1:80",
      reason: "duplicate of upstreams/test/10.0.0.1:080 (server 10.0.0.1:80), the first entry wins",
    },
    {
      key: "upstreams/test/[0:0::1]:80",
      reason: "duplicate of upstreams/test/[::1]:80 (server [::1]:80), the first entry wins",
    },
  ]);
});

test("fields are replaced, not merged: a serving server's old attributes do not leak into the new value", () => {
  const current = [
    registrySpec("127.0.0.1:8088", { weight: 20, maxFails: 0, failTimeout: 30_000, down: true }),
  ];
  const s = snap(
    translateConsulKv([kv("upstreams/test/127.0.0.1:8088", '{"weight":40}')], ctx(PATH, "9", current)),
  );
  assert.deepEqual(s.servers, [registrySpec("127.0.0.1:8088", { weight: 40 })]);
});

test("an unusable value skips a new server, and a serving one keeps its last good attributes (issue 4)", () => {
  const serving = registrySpec("10.0.0.1:80", {
    weight: 7,
    backup: true,
    origin: { file: "/etc/dump.conf", line: 3 },
  });
  const body = [
    kv("upstreams/test/10.0.0.1:80", "{weight:1}"),
    kv("upstreams/test/10.0.0.2:80", "{weight:1}"),
    kv("upstreams/test/10.0.0.3:80", "[1]"),
    { Key: "upstreams/test/10.0.0.4:80", Value: "not base64!" },
    { Key: "upstreams/test/10.0.0.5:80", Value: 12 },
    kv("upstreams/test/10.0.0.6:80", '{"weight":2}'),
  ];
  const s = snap(translateConsulKv(body, ctx(PATH, "5", [serving])));
  assert.deepEqual(s.servers, [serving, registrySpec("10.0.0.6:80", { weight: 2 })]);
  assert.deepEqual(s.skipped, [
    {
      key: "upstreams/test/10.0.0.1:80",
      reason:
        "upsync_parse_json: parse '{weight:1}' failed, server 10.0.0.1:80 keeps its last good attributes",
    },
    {
      key: "upstreams/test/10.0.0.2:80",
      reason: "upsync_parse_json: parse '{weight:1}' failed, server 10.0.0.2:80 skipped",
    },
    {
      key: "upstreams/test/10.0.0.3:80",
      reason: "upsync_parse_json: '[1]' is not a JSON object, server 10.0.0.3:80 skipped",
    },
    {
      key: "upstreams/test/10.0.0.4:80",
      reason:
        'upsync_parse_json: "Value" of upstreams/test/10.0.0.4:80 is not base64, server 10.0.0.4:80 skipped',
    },
    {
      key: "upstreams/test/10.0.0.5:80",
      reason:
        'upsync_parse_json: "Value" of upstreams/test/10.0.0.5:80 is not base64, server 10.0.0.5:80 skipped',
    },
  ]);
});

test("an unusable value does not claim the address: a later valid duplicate is taken", () => {
  const body = [kv("upstreams/test/10.0.0.1:080", "oops"), kv("upstreams/test/10.0.0.1:80", '{"weight":3}')];
  const s = snap(translateConsulKv(body, ctx(PATH)));
  assert.deepEqual(s.servers, [registrySpec("10.0.0.1:80", { weight: 3 })]);
});

test("bad fields fall back to their defaults with the module's message, keyed by the registry key", () => {
  const body = [kv("upstreams/test/10.0.0.1:80", '{"weight":0,"fail_timeout":"10s","max_fails":null}')];
  const s = snap(translateConsulKv(body, ctx(PATH)));
  assert.deepEqual(s.servers, [registrySpec("10.0.0.1:80")]);
  assert.deepEqual(s.warnings, [
    { key: "upstreams/test/10.0.0.1:80", reason: '"weight" value is invalid, setting default value 1' },
    {
      key: "upstreams/test/10.0.0.1:80",
      reason: '"fail_timeout" value is invalid, setting default value 10',
    },
  ]);
  assert.deepEqual(s.skipped, []);
});

test("servers carry the origin the caller gives", () => {
  const origin = { file: "consul:upstreams/test/", line: 0 };
  const s = snap(translateConsulKv([kv("upstreams/test/1.2.3.4:80", null)], { ...ctx(PATH), origin }));
  assert.deepEqual(s.servers[0]!.origin, origin);
});

test("KV folder of an upsync path", () => {
  const rows: [string, string][] = [
    ["/v1/kv/upstreams/test/", "upstreams/test/"],
    ["/v1/kv/upstreams/test", "upstreams/test/"],
    ["/v1/kv/upstreams/test?dc=dc1", "upstreams/test/"],
    ["/v1/kv/upstreams/test/?token=x", "upstreams/test/"],
    ["/v1/kv//upstreams/test", "upstreams/test/"],
    ["/v1/kv/", ""],
    ["/v1/kv", ""],
    ["/upstreams/test", "upstreams/test/"],
  ];
  for (const [path, folder] of rows) assert.equal(consulKvFolder(path), folder, path);
  // At the root every direct key is a server.
  const s = snap(translateConsulKv([kv("1.2.3.4:80", null), kv("x/1.2.3.5:80", null)], ctx("/v1/kv/")));
  assert.deepEqual(addrs(s), ["1.2.3.4:80"]);
});
