/**
 * One contract every key/value translator keeps (Consul KV, etcd v2, etcd v3): the same entries give the same
 * servers, skips and warnings whatever registry carries them — only the key text differs.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServerSpec } from "../../src/config/types.js";
import { translateConsulKv } from "../../src/discovery/consul-kv.js";
import { translateEtcd2 } from "../../src/discovery/etcd2.js";
import { translateEtcd3 } from "../../src/discovery/etcd3.js";
import type { Snapshot, Translate } from "../../src/discovery/types.js";
import { etcd2Listing, etcd3Range, kv, registrySpec, snap } from "./fixtures.js";

interface Registry {
  name: string;
  translate: Translate;
  path: string;
  /** The key a server tail is stored under. */
  key: (tail: string) => string;
  /** The registry's answer holding these entries (given in key order, as Consul and etcd v3 list them). */
  body: (entries: [string, string | null][]) => unknown;
}

const REGISTRIES: Registry[] = [
  {
    name: "consul",
    translate: translateConsulKv,
    path: "/v1/kv/upstreams/test/",
    key: (t) => `upstreams/test/${t}`,
    body: (es) => es.map(([t, v]) => kv(`upstreams/test/${t}`, v)),
  },
  {
    name: "etcd",
    translate: translateEtcd2,
    path: "/v2/keys/upstreams/test",
    key: (t) => `/upstreams/test/${t}`,
    body: (es) =>
      etcd2Listing(
        "/upstreams/test",
        es.map(([t, v]) => ({ key: `/upstreams/test/${t}`, ...(v === null ? {} : { value: v }) })),
      ),
  },
  {
    name: "etcd3",
    translate: translateEtcd3,
    path: "/upstreams/test/",
    key: (t) => `/upstreams/test/${t}`,
    body: (es) =>
      etcd3Range(
        "42",
        es.map(([t, v]) => ({ key: `/upstreams/test/${t}`, value: v })),
      ),
  },
];

/** A snapshot with the registry's key prefix taken out of every note, for comparing across registries. */
function neutral(s: Snapshot, r: Registry): unknown {
  const prefix = r.key("");
  const strip = (text: string) => text.split(prefix).join("<folder>/");
  const notes = (ns: Snapshot["skipped"]) => ns.map((n) => ({ key: strip(n.key), reason: strip(n.reason) }));
  return { servers: s.servers, index: s.index, skipped: notes(s.skipped), warnings: notes(s.warnings) };
}

function expectAll(entries: [string, string | null][], current: ServerSpec[], want: unknown): void {
  for (const r of REGISTRIES) {
    const s = snap(r.translate(r.body(entries), { path: r.path, index: "42", current }));
    assert.deepEqual(neutral(s, r), want, r.name);
  }
}

test("contract: key order, defaults, replaced values, bad keys, duplicates", () => {
  expectAll(
    [
      ["10.0.0.1:080", '{"weight":2}'],
      ["10.0.0.1:80", null],
      ["10.0.0.2:80", '{"weight":3,"max_fails":0,"fail_timeout":5,"down":1,"backup":1}'],
      ["10.0.0.3", null],
      ["[::1]:80", '{"weight":0}'],
      ["host:80", null],
    ],
    [],
    {
      servers: [
        registrySpec("10.0.0.1:80", { weight: 2 }),
        registrySpec("10.0.0.2:80", { weight: 3, maxFails: 0, failTimeout: 5_000, down: true, backup: true }),
        registrySpec("[::1]:80"),
      ],
      index: "42",
      skipped: [
        {
          key: "<folder>/10.0.0.1:80",
          reason: "duplicate of <folder>/10.0.0.1:080 (server 10.0.0.1:80), the first entry wins",
        },
        { key: "<folder>/10.0.0.3", reason: "upsync_check_key: has no port in /10.0.0.3" },
        { key: "<folder>/host:80", reason: "upsync_check_key: invalid ip in /host:80" },
      ],
      warnings: [{ key: "<folder>/[::1]:80", reason: '"weight" value is invalid, setting default value 1' }],
    },
  );
});

test("contract: an unusable value skips a new server and keeps a serving one as it was", () => {
  const serving = registrySpec("10.0.0.1:80", { weight: 6, down: true });
  expectAll(
    [
      ["10.0.0.1:80", "{"],
      ["10.0.0.2:80", "7"],
    ],
    [serving],
    {
      servers: [serving],
      index: "42",
      skipped: [
        {
          key: "<folder>/10.0.0.1:80",
          reason: "upsync_parse_json: parse '{' failed, server 10.0.0.1:80 keeps its last good attributes",
        },
        {
          key: "<folder>/10.0.0.2:80",
          reason: "upsync_parse_json: '7' is not a JSON object, server 10.0.0.2:80 skipped",
        },
      ],
      warnings: [],
    },
  );
});

test("contract: a value with no servers left is an empty list, not an error", () => {
  expectAll([["bad", null]], [], {
    servers: [],
    index: "42",
    skipped: [{ key: "<folder>/bad", reason: "upsync_check_key: has no port in /bad" }],
    warnings: [],
  });
});
