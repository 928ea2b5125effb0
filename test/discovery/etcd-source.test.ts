/**
 * The etcd v2 and v3 watch loops (issue 4) against a real etcd 3.4 (test/support/etcd.ts), one per file, over
 * loopback. Each test uses its own key folder, so they share the server without seeing each other's keys.
 */
import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import { after, before, test, type TestContext } from "node:test";
import type { UpsyncConf } from "../../src/config/types.js";
import {
  etcd2Url,
  readEtcd2Listing,
  readEtcd2Wait,
  watchEtcd2,
  type WatchEtcd2Options,
} from "../../src/discovery/etcd2-source.js";
import {
  etcd3Requests,
  readWatchLine,
  watchEtcd3,
  type WatchEtcd3Options,
} from "../../src/discovery/etcd3-source.js";
import { RegistryError, type RegistryResponse, registryStream } from "../../src/discovery/registry-http.js";
import { type Etcd, startEtcd } from "../support/etcd.js";
import { freePort } from "../support/ports.js";
import { addrs, registrySpec } from "./fixtures.js";
import { ok, sleep, until, upsyncConf, watch, type Watching } from "./watch-harness.js";

let etcd: Etcd;
before(async () => {
  etcd = await startEtcd({ v2: true });
});
after(async () => {
  await etcd.close();
});

/** An `upsync` of this type on these loopback ports: 50 ms interval, 2 s timeout. */
const conf = (type: "etcd" | "etcd3", path: string, over: Partial<UpsyncConf> = {}): UpsyncConf =>
  upsyncConf(type, [etcd.clientPort], path, over);

/** The loop of `c.type`, with the test-only options of both. */
const watchEtcd = (c: UpsyncConf, opts: WatchEtcd2Options & WatchEtcd3Options): Promise<void> =>
  c.type === "etcd3" ? watchEtcd3(c, opts) : watchEtcd2(c, opts);

/**
 * Stops etcd under a running loop: one failing state (the connection reset, at `index`), none more while the
 * retries (50, 100, 200 ms) are refused; then starts it again and waits for the third state, the recovery.
 */
async function downThenUp(w: Watching, index: string): Promise<void> {
  await etcd.stop();
  await until("failing", () => w.states.length === 2);
  assert.deepEqual(w.states[1], {
    ok: false,
    error: `recv error from upsync_server 127.0.0.1:${etcd.clientPort} (ECONNRESET)`,
    index,
  });
  await sleep(400);
  assert.equal(w.states.length, 2);
  await etcd.start();
  await until("recovered", () => w.states.length === 3, 3000);
}

/**
 * Makes a change (`put`) under a running loop and waits (at most 1 s) for the snapshot it brings, number `n`,
 * which must be at the change's index.
 */
async function putReaches(
  w: Watching,
  n: number,
  put: () => Promise<number | string>,
  what = "watching again",
): Promise<void> {
  const index = String(await put());
  await until(what, () => w.snaps.length === n, 1000);
  assert.equal(w.snaps[n - 1]!.index, index);
}

/**
 * A loop on `c` with a wrong `token` (or none): its one state, still the only one 150 ms on, is the failure
 * `error`, with no snapshot and no trace of the secret; then it is ended.
 */
async function refused(t: TestContext, c: UpsyncConf, token: string | null, error: string): Promise<void> {
  const bad = watch(t, watchEtcd, c, { token });
  await until("refused", () => bad.states.length === 1);
  await sleep(150);
  assert.deepEqual(bad.states, [{ ok: false, error, index: "" }]);
  assert.equal(bad.snaps.length, 0);
  assert.ok(!JSON.stringify(bad.states).includes("secret"));
  bad.ac.abort();
  await bad.done;
}

/** Freezes etcd under a running loop until its second state, the failure (at most 2 s); how long that took, ms. */
async function frozenUntilFailing(w: Watching): Promise<number> {
  etcd.pause();
  const t0 = Date.now();
  try {
    await until("failing", () => w.states.length === 2, 2000);
  } finally {
    etcd.resume();
  }
  return Date.now() - t0;
}

/** One request seen by the recording fetch, and how it ended (status, X-Etcd-Index and body, or "aborted"). */
interface Seen {
  url: string;
  status: number | "aborted";
  index: string | null;
  body: string;
}

/** A fetch that records each request and its outcome (the loop reads the original answer). */
function recorder(): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const f: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const entry: Seen = { url: `${url.pathname}${url.search}`, status: "aborted", index: null, body: "" };
    seen.push(entry);
    const res = await fetch(input, init);
    res
      .clone()
      .text()
      .then(
        (body) => {
          entry.status = res.status;
          entry.index = res.headers.get("x-etcd-index");
          entry.body = body;
        },
        () => undefined,
      );
    return res;
  };
  return { fetch: f, seen };
}

/** A registry answer made up for the decision functions. */
function answer(status: number, body: string, headers: Record<string, string> = {}): RegistryResponse {
  return { status, header: (n) => headers[n.toLowerCase()] ?? null, body: Buffer.from(body) };
}

// ---------------------------------------------------------------------------------------------------------------
// etcd v2

test("v2 pure parts: URLs keep the path's query, and what each answer means", () => {
  const a = { host: "127.0.0.1", port: 2379 };
  assert.equal(
    etcd2Url("http", a, "/v2/keys/upstreams/x", null).href,
    "http://127.0.0.1:2379/v2/keys/upstreams/x?recursive=true",
  );
  assert.equal(
    etcd2Url(
      "https",
      { host: "::1", port: 4001 },
      "/v2/keys/upstreams/x/?quorum=true&recursive=false&waitIndex=3",
      42n,
    ).href,
    "https://[::1]:4001/v2/keys/upstreams/x?quorum=true&wait=true&recursive=true&waitIndex=42",
  );
  assert.equal(
    etcd2Url("http", a, "upstreams/x?stream=true&wait=false", 7n).href,
    "http://127.0.0.1:2379/v2/keys/upstreams/x?wait=true&recursive=true&waitIndex=7",
  );

  const w = "127.0.0.1:2379";
  const cleared =
    '{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [1105/5]","index":1104}';
  assert.deepEqual(readEtcd2Wait(answer(400, cleared), w), { reread: "event index cleared" });
  assert.deepEqual(readEtcd2Wait(answer(200, '{"action":"delete","node":{"key":"/u/x/a:1"}}'), w), {
    reread: "event delete",
  });
  assert.deepEqual(readEtcd2Wait(answer(200, '{"node":{}}'), w), {
    error: `upsync_server ${w} answered a wait without an event`,
  });
  assert.deepEqual(readEtcd2Wait(answer(200, ""), w), {
    error: `upsync_parse_json: root error in the answer of upsync_server ${w}`,
  });
  assert.deepEqual(
    readEtcd2Wait(
      answer(400, '{"errorCode":209,"message":"The given index in POST form is not a number"}'),
      w,
    ),
    {
      error: `upsync_server ${w} answered http_status: 400 (The given index in POST form is not a number)`,
    },
  );
  assert.deepEqual(readEtcd2Wait(answer(502, "Bad Gateway\n<html>"), w), {
    error: `upsync_server ${w} answered http_status: 502 (Bad Gateway)`,
  });

  const missing = '{"errorCode":100,"message":"Key not found","cause":"/u","index":9}';
  assert.deepEqual(readEtcd2Listing(answer(404, missing, { "x-etcd-index": "9" }), w), {
    listing: { index: 9n, indexText: "9", body: null },
  });
  assert.deepEqual(readEtcd2Listing(answer(404, "404 page not found\n", { "x-etcd-index": "9" }), w), {
    error: `upsync_server ${w} answered http_status: 404 (404 page not found)`,
  });
  assert.deepEqual(readEtcd2Listing(answer(200, '{"action":"get","node":{"dir":true}}'), w), {
    error: `upsync_server ${w} answered without a valid X-Etcd-Index`,
  });
  assert.deepEqual(
    readEtcd2Listing(
      answer(401, '{"errorCode":110,"message":"The request requires user authentication"}'),
      w,
    ),
    { error: `upsync_server ${w} answered http_status: 401 (The request requires user authentication)` },
  );
});

test("v2: first listing, a wait from X-Etcd-Index + 1, then each put, change and delete in key order", async (t) => {
  const dir = "/upstreams/v2first";
  await etcd.put2(`${dir}/127.0.0.1:8082`, '{"weight":2}');
  const i1 = await etcd.put2(`${dir}/127.0.0.1:8081`, "");
  const rec = recorder();
  const w = watch(t, watchEtcd, conf("etcd", `/v2/keys${dir}`), { fetch: rec.fetch });
  await until("first snapshot", () => w.snaps.length === 1);
  assert.deepEqual(w.snaps[0], {
    servers: [registrySpec("127.0.0.1:8081"), registrySpec("127.0.0.1:8082", { weight: 2 })],
    index: String(i1),
    skipped: [],
    warnings: [],
  });
  assert.deepEqual(w.states, [ok(i1)]);
  await until("wait sent", () => rec.seen.length === 2);
  assert.deepEqual(
    rec.seen.map((s) => s.url),
    [`/v2/keys${dir}?recursive=true`, `/v2/keys${dir}?wait=true&recursive=true&waitIndex=${i1 + 1}`],
  );

  let t0 = Date.now();
  const i2 = await etcd.put2(`${dir}/127.0.0.1:8080`, '{"max_fails":3}');
  await until("put seen", () => w.snaps.length === 2, 1000);
  assert.ok(Date.now() - t0 < 500, `put took ${Date.now() - t0} ms`);
  assert.equal(w.snaps[1]!.index, String(i2));
  assert.deepEqual(w.snaps[1]!.servers, [
    registrySpec("127.0.0.1:8080", { maxFails: 3 }),
    registrySpec("127.0.0.1:8081"),
    registrySpec("127.0.0.1:8082", { weight: 2 }),
  ]);
  // The event only triggers a new read of the directory (spec §3.3), then a wait from its index.
  assert.deepEqual(
    rec.seen.slice(2, 4).map((s) => s.url),
    [`/v2/keys${dir}?recursive=true`, `/v2/keys${dir}?wait=true&recursive=true&waitIndex=${i2 + 1}`],
  );
  assert.equal(rec.seen[1]!.status, 200);
  assert.match(rec.seen[1]!.body, /^\{"action":"set"/);

  const i3 = await etcd.put2(`${dir}/127.0.0.1:8082`, '{"weight":5,"down":1}');
  await until("change seen", () => w.snaps.length === 3, 1000);
  assert.equal(w.snaps[2]!.index, String(i3));
  assert.deepEqual(w.snaps[2]!.servers[2], registrySpec("127.0.0.1:8082", { weight: 5, down: true }));

  t0 = Date.now();
  await etcd.delete2(`${dir}/127.0.0.1:8080`);
  await until("delete seen", () => w.snaps.length === 4, 1000);
  assert.ok(Date.now() - t0 < 500, `delete took ${Date.now() - t0} ms`);
  assert.deepEqual(addrs(w.snaps[3]!), ["127.0.0.1:8081", "127.0.0.1:8082"]);

  // Deleting the directory: etcd answers 404 errorCode 100, an empty list (which the applier refuses).
  const i5 = await etcd.delete2(dir, true);
  await until("directory gone", () => w.snaps.length === 5, 1000);
  assert.deepEqual(w.snaps[4], { servers: [], index: String(i5), skipped: [], warnings: [] });
  assert.equal((await etcd.get2(dir)).status, 404);
  // A directory that comes back is seen too: the wait on a missing key works.
  await etcd.put2(`${dir}/127.0.0.1:9000`, "");
  await until("back", () => w.snaps.length === 6, 1000);
  assert.deepEqual(addrs(w.snaps[5]!), ["127.0.0.1:9000"]);
  assert.deepEqual(w.states, [ok(i1)]);
});

test("v2: a wait that runs out of time is issued again quietly; a cleared event index (401) reads again", async (t) => {
  const dir = "/upstreams/v2cleared";
  const i1 = await etcd.put2(`${dir}/127.0.0.1:8081`, "");
  const rec = recorder();
  const w = watch(t, watchEtcd, conf("etcd", `/v2/keys${dir}`, { timeout: 300 }), { fetch: rec.fetch });
  await until("first snapshot", () => w.snaps.length === 1);
  const waitUrl = (i: number): string => `/v2/keys${dir}?wait=true&recursive=true&waitIndex=${i}`;
  await until("two waits done", () => rec.seen.length >= 4, 2000);
  // Nothing changed: each wait lasted upsync_timeout and the next one followed, same index, no state change.
  assert.deepEqual(
    rec.seen.slice(1, 3).map((s) => [s.url, s.status]),
    [
      [waitUrl(i1 + 1), "aborted"],
      [waitUrl(i1 + 1), "aborted"],
    ],
  );
  assert.deepEqual(w.states, [ok(i1)]);

  // etcd keeps 1000 events: writes elsewhere push the waited index out of its history.
  let n = 0;
  const writer = async (): Promise<void> => {
    while (n < 1050) await etcd.put2("/v2cleared-other", String(n++));
  };
  await Promise.all(Array.from({ length: 8 }, writer));
  await until("read again", () => w.snaps.length === 2, 3000);
  await until("401 recorded", () => rec.seen.some((s) => s.status === 400), 500);
  const at = rec.seen.findIndex((s) => s.status === 400);
  assert.equal(rec.seen[at]!.url, waitUrl(i1 + 1));
  assert.match(rec.seen[at]!.body, /^\{"errorCode":401,"message":"The event in requested index is outdated/);
  const reread = rec.seen[at + 1]!;
  await until("re-read recorded", () => reread.status !== "aborted", 500);
  assert.equal(reread.url, `/v2/keys${dir}?recursive=true`);
  assert.equal(reread.status, 200);
  const index = Number(reread.index);
  assert.ok(index > i1 + 1000, `re-read at ${index}`);
  // Same servers at the new index (the applier dedupes); the next wait starts from it.
  assert.deepEqual(w.snaps[1], { ...w.snaps[0]!, index: String(index) });
  await until("wait from the new index", () => rec.seen.length >= at + 3);
  assert.equal(rec.seen[at + 2]!.url, waitUrl(index + 1));
  assert.deepEqual(w.states, [ok(i1)]);
});

test("v2: registry down, then up: one failing state, no snapshot while down, recovery once with a new read", async (t) => {
  const dir = "/upstreams/v2down";
  const i1 = await etcd.put2(`${dir}/127.0.0.1:8081`, "");
  const w = watch(t, watchEtcd, conf("etcd", `/v2/keys${dir}`));
  await until("first snapshot", () => w.snaps.length === 1);
  await sleep(50); // the wait is open
  await downThenUp(w, String(i1));
  // Only a successful read of the directory reports ok. A restarted member publishes its attributes into the v2
  // store, so the index moved: the same servers are handed on again at the new index (the applier dedupes).
  const now = (await etcd.get2(dir)).index;
  assert.ok(now > i1, `index ${now} after the restart`);
  assert.deepEqual(w.states[2], ok(now));
  assert.equal(w.snaps.length, 2);
  assert.deepEqual(w.snaps[1], { ...w.snaps[0]!, index: String(now) });
  await putReaches(w, 3, () => etcd.put2(`${dir}/127.0.0.1:8082`, ""));
  assert.deepEqual(addrs(w.snaps[2]!), ["127.0.0.1:8081", "127.0.0.1:8082"]);
  assert.equal(w.states.length, 3);
});

test("v2: a frozen etcd is a failure: its next wait gets no answer's head within upsync_timeout", async (t) => {
  const dir = "/upstreams/v2frozen";
  const i1 = await etcd.put2(`${dir}/127.0.0.1:8081`, "");
  const w = watch(t, watchEtcd, conf("etcd", `/v2/keys${dir}`, { timeout: 400 }));
  await until("first snapshot", () => w.snaps.length === 1);
  await sleep(50); // the wait is open, its head received
  const took = await frozenUntilFailing(w);
  // The open wait runs out quietly (≤ 400 ms), the next one gets no head (400 ms).
  assert.ok(took >= 400 && took < 1200, `found after ${took} ms`);
  assert.deepEqual(w.states[1], {
    ok: false,
    error: `upsync_timeout: timed out reading upsync_server: 127.0.0.1:${etcd.clientPort}`,
    index: String(i1),
  });
  await until("recovered", () => w.states.length === 3, 3000);
  assert.deepEqual(w.states[2], ok(i1));
  assert.equal(w.snaps.length, 1);
});

test("v2: user:password goes as Basic auth; a wrong one is one failing state that never shows it", async (t) => {
  const dir = "/upstreams/v2auth";
  await etcd.put2(`${dir}/127.0.0.1:8081`, "");
  await etcd.enableAuth2("pw-secret");
  t.after(() => etcd.disableAuth2());
  const i1 = (await etcd.get2(dir)).index; // turning auth on wrote users and roles into the v2 store
  const good = watch(t, watchEtcd, conf("etcd", `/v2/keys${dir}`), { token: "root:pw-secret" });
  await until("first snapshot", () => good.snaps.length === 1);
  assert.deepEqual(good.states, [ok(i1)]);
  await sleep(50);
  await putReaches(good, 2, () => etcd.put2(`${dir}/127.0.0.1:8082`, ""), "wait with auth");

  const error = `upsync_server 127.0.0.1:${etcd.clientPort} answered http_status: 401 (The request requires user authentication)`;
  for (const token of ["root:wrong-secret", null])
    await refused(t, conf("etcd", `/v2/keys${dir}`), token, error);
});

// ---------------------------------------------------------------------------------------------------------------
// etcd v3

test("v3 pure parts: request bodies and what each watch line means", () => {
  const r = etcd3Requests("/upstreams/x/", 8n);
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  assert.equal(r.range, JSON.stringify({ key: b64("/upstreams/x/"), range_end: b64("/upstreams/x0") }));
  assert.equal(
    r.watch,
    `{"create_request":{"key":"${b64("/upstreams/x/")}","range_end":"${b64("/upstreams/x0")}","start_revision":"8"}}\n`,
  );

  const w = "127.0.0.1:2379";
  const h = '"header":{"cluster_id":"1","member_id":"2","revision":"6","raft_term":"2"}';
  assert.deepEqual(readWatchLine(`{"result":{${h},"created":true}}`, w), { created: true });
  assert.deepEqual(readWatchLine(`{"result":{${h},"watch_id":"-1"}}`, w), { alive: true });
  const put = { key: b64("/upstreams/x/a:1"), mod_revision: "7", value: b64("{}") };
  const del = { key: b64("/upstreams/x/b:2"), mod_revision: "8" };
  assert.deepEqual(
    readWatchLine(
      JSON.stringify({
        result: { header: { revision: "6" }, events: [{ kv: put }, { type: "DELETE", kv: del }] },
      }),
      w,
    ),
    {
      events: [
        { del: false, kv: put },
        { del: true, kv: del },
      ],
      revision: 8n,
    },
  );
  assert.deepEqual(readWatchLine(`{"result":{${h},"canceled":true,"compact_revision":"5"}}`, w), {
    compacted: "5",
  });
  assert.deepEqual(
    readWatchLine(
      `{"result":{${h},"created":true,"canceled":true,"cancel_reason":"etcdserver: permission denied"}}`,
      w,
    ),
    { error: `upsync_server ${w} canceled the watch: etcdserver: permission denied` },
  );
  assert.deepEqual(
    readWatchLine('{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing"}}', w),
    {
      error: `upsync_server ${w} ended the watch: transport is closing`,
    },
  );
  assert.deepEqual(readWatchLine("<html>", w), {
    error: `upsync_parse_json: a watch message of upsync_server ${w} is not JSON`,
  });
  assert.deepEqual(readWatchLine(`{"result":{"events":[{"type":"PUT"}]}}`, w), {
    error: `upsync_parse_json: a watch event of upsync_server ${w} has no kv`,
  });
});

test("v3: first range, then a watch; puts, changes and deletes applied in key order; all deleted is empty", async (t) => {
  const prefix = "/upstreams/v3first/";
  await etcd.put3(`${prefix}127.0.0.1:8082`, '{"weight":2}');
  const r1 = await etcd.put3(`${prefix}127.0.0.1:8081`, "");
  await etcd.put3("/upstreams/v3first2/127.0.0.1:9999", ""); // beside the prefix: never seen
  const w = watch(t, watchEtcd, conf("etcd3", "/upstreams/v3first"));
  await until("first snapshot", () => w.snaps.length === 1);
  const r0 = Number(r1) + 1;
  assert.deepEqual(w.snaps[0], {
    servers: [registrySpec("127.0.0.1:8081"), registrySpec("127.0.0.1:8082", { weight: 2 })],
    index: String(r0),
    skipped: [],
    warnings: [],
  });
  await until("watch created", () => w.states.length === 1);
  assert.deepEqual(w.states, [ok(r0)]);

  let t0 = Date.now();
  const r2 = await etcd.put3(`${prefix}127.0.0.1:8080`, '{"max_fails":3}');
  await until("put seen", () => w.snaps.length === 2, 1000);
  assert.ok(Date.now() - t0 < 500, `put took ${Date.now() - t0} ms`);
  assert.equal(w.snaps[1]!.index, r2);
  assert.deepEqual(w.snaps[1]!.servers, [
    registrySpec("127.0.0.1:8080", { maxFails: 3 }),
    registrySpec("127.0.0.1:8081"),
    registrySpec("127.0.0.1:8082", { weight: 2 }),
  ]);
  const r3 = await etcd.put3(`${prefix}127.0.0.1:8082`, '{"weight":5,"down":1}');
  await until("change seen", () => w.snaps.length === 3, 1000);
  assert.equal(w.snaps[2]!.index, r3);
  assert.deepEqual(w.snaps[2]!.servers[2], registrySpec("127.0.0.1:8082", { weight: 5, down: true }));
  t0 = Date.now();
  const r4 = await etcd.delete3(`${prefix}127.0.0.1:8080`);
  await until("delete seen", () => w.snaps.length === 4, 1000);
  assert.ok(Date.now() - t0 < 500, `delete took ${Date.now() - t0} ms`);
  assert.equal(w.snaps[3]!.index, r4);
  // What the events built is what a fresh range lists.
  const listed = await etcd.get3(prefix);
  assert.deepEqual(
    addrs(w.snaps[3]!),
    listed.kvs.map((kv) => kv.key.slice(prefix.length)),
  );
  const r5 = await etcd.delete3(prefix);
  await until("all deleted", () => w.snaps.length === 5, 1000);
  assert.deepEqual(w.snaps[4], { servers: [], index: r5, skipped: [], warnings: [] });
  assert.deepEqual(w.states, [ok(r0)]);
});

test("v3: registry down, then up: one failing state, no snapshot, one recovery, watching again", async (t) => {
  const prefix = "/upstreams/v3down/";
  const r1 = await etcd.put3(`${prefix}127.0.0.1:8081`, "");
  const w = watch(t, watchEtcd, conf("etcd3", prefix));
  await until("watch created", () => w.states.length === 1);
  assert.deepEqual(w.states, [ok(r1)]);
  await downThenUp(w, r1);
  assert.deepEqual(w.states[2], ok(r1));
  assert.equal(w.snaps.length, 1); // same revision after the restart: nothing to hand on
  await putReaches(w, 2, () => etcd.put3(`${prefix}127.0.0.1:8082`, ""));
  assert.deepEqual(addrs(w.snaps[1]!), ["127.0.0.1:8081", "127.0.0.1:8082"]);
  assert.equal(w.states.length, 3);
});

test("v3: a watch whose start revision was compacted reads the range again, without a failing state", async (t) => {
  const prefix = "/upstreams/v3compact/";
  const r1 = await etcd.put3(`${prefix}127.0.0.1:8081`, "");
  let hooks = 0;
  let compactedAt = "";
  // Between the first range and its watch, a write under the prefix and a compaction up to it: the watch from
  // the range's revision + 1 can then only be refused as compacted.
  const beforeWatch = async (): Promise<void> => {
    if (hooks++ > 0) return;
    await etcd.put3(`${prefix}127.0.0.1:8082`, "");
    compactedAt = await etcd.put3("/v3compact-other", "x");
    await etcd.compact3(compactedAt);
  };
  const w = watch(t, watchEtcd, conf("etcd3", prefix), { beforeWatch });
  await until("read again", () => w.snaps.length === 2);
  assert.equal(w.snaps[0]!.index, r1);
  assert.deepEqual(addrs(w.snaps[1]!), ["127.0.0.1:8081", "127.0.0.1:8082"]);
  assert.equal(w.snaps[1]!.index, compactedAt);
  assert.equal(hooks, 2);
  // etcd confirms the compacted watch as created before it cancels it: the state turned ok then.
  assert.deepEqual(w.states, [ok(r1)]);
  await putReaches(w, 3, () => etcd.put3(`${prefix}127.0.0.1:8083`, ""), "watching");
});

test("v3: silence is not a failure, but a frozen etcd is found by an unanswered progress request", async (t) => {
  const prefix = "/upstreams/v3frozen/";
  const r1 = await etcd.put3(`${prefix}127.0.0.1:8081`, "");
  const w = watch(t, watchEtcd, conf("etcd3", prefix, { timeout: 500 }), { progressAfter: 50 });
  await until("watch created", () => w.states.length === 1);
  await sleep(600); // quiet: progress requests every 50 ms, each answered
  assert.deepEqual(w.states, [ok(r1)]);
  assert.equal(w.snaps.length, 1);
  const took = await frozenUntilFailing(w);
  assert.ok(took >= 450 && took < 1200, `found after ${took} ms`);
  assert.deepEqual(w.states[1], {
    ok: false,
    error: `upsync_timeout: upsync_server 127.0.0.1:${etcd.clientPort} did not answer a progress request`,
    index: r1,
  });
  await until("recovered", () => w.states.length === 3, 3000);
  assert.deepEqual(w.states[2], ok(r1));
  await putReaches(w, 2, () => etcd.put3(`${prefix}127.0.0.1:8082`, ""));
});

test("v3: user:password gets a token sent as Authorization; a wrong one is one failing state", async (t) => {
  const prefix = "/upstreams/v3auth/";
  const r1 = await etcd.put3(`${prefix}127.0.0.1:8081`, "");
  await etcd.enableAuth3("pw-secret");
  t.after(() => etcd.disableAuth3());
  const rev = (await etcd.get3(prefix)).revision;
  const good = watch(t, watchEtcd, conf("etcd3", prefix), { token: "root:pw-secret" });
  await until("watch created", () => good.states.length === 1);
  assert.deepEqual(good.states, [ok(rev)]);
  assert.equal(good.snaps[0]!.index, rev);
  assert.equal(rev, r1);
  await putReaches(good, 2, () => etcd.put3(`${prefix}127.0.0.1:8082`, ""), "event with auth");

  const where = `upsync_server 127.0.0.1:${etcd.clientPort}`;
  const cases: [string | null, string][] = [
    [
      "root:wrong-secret",
      `etcd authentication failed: ${where} answered http_status: 400 (etcdserver: authentication failed, invalid user ID or password)`,
    ],
    [null, `${where} answered http_status: 400 (etcdserver: user name is empty)`],
  ];
  for (const [token, error] of cases) await refused(t, conf("etcd3", prefix), token, error);
});

test("registryStream: lines across chunks, request lines sent later, the end, the line cap, the head timeout", async (t) => {
  const bodies: string[] = [];
  let hold: ServerResponse | null = null;
  const server = createServer((req, res) => {
    req.setEncoding("utf8").on("data", (d: string) => bodies.push(d));
    if (req.url === "/silent") return void (hold = res);
    res.writeHead(200, { "Content-Type": "application/json" });
    if (req.url === "/big") return void res.end("0123456789abcdef\n");
    res.write('{"a":');
    setTimeout(() => res.write('1}\n\n{"b":2}\n{"c"'), 20);
    setTimeout(() => res.end(":3}"), 40);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    hold?.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  const where = `127.0.0.1:${port}`;
  const signal = new AbortController().signal;
  const s = await registryStream(new URL(`http://${where}/lines`), where, "first\n", {
    headers: {},
    signal,
    timeout: 1000,
  });
  assert.equal(s.status, 200);
  s.send("second\n");
  const lines: (string | null)[] = [];
  for (let l = await s.next(); ; l = await s.next()) {
    lines.push(l);
    if (l === null) break;
  }
  assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}', null]);
  assert.deepEqual(bodies.join(""), "first\nsecond\n");

  const big = await registryStream(new URL(`http://${where}/big`), where, "x\n", {
    headers: {},
    signal,
    timeout: 1000,
    limit: 10,
  });
  await assert.rejects(big.next(), { message: `upsync_server ${where} sent a line over 10 bytes, not read` });

  const t0 = Date.now();
  await assert.rejects(
    registryStream(new URL(`http://${where}/silent`), where, "x\n", { headers: {}, signal, timeout: 200 }),
    (err: unknown) =>
      err instanceof RegistryError &&
      err.reason === "timeout" &&
      err.message === `upsync_timeout: timed out reading upsync_server: ${where}`,
  );
  assert.ok(Date.now() - t0 >= 190);
});

// ---------------------------------------------------------------------------------------------------------------
// both

test("v2 and v3: a dead first address is skipped without a state change", async (t) => {
  const dead = await freePort();
  await etcd.put2("/upstreams/both/127.0.0.1:8081", "");
  await etcd.put3("/upstreams/both/127.0.0.1:8082", "");
  for (const [type, path, want] of [
    ["etcd", "/v2/keys/upstreams/both", "127.0.0.1:8081"],
    ["etcd3", "/upstreams/both/", "127.0.0.1:8082"],
  ] as const) {
    const c = conf(type, path);
    const w = watch(t, watchEtcd, { ...c, addresses: [{ host: "127.0.0.1", port: dead }, ...c.addresses] });
    await until(`${type} first snapshot`, () => w.snaps.length === 1 && w.states.length === 1);
    assert.deepEqual(addrs(w.snaps[0]!), [want]);
    assert.equal(w.states[0]!.ok, true);
  }
});

test("v2 and v3: abort ends the loop promptly, in the middle of a wait or a watch and in a retry pause", async (t) => {
  await etcd.put2("/upstreams/abort/127.0.0.1:8081", "");
  await etcd.put3("/upstreams/abort/127.0.0.1:8081", "");
  for (const [type, path] of [
    ["etcd", "/v2/keys/upstreams/abort"],
    ["etcd3", "/upstreams/abort/"],
  ] as const) {
    const w = watch(t, watchEtcd, conf(type, path, { timeout: 60_000 }));
    await until(`${type} watching`, () => w.snaps.length === 1 && w.states.length === 1);
    await sleep(50);
    const t0 = Date.now();
    w.ac.abort();
    await w.done;
    assert.ok(Date.now() - t0 < 100, `${type} abort took ${Date.now() - t0} ms`);
  }
  const dead = await freePort();
  for (const type of ["etcd", "etcd3"] as const) {
    const c = conf(type, "/upstreams/abort/", { interval: 60_000 });
    const w = watch(t, watchEtcd, { ...c, addresses: [{ host: "127.0.0.1", port: dead }] });
    await until(`${type} failing`, () => w.states.length === 1);
    assert.deepEqual(w.states, [
      { ok: false, error: `cannot connect to upsync_server 127.0.0.1:${dead} (ECONNREFUSED)`, index: "" },
    ]);
    const t0 = Date.now();
    w.ac.abort();
    await w.done;
    assert.ok(Date.now() - t0 < 100, `${type} abort took ${Date.now() - t0} ms`);
  }
});
