/** etcd v2 directory listings (spec §3.3) and etcd v3 range answers → snapshots. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { etcd2Directory, translateEtcd2 } from "../../src/discovery/etcd2.js";
import { etcd3Prefix, etcd3RangeEnd, translateEtcd3 } from "../../src/discovery/etcd3.js";
import { addrs, ctx, etcd2Listing, etcd3Range, registrySpec, snap } from "./fixtures.js";

const V2 = "/v2/keys/upstreams/test";
const V3 = "/upstreams/test/";

test("etcd v2: a listing's direct children, sorted by key, values as raw JSON", () => {
  const body = etcd2Listing("/upstreams/test", [
    { key: "/upstreams/test/127.0.0.1:8082", value: '{"weight":2,"down":1}' },
    { key: "/upstreams/test/127.0.0.1:8081", value: '{"weight":1,"max_fails":2,"fail_timeout":10}' },
    { key: "/upstreams/test/127.0.0.1:8083" },
  ]);
  assert.deepEqual(translateEtcd2(body, ctx(V2, "19")), {
    servers: [
      registrySpec("127.0.0.1:8081"),
      registrySpec("127.0.0.1:8082", { weight: 2, down: true }),
      registrySpec("127.0.0.1:8083"),
    ],
    index: "19",
    skipped: [],
    warnings: [],
  });
});

test("etcd v2: a deleted or empty directory is an empty list for the applier to refuse", () => {
  const empty = { servers: [], index: "42", skipped: [], warnings: [] };
  // The I/O layer passes the 404 as null; an errorCode 100 body and a dir without `nodes` mean the same.
  assert.deepEqual(translateEtcd2(null, ctx(V2)), empty);
  assert.deepEqual(
    translateEtcd2(
      { errorCode: 100, message: "Key not found", cause: "/upstreams/test", index: 41 },
      ctx(V2),
    ),
    empty,
  );
  assert.deepEqual(
    translateEtcd2({ action: "get", node: { key: "/upstreams/test", dir: true, modifiedIndex: 4 } }, ctx(V2)),
    empty,
  );
  assert.deepEqual(translateEtcd2(etcd2Listing("/upstreams/test", []), ctx(V2)), empty);
});

test("etcd v2: answers that are not a listing are errors", () => {
  const rows: [unknown, string][] = [
    ["garbage", "upsync_parse_json: root error"],
    [[1], "upsync_parse_json: root is not an object"],
    [
      { errorCode: 401, message: "The event in requested index is outdated and cleared", index: 900 },
      "etcd error 401: The event in requested index is outdated and cleared",
    ],
    [
      { action: "set", node: { key: "/upstreams/test/1.2.3.4:80", value: "" } },
      'etcd "set" event is not a directory listing',
    ],
    [{ action: "get" }, "upsync_parse_json: node is null"],
    [
      { action: "get", node: { key: "/upstreams/test", value: "x" } },
      "upsync_parse_json: /upstreams/test is not a directory",
    ],
    [
      { action: "get", node: { key: "/upstreams/test", dir: true, nodes: {} } },
      "upsync_parse_json: nodes is not an array",
    ],
  ];
  for (const [body, error] of rows)
    assert.deepEqual(translateEtcd2(body, ctx(V2)), { error }, JSON.stringify(body));
});

test("etcd v2: sub-directories and bad keys skipped; unusable values follow the issue's rule", () => {
  const serving = registrySpec("10.0.0.1:80", { weight: 9 });
  const body = etcd2Listing("/upstreams/test", [
    { key: "/upstreams/test/sub", dir: true },
    { key: "/upstreams/test/10.0.0.1:80", value: "{bad" },
    { key: "/upstreams/test/10.0.0.2:80", value: "{bad" },
    { key: "/upstreams/test/10.0.0.3", value: "" },
    { key: "/upstreams/other/10.0.0.4:80", value: "" },
    { key: "/upstreams/test/10.0.0.5:80", value: '{"weight":"x"}' },
  ]);
  const s = snap(translateEtcd2(body, ctx(V2, "8", [serving])));
  assert.deepEqual(s.servers, [serving, registrySpec("10.0.0.5:80")]);
  assert.deepEqual(s.skipped, [
    {
      key: "/upstreams/other/10.0.0.4:80",
      reason: 'upsync_check_key: /upstreams/other/10.0.0.4:80 is outside the folder "/upstreams/test/"',
    },
    {
      key: "/upstreams/test/10.0.0.1:80",
      reason: "upsync_parse_json: parse '{bad' failed, server 10.0.0.1:80 keeps its last good attributes",
    },
    {
      key: "/upstreams/test/10.0.0.2:80",
      reason: "upsync_parse_json: parse '{bad' failed, server 10.0.0.2:80 skipped",
    },
    { key: "/upstreams/test/10.0.0.3", reason: "upsync_check_key: has no port in /10.0.0.3" },
    {
      key: "/upstreams/test/sub",
      reason: 'upsync_check_key: /upstreams/test/sub is in a sub-folder of "/upstreams/test/"',
    },
  ]);
  assert.deepEqual(s.warnings, [
    { key: "/upstreams/test/10.0.0.5:80", reason: '"weight" value is invalid, setting default value 1' },
  ]);
});

test("etcd v2: the directory of an upsync path", () => {
  const rows: [string, string][] = [
    ["/v2/keys/upstreams/test", "/upstreams/test"],
    ["/v2/keys/upstreams/test/", "/upstreams/test"],
    ["/v2/keys/upstreams/test?recursive=true", "/upstreams/test"],
    ["/v2/keys/", "/"],
    ["/v2/keysx/a", "/v2/keysx/a"],
  ];
  for (const [path, dir] of rows) assert.equal(etcd2Directory(path), dir, path);
  // A listing without its own key falls back to the path's directory.
  const body = {
    action: "get",
    node: { dir: true, nodes: [{ key: "/upstreams/test/1.2.3.4:80", value: "" }] },
  };
  assert.deepEqual(addrs(snap(translateEtcd2(body, ctx(V2)))), ["1.2.3.4:80"]);
});

test("etcd v3: kvs decoded, sorted by key, the revision is the index", () => {
  const body = etcd3Range("57", [
    { key: "/upstreams/test/10.0.0.2:80", value: '{"weight":5,"backup":1}' },
    { key: "/upstreams/test/10.0.0.1:80", value: null },
    { key: "/upstreams/test/[::1]:80", value: '{"down":true}' },
  ]);
  assert.deepEqual(translateEtcd3(body, ctx(V3, "")), {
    servers: [
      registrySpec("10.0.0.1:80"),
      registrySpec("10.0.0.2:80", { weight: 5, backup: true }),
      registrySpec("[::1]:80", { down: true }),
    ],
    index: "57",
    skipped: [],
    warnings: [],
  });
});

test("etcd v3: no key under the prefix is an empty list at the answer's revision", () => {
  assert.deepEqual(translateEtcd3(etcd3Range("90", []), ctx(V3, "")), {
    servers: [],
    index: "90",
    skipped: [],
    warnings: [],
  });
  assert.deepEqual(translateEtcd3(null, ctx(V3, "5")), {
    servers: [],
    index: "5",
    skipped: [],
    warnings: [],
  });
  assert.equal(snap(translateEtcd3({ header: { revision: 12 } }, ctx(V3, "5"))).index, "12");
});

test("etcd v3: the prefix is exact (leading slash included) and a folder", () => {
  const body = etcd3Range("3", [
    { key: "/upstreams/test/1.2.3.4:80", value: null },
    { key: "/upstreams/test2/1.2.3.5:80", value: null },
    { key: "upstreams/test/1.2.3.6:80", value: null },
    { key: "/upstreams/test/sub/1.2.3.7:80", value: null },
  ]);
  for (const path of ["/upstreams/test/", "/upstreams/test"]) {
    const s = snap(translateEtcd3(body, ctx(path)));
    assert.deepEqual(addrs(s), ["1.2.3.4:80"]);
    assert.deepEqual(s.skipped, [
      {
        key: "/upstreams/test/sub/1.2.3.7:80",
        reason: 'upsync_check_key: /upstreams/test/sub/1.2.3.7:80 is in a sub-folder of "/upstreams/test/"',
      },
      {
        key: "/upstreams/test2/1.2.3.5:80",
        reason: 'upsync_check_key: /upstreams/test2/1.2.3.5:80 is outside the folder "/upstreams/test/"',
      },
      {
        key: "upstreams/test/1.2.3.6:80",
        reason: 'upsync_check_key: upstreams/test/1.2.3.6:80 is outside the folder "/upstreams/test/"',
      },
    ]);
  }
  assert.equal(etcd3Prefix("/upstreams/x"), "/upstreams/x/");
  assert.equal(etcd3Prefix("/upstreams/x/"), "/upstreams/x/");
  assert.equal(etcd3Prefix("upstreams/x/"), "upstreams/x/");
});

test("etcd v3: bad kvs and values", () => {
  const serving = registrySpec("10.0.0.1:80", { maxFails: 0 });
  const body = {
    header: { revision: "4" },
    kvs: [
      { key: "!!" },
      { value: "e30=" },
      {
        key: Buffer.from("/upstreams/test/10.0.0.1:80").toString("base64"),
        value: Buffer.from("nope").toString("base64"),
      },
      { key: Buffer.from("/upstreams/test/10.0.0.2:80").toString("base64"), value: "%%%" },
      { key: Buffer.from("/upstreams/test/10.0.0.3:80").toString("base64"), value: "e30=" },
    ],
  };
  const s = snap(translateEtcd3(body, ctx(V3, "", [serving])));
  assert.deepEqual(s.servers, [serving, registrySpec("10.0.0.3:80")]);
  assert.deepEqual(s.skipped, [
    { key: "#0", reason: 'upsync_parse_json: kv 0 has no base64 "key"' },
    { key: "#1", reason: 'upsync_parse_json: kv 1 has no base64 "key"' },
    {
      key: "/upstreams/test/10.0.0.1:80",
      reason: "upsync_parse_json: parse 'nope' failed, server 10.0.0.1:80 keeps its last good attributes",
    },
    {
      key: "/upstreams/test/10.0.0.2:80",
      reason:
        'upsync_parse_json: "value" of /upstreams/test/10.0.0.2:80 is not base64, server 10.0.0.2:80 skipped',
    },
  ]);
  assert.deepEqual(translateEtcd3({ kvs: 3 }, ctx(V3)), { error: "upsync_parse_json: kvs is not an array" });
  assert.deepEqual(translateEtcd3([], ctx(V3)), { error: "upsync_parse_json: root is not an object" });
});

test("etcd v3: range end of a prefix", () => {
  assert.equal(etcd3RangeEnd("/upstreams/test/").toString("utf8"), "/upstreams/test0");
  assert.deepEqual(etcd3RangeEnd("a\u00ff"), Buffer.from([0x61, 0xc3, 0xc0])); // UTF-8 c3 bf → c3 c0
  assert.deepEqual(etcd3RangeEnd(""), Buffer.from([0]));
});
