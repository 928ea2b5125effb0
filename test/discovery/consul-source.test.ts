/** The Consul KV watch loop (issue 4 items 2 and 5) against the Consul double, over real loopback sockets. */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import type { UpsyncConf } from "../../src/config/types.js";
import { consulUrl, consulWait, retryDelay, watchConsul } from "../../src/discovery/consul-source.js";
import { type ConsulDouble, type Injected, startConsulDouble } from "../support/consul-double.js";
import { freePort } from "../support/ports.js";
import { addrs, registrySpec } from "./fixtures.js";
import { ok, sleep, until, upsyncConf, watch } from "./watch-harness.js";

const FOLDER = "upstreams/test/";
const PATH = `/v1/kv/${FOLDER}`;

/** An `upsync` of type consul on these loopback ports: 50 ms interval, 2 s timeout (so wait=1s, the floor). */
const consulConf = (ports: number[], over: Partial<UpsyncConf> = {}): UpsyncConf =>
  upsyncConf("consul", ports, PATH, over);

async function double(t: TestContext, token?: string): Promise<ConsulDouble> {
  const c = await startConsulDouble({ token: token ?? null });
  t.after(() => c.stop());
  return c;
}

test("pure parts: wait, URL with an existing query, backoff", () => {
  assert.equal(consulWait(360_000), 336_500); // default upsync_timeout 6m
  assert.equal(consulWait(3_600_000), 600_000); // Consul's 10 min cap
  assert.equal(consulWait(2000), 1000); // floor
  assert.equal(consulWait(1200), 1000); // 1 s + Consul's jitter (62 ms) still ends before the timeout
  assert.equal(consulWait(1000), 750); // a 1 s wait would not
  assert.equal(consulWait(100), 100);
  const a = { host: "127.0.0.1", port: 8500 };
  assert.equal(consulUrl("http", a, PATH, 0n, 1000).href, `http://127.0.0.1:8500${PATH}?recurse`);
  assert.equal(
    consulUrl("https", { host: "::1", port: 8501 }, `${PATH}?dc=dc1&index=3&recurse`, 42n, 336_500).href,
    `https://[::1]:8501${PATH}?dc=dc1&recurse&index=42&wait=336500ms`,
  );
  assert.equal(
    consulUrl("http", a, "v1/kv/x", 7n, 10_000).href,
    "http://127.0.0.1:8500/v1/kv/x?recurse&index=7&wait=10s",
  );
  const r0 = (): number => 0;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 9].map((n) => retryDelay(5000, n, r0)),
    [5000, 10000, 20000, 30000, 30000, 30000, 30000],
  );
  assert.deepEqual(
    [1, 2, 5, 6].map((n) => retryDelay(50, n, r0)),
    [50, 100, 800, 800],
  );
  assert.equal(
    retryDelay(5000, 1, () => 0.5),
    5500,
  );
  assert.equal(
    retryDelay(50, 1, () => 0.5),
    75,
  );
});

test("first snapshot, then a blocking query with index and wait", async (t) => {
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8082`, '{"weight":2,"down":1}');
  c.put(`${FOLDER}127.0.0.1:8081`);
  c.put("upstreams/test2/127.0.0.1:9999");
  const w = watch(t, watchConsul, consulConf([c.port]));
  await until("first snapshot", () => w.snaps.length === 1);
  const idx = c.get(`${FOLDER}127.0.0.1:8081`)!.modifyIndex;
  assert.deepEqual(w.snaps[0], {
    servers: [registrySpec("127.0.0.1:8081"), registrySpec("127.0.0.1:8082", { weight: 2, down: true })],
    index: String(idx),
    skipped: [],
    warnings: [],
  });
  assert.deepEqual(w.states, [ok(idx)]);
  await until("blocking query", () => c.waiting() === 1);
  assert.deepEqual(
    c.requests.map((r) => r.url),
    [`${PATH}?recurse`, `${PATH}?recurse&index=${idx}&wait=1s`],
  );
  assert.equal(c.requests[0]!.headers["x-consul-token"], undefined);
});

test("a PUT reaches the open blocking query within 100 ms; DELETE too; deleting all gives an empty list", async (t) => {
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8081`);
  const w = watch(t, watchConsul, consulConf([c.port]));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);

  const kv = (key: string, method: string, body?: string): Promise<Response> =>
    fetch(`http://${c.address}/v1/kv/${FOLDER}${key}`, { method, ...(body === undefined ? {} : { body }) });
  let t0 = Date.now();
  const put = await kv("127.0.0.1:8083", "PUT", '{"weight":3}');
  assert.equal(await put.text(), "true");
  await until("PUT applied", () => w.snaps.length === 2, 1000);
  assert.ok(Date.now() - t0 < 100, `PUT took ${Date.now() - t0} ms`);
  assert.deepEqual(w.snaps[1]!.servers, [
    registrySpec("127.0.0.1:8081"),
    registrySpec("127.0.0.1:8083", { weight: 3 }),
  ]);
  assert.equal(w.snaps[1]!.index, String(c.index));

  await until("blocking again", () => c.waiting() === 1);
  t0 = Date.now();
  assert.equal(await (await kv("127.0.0.1:8081", "DELETE")).text(), "true");
  await until("DELETE applied", () => w.snaps.length === 3, 1000);
  assert.ok(Date.now() - t0 < 100, `DELETE took ${Date.now() - t0} ms`);
  assert.deepEqual(addrs(w.snaps[2]!), ["127.0.0.1:8083"]);

  // Consul answers 404 (with X-Consul-Index) for an empty folder: an empty list, which the applier refuses.
  await until("blocking again", () => c.waiting() === 1);
  const del = await fetch(`http://${c.address}/v1/kv/${FOLDER}?recurse`, { method: "DELETE" });
  assert.equal(await del.text(), "true");
  await until("empty folder", () => w.snaps.length === 4, 1000);
  assert.deepEqual(w.snaps[3], { servers: [], index: String(c.index), skipped: [], warnings: [] });
  const check = await fetch(`http://${c.address}/v1/kv/${FOLDER}?recurse`);
  assert.equal(check.status, 404);
  assert.equal(check.headers.get("x-consul-index"), String(c.index));
  assert.deepEqual(w.states, [ok(2)]);
});

test("an index that goes backwards is reset to 0, and later writes are not missed", async (t) => {
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8081`);
  c.put(`${FOLDER}127.0.0.1:8082`);
  c.put(`${FOLDER}127.0.0.1:8083`); // index 4
  const w = watch(t, watchConsul, consulConf([c.port]));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  assert.equal(w.snaps[0]!.index, "4");
  // A restored raft snapshot: the index drops to 2, and the next write (index 3) is still below the client's 4,
  // so the open query keeps waiting; its answer (3 < 4) makes the client start over at index 0.
  c.setIndex(2);
  c.delete(`${FOLDER}127.0.0.1:8082`);
  await until("reset and re-read", () => w.snaps.length === 2, 2500);
  assert.deepEqual(addrs(w.snaps[1]!), ["127.0.0.1:8081", "127.0.0.1:8083"]);
  assert.equal(w.snaps[1]!.index, "3");
  const urls = c.requests.map((r) => r.url);
  assert.deepEqual(urls.slice(0, 3), [
    `${PATH}?recurse`,
    `${PATH}?recurse&index=4&wait=1s`,
    `${PATH}?recurse`,
  ]);
  await until("blocking from 3", () => c.waiting() === 1);
  assert.equal(c.requests.at(-1)!.url, `${PATH}?recurse&index=3&wait=1s`);
  c.put(`${FOLDER}127.0.0.1:8084`);
  await until("next write", () => w.snaps.length === 3, 500);
  assert.deepEqual(addrs(w.snaps[2]!), ["127.0.0.1:8081", "127.0.0.1:8083", "127.0.0.1:8084"]);
});

test("a used-up wait re-polls at once; an early unchanged answer pauses upsync_interval", async (t) => {
  const c = await startConsulDouble({ random: () => 0 });
  t.after(() => c.stop());
  c.put(`${FOLDER}127.0.0.1:8081`);
  const w = watch(t, watchConsul, consulConf([c.port], { interval: 300 }));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  const times: number[] = [];
  c.respondWith(() => {
    times.push(Date.now());
    return undefined;
  });
  // Nothing changes: the query lasts its 1 s wait, the next one follows at once.
  await until("re-poll after the wait", () => times.length === 1, 2000);
  await sleep(100);
  assert.equal(times.length, 1);
  // An idempotent early return (same index, before the wait): the next query waits 300 ms.
  c.respondWith((req) => {
    times.push(Date.now());
    return req.url.includes("index=")
      ? { status: 200, headers: { "X-Consul-Index": String(c.index) }, body: "[]" }
      : undefined;
  });
  await until("paced polls", () => times.length >= 4, 3000);
  for (let i = 2; i < times.length; i++)
    assert.ok(times[i]! - times[i - 1]! >= 290, `gap ${times[i]! - times[i - 1]!}`);
  assert.equal(w.snaps.length, 1);
});

test("registry down then up: no snapshot while down, one state change each way", async (t) => {
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8081`);
  const w = watch(t, watchConsul, consulConf([c.port]));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  await c.stop();
  await until("failing", () => w.states.length === 2);
  assert.equal(w.states[1]!.ok, false);
  assert.equal(w.states[1]!.error, `recv error from upsync_server 127.0.0.1:${c.port} (ECONNRESET)`);
  assert.equal(w.states[1]!.index, "2");
  c.put(`${FOLDER}127.0.0.1:8082`); // written while the API is unreachable
  await sleep(400);
  assert.equal(w.snaps.length, 1);
  assert.equal(w.states.length, 2, JSON.stringify(w.states));
  await c.start();
  await until("recovered", () => w.snaps.length === 2, 2500);
  assert.deepEqual(addrs(w.snaps[1]!), ["127.0.0.1:8081", "127.0.0.1:8082"]);
  assert.deepEqual(w.states.slice(2), [ok(3)]);
});

test("a 500 keeps the last snapshot and the index; recovery is reported once", async (t) => {
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8081`);
  const w = watch(t, watchConsul, consulConf([c.port]));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  c.respondWith(() => ({ status: 500, body: "rpc error making call: No cluster leader\n" }));
  c.put(`${FOLDER}127.0.0.1:8082`); // wakes the open query (already past the injector)
  await until("500 seen", () => w.states.length === 2);
  assert.equal(w.snaps.length, 2);
  assert.deepEqual(w.states[1], {
    ok: false,
    error: `upsync_server 127.0.0.1:${c.port} answered http_status: 500 (rpc error making call: No cluster leader)`,
    index: "3",
  });
  await sleep(300); // retries at 50, 100, 200 ms: no snapshot, no state line
  assert.ok(c.requests.length >= 5, `${c.requests.length} requests`);
  assert.equal(w.snaps.length, 2);
  assert.equal(w.states.length, 2);
  const seen = c.requests.length;
  c.respondWith(null);
  await until("blocking from 3", () => c.waiting() === 1, 2000);
  // After a failure the first read does not block, so recovery is known at once; then blocking resumes.
  assert.deepEqual(
    c.requests.slice(seen).map((r) => r.url),
    [`${PATH}?recurse`, `${PATH}?recurse&index=3&wait=1s`],
  );
  assert.deepEqual(w.states, [ok(2), w.states[1], ok(3)]);
  c.put(`${FOLDER}127.0.0.1:8083`);
  await until("next write", () => w.snaps.length === 3, 1000);
  assert.equal(w.states.length, 3);
});

test("garbage answers are errors that keep the last snapshot", async (t) => {
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8081`);
  const where = `upsync_server 127.0.0.1:${c.port}`;
  const rows: [Exclude<Injected, undefined>, string][] = [
    [
      { status: 200, headers: { "X-Consul-Index": "999" }, body: "<html>oops" },
      `upsync_parse_json: root error in the answer of ${where}`,
    ],
    [
      { status: 200, headers: { "X-Consul-Index": "999" }, body: '{"Key":"x"}' },
      `upsync_parse_json: root is not an array of keys (${where})`,
    ],
    [{ status: 200, body: "[]" }, `${where} answered without a valid X-Consul-Index`],
    [
      { status: 200, headers: { "X-Consul-Index": "-1" }, body: "[]" },
      `${where} answered without a valid X-Consul-Index`,
    ],
    [{ status: 404, body: "" }, `${where} answered http_status: 404`],
    [
      { status: 429, body: "Your IP is issuing too many concurrent connections" },
      `${where} answered http_status: 429 (Your IP is issuing too many concurrent connections)`,
    ],
    [{ destroy: true }, `recv error from ${where} (ECONNRESET)`],
  ];
  for (const [g, error] of rows) {
    // The first query passes; every later one (blocking, and the non-blocking re-reads after a failure) gets
    // the garbage.
    let n = 0;
    c.respondWith(() => (n++ === 0 ? undefined : g));
    const w = watch(t, watchConsul, consulConf([c.port]));
    await until(error, () => w.states.length === 2);
    assert.deepEqual(w.states, [ok(2), { ok: false, error, index: "2" }]);
    await sleep(100);
    assert.equal(w.snaps.length, 1);
    assert.equal(w.states.length, 2);
    w.ac.abort();
    await w.done;
  }
});

test("a body over 16 MiB is refused, declared or streamed", async (t) => {
  const c = await double(t);
  const big = Buffer.alloc(16 * 1024 * 1024 + 1, 0x20);
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  const cases = [
    { status: 200, headers: { "X-Consul-Index": "7" }, body: big },
    { status: 200, headers: { "X-Consul-Index": "7" }, stream: { chunk, count: 64 } },
  ];
  for (const injected of cases) {
    c.respondWith(() => injected);
    const w = watch(t, watchConsul, consulConf([c.port]));
    await until("refused", () => w.states.length === 1, 3000);
    assert.deepEqual(w.states, [
      {
        ok: false,
        error: `upsync_server 127.0.0.1:${c.port} sent a body over 16777216 bytes, not read`,
        index: "",
      },
    ]);
    assert.equal(w.snaps.length, 0);
    w.ac.abort();
    await w.done;
  }
});

test("the ACL token is sent as X-Consul-Token; a wrong one is an error that never shows the token", async (t) => {
  const c = await double(t, "7e1c-secret");
  c.put(`${FOLDER}127.0.0.1:8081`);
  const good = watch(t, watchConsul, consulConf([c.port]), { token: "7e1c-secret" });
  await until("blocking query", () => good.snaps.length === 1 && c.waiting() === 1);
  assert.ok(
    c.requests.every((r) => r.headers["x-consul-token"] === "7e1c-secret" && !r.url.includes("token")),
  );
  good.ac.abort();
  await good.done;

  const bad = watch(t, watchConsul, consulConf([c.port]), { token: "wrong-secret" });
  await until("refused", () => bad.states.length === 1);
  assert.deepEqual(bad.states, [
    {
      ok: false,
      error: `upsync_server 127.0.0.1:${c.port} answered http_status: 403 (ACL not found)`,
      index: "",
    },
  ]);
  bad.ac.abort();
  await bad.done;
  const none = watch(t, watchConsul, consulConf([c.port]));
  await until("refused", () => none.states.length === 1);
  assert.match(none.states[0]!.error!, /http_status: 403 \(Permission denied\)$/);
  assert.equal(bad.snaps.length + none.snaps.length, 0);
  assert.ok(!JSON.stringify([bad.states, none.states]).includes("secret"));
});

test("abort ends the loop promptly, in the middle of a blocking query", async (t) => {
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8081`);
  const w = watch(t, watchConsul, consulConf([c.port], { timeout: 60_000 }));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  const t0 = Date.now();
  w.ac.abort();
  await w.done;
  assert.ok(Date.now() - t0 < 100, `abort took ${Date.now() - t0} ms`);
  await until("connection closed", () => c.waiting() === 0, 500);
  assert.deepEqual(w.states, [ok(2)]);
});

test("abort ends a hanging request and a retry pause too", async (t) => {
  const c = await double(t);
  c.respondWith(() => ({ hang: true }));
  const w = watch(t, watchConsul, consulConf([c.port], { timeout: 60_000, interval: 60_000 }));
  await until("request sent", () => c.requests.length === 1);
  let t0 = Date.now();
  w.ac.abort();
  await w.done;
  assert.ok(Date.now() - t0 < 100);
  // A hang past upsync_timeout is an error; the retry then waits upsync_interval, and abort cuts that short.
  const w2 = watch(t, watchConsul, consulConf([c.port], { timeout: 200, interval: 60_000 }));
  await until("timed out", () => w2.states.length === 1, 1000);
  assert.deepEqual(w2.states, [
    { ok: false, error: `upsync_timeout: timed out reading upsync_server: 127.0.0.1:${c.port}`, index: "" },
  ]);
  t0 = Date.now();
  w2.ac.abort();
  await w2.done;
  assert.ok(Date.now() - t0 < 100);
});

test("several addresses: a dead first one is skipped without a state change; all dead is one", async (t) => {
  const dead = await freePort();
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8081`);
  const w = watch(t, watchConsul, consulConf([dead, c.port]));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  assert.deepEqual(w.states, [ok(2)]);
  assert.deepEqual(addrs(w.snaps[0]!), ["127.0.0.1:8081"]);

  const dead2 = await freePort();
  const w2 = watch(t, watchConsul, consulConf([dead, dead2]));
  await until("failing", () => w2.states.length === 1);
  await sleep(300); // several rounds: 50, 100, 200 ms apart
  assert.deepEqual(w2.states, [
    { ok: false, error: `cannot connect to upsync_server 127.0.0.1:${dead2} (ECONNREFUSED)`, index: "" },
  ]);
});

test("the query string of the path is kept and ours is appended properly", async (t) => {
  const c = await double(t);
  c.put(`${FOLDER}127.0.0.1:8081`);
  const w = watch(t, watchConsul, consulConf([c.port], { path: `${PATH}?dc=dc1` }));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  assert.deepEqual(
    c.requests.map((r) => r.url),
    [`${PATH}?dc=dc1&recurse`, `${PATH}?dc=dc1&recurse&index=2&wait=1s`],
  );
});

test("with an injected fetch: same snapshots, token header, 16 MiB cap and prompt abort", async (t) => {
  const c = await double(t, "tok");
  c.put(`${FOLDER}127.0.0.1:8081`);
  const w = watch(t, watchConsul, consulConf([c.port]), { fetch: globalThis.fetch, token: "tok" });
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  c.put(`${FOLDER}127.0.0.1:8082`);
  await until("PUT applied", () => w.snaps.length === 2, 500);
  assert.deepEqual(addrs(w.snaps[1]!), ["127.0.0.1:8081", "127.0.0.1:8082"]);
  assert.ok(c.requests.every((r) => r.headers["x-consul-token"] === "tok"));
  await until("blocking again", () => c.waiting() === 1);
  const t0 = Date.now();
  w.ac.abort();
  await w.done;
  assert.ok(Date.now() - t0 < 100);

  c.respondWith(() => ({
    status: 200,
    headers: { "X-Consul-Index": "7" },
    stream: { chunk: Buffer.alloc(1024 * 1024, 0x20), count: 64 },
  }));
  const big = watch(t, watchConsul, consulConf([c.port]), { fetch: globalThis.fetch, token: "tok" });
  await until("refused", () => big.states.length === 1, 3000);
  assert.equal(
    big.states[0]!.error,
    `upsync_server 127.0.0.1:${c.port} sent a body over 16777216 bytes, not read`,
  );
  c.respondWith(null);
  await c.stop();
  const down = watch(t, watchConsul, consulConf([c.port]), { fetch: globalThis.fetch });
  await until("refused", () => down.states.length === 1, 3000);
  // undici may first try a pooled keep-alive socket the stopped double closed (UND_ERR_SOCKET).
  assert.match(
    down.states[0]!.error!,
    /^(cannot connect to|recv error from) upsync_server 127\.0\.0\.1:\d+ \((ECONNREFUSED|UND_ERR_SOCKET)\)$/,
  );
});
