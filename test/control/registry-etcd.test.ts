/**
 * The etcd writers (issue 6) against a real etcd 3.4 (test/support/etcd.ts): v2 keys API (`upsync_type=etcd`) and
 * v3 through the JSON gateway (`etcd3`). Round trips read back through etcd's own API and through the translators
 * the watch loops apply; idempotent removal; Basic auth (v2) and token auth (v3); an unreachable etcd.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { UpsyncConf } from "../../src/config/types.js";
import { registryWriter } from "../../src/control/registry-writer.js";
import { DEFAULT_VALUE, type RegistryWriter } from "../../src/control/types.js";
import { translateEtcd2 } from "../../src/discovery/etcd2.js";
import { etcd3RangeEnd, translateEtcd3 } from "../../src/discovery/etcd3.js";
import { type Etcd, startEtcd } from "../support/etcd.js";
import { freePort } from "../support/ports.js";
import { failsWith, show, value } from "../support/registry.js";
import { upsyncConf } from "../discovery/watch-harness.js";

let etcd: Etcd;
let dead: number;
before(async () => {
  etcd = await startEtcd({ v2: true });
  dead = await freePort();
});
after(async () => {
  await etcd.close();
});

const conf = (type: "etcd" | "etcd3", path: string, over: Partial<UpsyncConf> = {}): UpsyncConf =>
  upsyncConf(type, [etcd.clientPort], path, over);

/** What the v2 watch loop would apply: translateEtcd2 over etcd's own listing of `dir`. */
async function applied2(dir: string): Promise<string[]> {
  const a = await etcd.get2(dir, true);
  const t = translateEtcd2(a.status === 404 ? null : a.body, {
    path: `/v2/keys${dir}`,
    index: "1",
    current: [],
  });
  if ("error" in t) throw new Error(t.error);
  return t.servers.map(show);
}

/** What the v3 watch loop would apply: translateEtcd3 over etcd's own range of `prefix`. */
async function applied3(prefix: string): Promise<string[]> {
  const res = await fetch(`${etcd.url}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify({
      key: Buffer.from(prefix).toString("base64"),
      range_end: etcd3RangeEnd(prefix).toString("base64"),
    }),
  });
  const t = translateEtcd3(await res.json(), { path: prefix, index: "", current: [] });
  if ("error" in t) throw new Error(t.error);
  return t.servers.map(show);
}

const text = (weight: number, down = 0): string =>
  `{"weight":${weight},"max_fails":2,"fail_timeout":10,"down":${down},"backup":0}`;

/** The round trip both versions share: two puts, a replace, removals (one repeated), and the empty list. */
async function roundTrip(w: RegistryWriter, stored: (addr: string) => Promise<string | null>): Promise<void> {
  assert.deepEqual(await w.list(), []);
  await w.put("10.0.0.2:80", value({ weight: 2, max_fails: 0, fail_timeout: 30, backup: 1 }));
  await w.put("10.0.0.1:80", DEFAULT_VALUE);
  assert.equal(await stored("10.0.0.1:80"), text(1));
  assert.equal(
    await stored("10.0.0.2:80"),
    '{"weight":2,"max_fails":0,"fail_timeout":30,"down":0,"backup":1}',
  );
  assert.deepEqual(await w.list(), [
    { address: "10.0.0.1:80", value: DEFAULT_VALUE },
    { address: "10.0.0.2:80", value: value({ weight: 2, max_fails: 0, fail_timeout: 30, backup: 1 }) },
  ]);
  await w.put("10.0.0.2:80", value({ weight: 5, down: 1 }));
  assert.equal(await stored("10.0.0.2:80"), text(5, 1));
  await w.remove("10.0.0.2:80");
  await w.remove("10.0.0.2:80");
  assert.equal(await stored("10.0.0.2:80"), null);
  assert.deepEqual(await w.list(), [{ address: "10.0.0.1:80", value: DEFAULT_VALUE }]);
}

test("etcd v2: put, replace, remove, list, read back by etcd and by the v2 translator", async () => {
  const w = registryWriter(conf("etcd", "/v2/keys/upstreams/rt2"), null);
  assert.equal(w.source, `etcd 127.0.0.1:${etcd.clientPort}/v2/keys/upstreams/rt2`);
  const stored = async (addr: string): Promise<string | null> => {
    const a = await etcd.get2(`/upstreams/rt2/${addr}`);
    return a.status === 404 ? null : String((a.body.node as { value: unknown }).value);
  };
  await roundTrip(w, stored);
  assert.deepEqual(await applied2("/upstreams/rt2"), ["10.0.0.1:80 w=1 mf=2 ft=10000"]);

  // The README's own curl form is read as the module reads it; a sub-directory is left alone.
  await etcd.put2("/upstreams/rt2/10.0.0.3:80", '{"weight":3, "max_fails":2, "fail_timeout":10}');
  await etcd.put2("/upstreams/rt2/sub/10.0.0.9:80", "{}");
  assert.deepEqual(
    (await w.list()).map((s) => `${s.address} ${s.value.weight}`),
    ["10.0.0.1:80 1", "10.0.0.3:80 3"],
  );
  await w.remove("10.0.0.1:80");
  await w.remove("10.0.0.3:80");
  assert.deepEqual(await w.list(), []); // the empty directory (etcd omits `nodes`)
  assert.equal((await etcd.get2("/upstreams/rt2/sub/10.0.0.9:80")).status, 200);
});

test("etcd v2: a directory that does not exist lists empty and is created by the first put", async () => {
  const w = registryWriter(conf("etcd", "/v2/keys/upstreams/fresh2/"), null);
  assert.deepEqual(await w.list(), []);
  await w.remove("10.0.0.1:80"); // nothing there: still no error
  await w.put("[2001:DB8::1]:8080", DEFAULT_VALUE);
  assert.deepEqual(await applied2("/upstreams/fresh2"), ["[2001:db8::1]:8080 w=1 mf=2 ft=10000"]);
  assert.equal((await etcd.get2("/upstreams/fresh2/[2001:db8::1]:8080")).status, 200);
});

test("etcd v2: user:password goes as Basic auth; none or a wrong one is RegistryDenied without the password", async (t) => {
  await etcd.enableAuth2("pw-s3cret");
  t.after(() => etcd.disableAuth2());
  const c = conf("etcd", "/v2/keys/upstreams/auth2");
  const w = registryWriter(c, "root:pw-s3cret");
  await w.put("10.0.0.1:80", DEFAULT_VALUE);
  assert.deepEqual(await w.list(), [{ address: "10.0.0.1:80", value: DEFAULT_VALUE }]);
  await w.remove("10.0.0.1:80");

  const where = `127.0.0.1:${etcd.clientPort}`;
  const wrong = await failsWith(registryWriter(c, "root:wrong-s3cret").list(), "RegistryDenied");
  assert.equal(
    wrong,
    `etcd ${where}/v2/keys/upstreams/auth2: upsync_server ${where} answered http_status: 401 ` +
      `(The request requires user authentication) to list /upstreams/auth2`,
  );
  await failsWith(registryWriter(c, null).put("10.0.0.1:80", DEFAULT_VALUE), "RegistryDenied");
});

test("etcd v3: put, replace, remove, list, read back by etcd and by the v3 translator", async () => {
  const w = registryWriter(conf("etcd3", "/upstreams/rt3"), null);
  assert.equal(w.source, `etcd3 127.0.0.1:${etcd.clientPort}/upstreams/rt3`);
  const stored = async (addr: string): Promise<string | null> => {
    const { kvs } = await etcd.get3(`/upstreams/rt3/${addr}`);
    return kvs.find((kv) => kv.key === `/upstreams/rt3/${addr}`)?.value ?? null;
  };
  await roundTrip(w, stored);
  assert.deepEqual(await applied3("/upstreams/rt3/"), ["10.0.0.1:80 w=1 mf=2 ft=10000"]);

  // A key spelled another way is the one written; a neighbouring prefix is not this folder.
  await etcd.put3("/upstreams/rt3/010.0.0.4:80", '{"weight":4}');
  await etcd.put3("/upstreams/rt3x/10.0.0.4:80", "{}");
  await w.put("10.0.0.4:80", value({ weight: 8 }));
  assert.equal(await stored("010.0.0.4:80"), text(8));
  assert.equal(await stored("10.0.0.4:80"), null);
  // Key order: "/upstreams/rt3/010.0.0.4:80" sorts first.
  assert.deepEqual(await applied3("/upstreams/rt3/"), [
    "10.0.0.4:80 w=8 mf=2 ft=10000",
    "10.0.0.1:80 w=1 mf=2 ft=10000",
  ]);
  await w.remove("10.0.0.4:80");
  await w.remove("10.0.0.1:80");
  assert.deepEqual(await w.list(), []);
  assert.equal((await etcd.get3("/upstreams/rt3x/")).kvs.length, 1);
});

test("etcd v3: user:password is exchanged for a token; a wrong one or none is RegistryDenied", async (t) => {
  await etcd.enableAuth3("pw3-s3cret");
  t.after(() => etcd.disableAuth3());
  const c = conf("etcd3", "/upstreams/auth3/");
  const w = registryWriter(c, "root:pw3-s3cret");
  await w.put("10.0.0.1:80", DEFAULT_VALUE);
  assert.deepEqual(await w.list(), [{ address: "10.0.0.1:80", value: DEFAULT_VALUE }]);
  await w.remove("10.0.0.1:80");
  assert.deepEqual(await w.list(), []);

  const where = `127.0.0.1:${etcd.clientPort}`;
  const wrong = await failsWith(
    registryWriter(c, "root:bad-s3cret").put("10.0.0.1:80", DEFAULT_VALUE),
    "RegistryDenied",
  );
  assert.equal(
    wrong,
    `etcd3 ${where}/upstreams/auth3/: upsync_server ${where} answered http_status: 400 ` +
      `(etcdserver: authentication failed, invalid user ID or password) to authenticate`,
  );
  const none = await failsWith(registryWriter(c, null).list(), "RegistryDenied");
  assert.match(none, /\(etcdserver: user name is empty\) to list \/upstreams\/auth3\/$/);
});

test("etcd unreachable: each address tried, then RegistryUnreachable naming them, never the password", async () => {
  for (const [type, path] of [
    ["etcd", "/v2/keys/upstreams/down"],
    ["etcd3", "/upstreams/down/"],
  ] as const) {
    // A dead address first, a live one second: the call succeeds.
    const w = registryWriter(upsyncConf(type, [dead, etcd.clientPort], path), null);
    await w.put("10.0.0.1:80", DEFAULT_VALUE);
    await w.remove("10.0.0.1:80");

    const gone = registryWriter(upsyncConf(type, [dead], path), "root:pw-s3cret");
    const msg = await failsWith(gone.put("10.0.0.1:80", DEFAULT_VALUE), "RegistryUnreachable");
    assert.equal(
      msg,
      `${type} 127.0.0.1:${dead}${path}: cannot connect to upsync_server 127.0.0.1:${dead} (ECONNREFUSED)`,
    );
    assert.ok(!msg.includes("s3cret"));
  }
});

test("etcd frozen (SIGSTOP): the call fails within the writer's timeout", async (t) => {
  etcd.pause();
  t.after(() => etcd.resume());
  const w = registryWriter(conf("etcd3", "/upstreams/frozen/"), null, { timeout: 300 });
  const started = Date.now();
  const msg = await failsWith(w.list(), "RegistryUnreachable");
  assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  assert.match(msg, /: upsync_timeout: timed out reading upsync_server: 127\.0\.0\.1:\d+$/);
});
