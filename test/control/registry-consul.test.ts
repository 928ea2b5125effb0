/**
 * The Consul KV writer (issue 6) against the Consul double: the exact requests (upsync spec §2.5), read back through
 * Consul's own API and through the translator the watch loop applies, aliases of an address, ACL tokens, and every
 * way a registry fails (refused, hanging, 5xx, a wrong answer) with messages that name the address, never the token.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { UpsyncConf } from "../../src/config/types.js";
import { registryWriter } from "../../src/control/registry-writer.js";
import { ControlError, DEFAULT_VALUE } from "../../src/control/types.js";
import { translateConsulKv } from "../../src/discovery/consul-kv.js";
import { type ConsulDouble, startConsulDouble } from "../support/consul-double.js";
import { freePort } from "../support/ports.js";
import { failsWith, show } from "../support/registry.js";
import { upsyncConf } from "../discovery/watch-harness.js";

let consul: ConsulDouble;
let dead: number;
before(async () => {
  consul = await startConsulDouble();
  dead = await freePort();
});
after(async () => {
  await consul.stop();
});

const conf = (folder: string, over: Partial<UpsyncConf> = {}): UpsyncConf =>
  upsyncConf("consul", [consul.port], `/v1/kv/upstreams/${folder}/`, over);

/** What the watch loop would apply from the folder now: translateConsulKv over Consul's own answer. */
async function applied(folder: string): Promise<string[]> {
  const res = await fetch(`http://${consul.address}/v1/kv/upstreams/${folder}/?recurse`);
  const body = res.status === 404 ? null : await res.json();
  const t = translateConsulKv(body, { path: `/v1/kv/upstreams/${folder}/`, index: "1", current: [] });
  if ("error" in t) throw new Error(t.error);
  return t.servers.map(show);
}

const stored = (key: string): string | null | undefined => {
  const e = consul.get(key);
  return e === undefined ? undefined : (e.value?.toString("utf8") ?? null);
};

test("put, replace, remove, list: the module's requests and value, read back by Consul and the translator", async () => {
  const w = registryWriter(conf("rt"), null);
  assert.equal(w.source, `consul 127.0.0.1:${consul.port}/v1/kv/upstreams/rt/`);
  assert.deepEqual(await w.list(), []); // Consul's 404 for an empty folder

  consul.requests.length = 0;
  await w.put("10.0.0.2:80", { weight: 2, max_fails: 0, fail_timeout: 30, down: 0, backup: 1 });
  await w.put("10.0.0.1:80", DEFAULT_VALUE);
  const writes = consul.requests.filter((r) => r.method !== "GET");
  assert.deepEqual(
    writes.map((r) => [r.method, r.url, r.headers["content-type"], r.body.toString()]),
    [
      [
        "PUT",
        "/v1/kv/upstreams/rt/10.0.0.2:80",
        "application/json",
        '{"weight":2,"max_fails":0,"fail_timeout":30,"down":0,"backup":1}',
      ],
      [
        "PUT",
        "/v1/kv/upstreams/rt/10.0.0.1:80",
        "application/json",
        '{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}',
      ],
    ],
  );
  assert.equal(
    stored("upstreams/rt/10.0.0.1:80"),
    '{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}',
  );
  assert.deepEqual(await w.list(), [
    { address: "10.0.0.1:80", value: DEFAULT_VALUE },
    { address: "10.0.0.2:80", value: { weight: 2, max_fails: 0, fail_timeout: 30, down: 0, backup: 1 } },
  ]);
  assert.deepEqual(await applied("rt"), [
    "10.0.0.1:80 w=1 mf=2 ft=10000",
    "10.0.0.2:80 w=2 mf=0 ft=30000 backup",
  ]);

  // Replacing writes the whole value: fields not given are the defaults again, not the old ones.
  await w.put("10.0.0.2:80", { ...DEFAULT_VALUE, weight: 5, down: 1 });
  assert.deepEqual(await applied("rt"), [
    "10.0.0.1:80 w=1 mf=2 ft=10000",
    "10.0.0.2:80 w=5 mf=2 ft=10000 down",
  ]);

  consul.requests.length = 0;
  await w.remove("10.0.0.2:80");
  await w.remove("10.0.0.2:80"); // idempotent, as Consul's DELETE
  assert.deepEqual(
    consul.requests.filter((r) => r.method === "DELETE").map((r) => r.url),
    ["/v1/kv/upstreams/rt/10.0.0.2:80", "/v1/kv/upstreams/rt/10.0.0.2:80"],
  );
  assert.equal(stored("upstreams/rt/10.0.0.2:80"), undefined);
  await w.remove("10.0.0.1:80");
  assert.deepEqual(await w.list(), []);
});

test("what nginx-upsync users wrote is read as the module reads it; other keys and sub-folders are left alone", async () => {
  consul.put("upstreams/seed/10.10.16.182:80", '{"weight":1, "max_fails":2, "fail_timeout":3}');
  consul.put("upstreams/seed/10.10.16.183:80"); // curl -X PUT with no body: defaults
  consul.put("upstreams/seed/", null); // the folder key
  consul.put("upstreams/seed/sub/10.0.0.9:80", "{}");
  consul.put("upstreams/seed2/10.0.0.8:80", "{}");
  const w = registryWriter(conf("seed"), null);
  assert.deepEqual(await w.list(), [
    { address: "10.10.16.182:80", value: { ...DEFAULT_VALUE, fail_timeout: 3 } },
    { address: "10.10.16.183:80", value: DEFAULT_VALUE },
  ]);
  await w.remove("10.10.16.182:80");
  assert.equal(stored("upstreams/seed/sub/10.0.0.9:80"), "{}");
  assert.equal(stored("upstreams/seed2/10.0.0.8:80"), "{}");
  assert.equal(stored("upstreams/seed/"), null);
});

test("an address spelled another way in a key: writes go to the key syncgate reads, removal takes every spelling", async () => {
  consul.put("upstreams/alias/010.0.0.1:80", '{"weight":4}');
  consul.put("upstreams/alias/10.0.0.1:80", '{"weight":9}'); // ignored by the read side: the first spelling wins
  consul.put("upstreams/alias/[0:0::1]:8080", '{"weight":3}');
  const w = registryWriter(conf("alias"), null);
  assert.deepEqual(
    (await w.list()).map((s) => [s.address, s.value.weight]),
    [
      ["10.0.0.1:80", 4],
      ["[::1]:8080", 3],
    ],
  );
  await w.put("10.0.0.1:80", { ...DEFAULT_VALUE, weight: 7 });
  assert.equal(stored("upstreams/alias/010.0.0.1:80"), valueText(7));
  assert.equal(stored("upstreams/alias/10.0.0.1:80"), '{"weight":9}');
  await w.put("[::0001]:8080", { ...DEFAULT_VALUE, weight: 6 });
  assert.equal(stored("upstreams/alias/[0:0::1]:8080"), valueText(6));
  assert.deepEqual(await applied("alias"), ["10.0.0.1:80 w=7 mf=2 ft=10000", "[::1]:8080 w=6 mf=2 ft=10000"]);

  await w.remove("10.0.0.1:80");
  await w.remove("[::1]:8080");
  assert.deepEqual(await w.list(), []);
  assert.equal(stored("upstreams/alias/010.0.0.1:80"), undefined);
  assert.equal(stored("upstreams/alias/10.0.0.1:80"), undefined);
});

const valueText = (weight: number): string =>
  `{"weight":${weight},"max_fails":2,"fail_timeout":10,"down":0,"backup":0}`;

test("the path's own query (dc=) goes with every request; a ?token= stays out of messages", async () => {
  const w = registryWriter(conf("q", { path: "/v1/kv/upstreams/q/?dc=dc1&token=hidden1" }), null);
  assert.equal(w.source, `consul 127.0.0.1:${consul.port}/v1/kv/upstreams/q/?dc=dc1&token=(hidden)`);
  consul.requests.length = 0;
  await w.put("10.0.0.1:80", DEFAULT_VALUE);
  await w.remove("10.0.0.1:80");
  assert.deepEqual(
    consul.requests.map((r) => `${r.method} ${r.url}`),
    [
      "GET /v1/kv/upstreams/q/?dc=dc1&token=hidden1&recurse",
      "PUT /v1/kv/upstreams/q/10.0.0.1:80?dc=dc1&token=hidden1",
      "GET /v1/kv/upstreams/q/?dc=dc1&token=hidden1&recurse",
      "DELETE /v1/kv/upstreams/q/10.0.0.1:80?dc=dc1&token=hidden1",
    ],
  );
});

test("an ACL token goes as X-Consul-Token; a missing or wrong one is RegistryDenied without the token", async (t) => {
  const secured = await startConsulDouble({ token: "s3cret-token" });
  t.after(() => secured.stop());
  const c = upsyncConf("consul", [secured.port], "/v1/kv/upstreams/acl/");
  const w = registryWriter(c, "s3cret-token");
  await w.put("10.0.0.1:80", DEFAULT_VALUE);
  assert.deepEqual(await w.list(), [{ address: "10.0.0.1:80", value: DEFAULT_VALUE }]);
  assert.ok(secured.requests.every((r) => r.headers["x-consul-token"] === "s3cret-token"));
  assert.ok(secured.requests.every((r) => !r.url.includes("s3cret")));

  const where = `127.0.0.1:${secured.port}`;
  const wrong = await failsWith(
    registryWriter(c, "not-the-s3cret").put("10.0.0.2:80", DEFAULT_VALUE),
    "RegistryDenied",
    502,
  );
  assert.equal(
    wrong,
    `consul ${where}/v1/kv/upstreams/acl/: upsync_server ${where} refused the ACL token: http_status 403 (ACL not found)`,
  );
  const none = await failsWith(registryWriter(c, null).list(), "RegistryDenied", 502);
  assert.match(none, /refused the ACL token: http_status 403 \(Permission denied\)$/);
  assert.equal(secured.get("upstreams/acl/10.0.0.2:80"), undefined);
});

test("unreachable: every address is tried in turn; the error names each, never the token", async (t) => {
  // The first address refuses connections, the second answers: the call succeeds, and the next starts there.
  const c = upsyncConf("consul", [dead, consul.port], "/v1/kv/upstreams/down/");
  const w = registryWriter(c, "tok-s3cret");
  await w.put("10.0.0.1:80", DEFAULT_VALUE);
  assert.equal((await w.list()).length, 1);

  const gone = registryWriter(upsyncConf("consul", [dead], "/v1/kv/upstreams/down/"), "tok-s3cret");
  const msg = await failsWith(gone.put("10.0.0.1:80", DEFAULT_VALUE), "RegistryUnreachable", 502);
  assert.equal(
    msg,
    `consul 127.0.0.1:${dead}/v1/kv/upstreams/down/: cannot connect to upsync_server 127.0.0.1:${dead} (ECONNREFUSED)`,
  );

  // A 5xx from one address and a refused connection from the other: both reasons, in the order tried.
  consul.respondWith(() => ({ status: 500, body: "rpc error: No cluster leader\n" }));
  t.after(() => consul.respondWith(null));
  const both = registryWriter(
    upsyncConf("consul", [consul.port, dead], "/v1/kv/upstreams/down/"),
    "tok-s3cret",
  );
  const msg2 = await failsWith(both.list(), "RegistryUnreachable", 502);
  assert.equal(
    msg2,
    `consul 127.0.0.1:${consul.port},127.0.0.1:${dead}/v1/kv/upstreams/down/: ` +
      `upsync_server 127.0.0.1:${consul.port} answered http_status: 500 (rpc error: No cluster leader); ` +
      `cannot connect to upsync_server 127.0.0.1:${dead} (ECONNREFUSED)`,
  );
  assert.ok(!msg.includes("s3cret") && !msg2.includes("s3cret"));
});

test("a registry that hangs is a timeout within the writer's bound; a write not answered `true` is a failure", async (t) => {
  t.after(() => consul.respondWith(null));
  consul.respondWith(() => ({ hang: true }));
  const w = registryWriter(conf("hang"), null, { timeout: 200 });
  const started = Date.now();
  const msg = await failsWith(w.list(), "RegistryUnreachable", 502);
  assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  assert.match(
    msg,
    new RegExp(`: upsync_timeout: timed out reading upsync_server: 127\\.0\\.0\\.1:${consul.port}$`),
  );

  // Writes are bounded too (they go through fetch): the default bound is min(upsync_timeout, 10 s).
  const started2 = Date.now();
  consul.respondWith((r) => (r.method === "PUT" ? { hang: true } : undefined));
  await failsWith(
    registryWriter(conf("hang", { timeout: 300 }), null).put("10.0.0.1:80", DEFAULT_VALUE),
    "RegistryUnreachable",
    502,
  );
  assert.ok(Date.now() - started2 < 1500, `took ${Date.now() - started2} ms`);

  consul.respondWith((r) => (r.method === "PUT" ? { status: 200, body: "false" } : undefined));
  const msg3 = await failsWith(w.put("10.0.0.1:80", DEFAULT_VALUE), "RegistryUnreachable", 502);
  assert.match(
    msg3,
    /upsync_server 127\.0\.0\.1:\d+ answered false to PUT upstreams\/hang\/10\.0\.0\.1:80 \(Consul answers true\)$/,
  );
});

test("bad input is refused before any request; catalog types are read-only (409)", async () => {
  const w = registryWriter(conf("bad"), null);
  consul.requests.length = 0;
  await failsWith(w.put("web1:80", DEFAULT_VALUE), "InvalidAddress", 400);
  await failsWith(w.remove("10.0.0.1"), "InvalidAddress", 400);
  await failsWith(w.put("10.0.0.1:80", { ...DEFAULT_VALUE, weight: 0 }), "InvalidValue", 400);
  assert.deepEqual(consul.requests, []);

  for (const type of ["consul_services", "consul_health"] as const) {
    const c = upsyncConf(type, [consul.port], "/v1/catalog/service/web");
    assert.throws(
      () => registryWriter(c, null, { upstream: "web" }),
      (e: unknown) =>
        e instanceof ControlError &&
        e.code === "ReadOnlySource" &&
        e.status === 409 &&
        e.message ===
          `upstream "web" follows the Consul catalog (${type}): change the service registration instead`,
    );
  }
});
