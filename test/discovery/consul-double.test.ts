/** The Consul double itself (test/support/consul-double.ts) against Consul's documented KV HTTP API, curl-style. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startConsulDouble } from "../support/consul-double.js";

test("the double follows Consul's KV API for curl-style use", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const base = `http://${c.address}/v1/kv/`;
  assert.equal(await (await fetch(`${base}a/b/1.2.3.4:80`, { method: "PUT", body: "v1" })).text(), "true");
  assert.equal(await (await fetch(`${base}a/b/c/d`, { method: "PUT" })).text(), "true");
  const list = await fetch(`${base}a/?recurse`);
  assert.equal(list.headers.get("x-consul-index"), "3");
  assert.deepEqual(await list.json(), [
    { LockIndex: 0, Key: "a/b/1.2.3.4:80", Flags: 0, Value: "djE=", CreateIndex: 2, ModifyIndex: 2 },
    { LockIndex: 0, Key: "a/b/c/d", Flags: 0, Value: null, CreateIndex: 3, ModifyIndex: 3 },
  ]);
  assert.deepEqual(await (await fetch(`${base}a/?keys&separator=/`)).json(), ["a/b/"]);
  assert.deepEqual(await (await fetch(`${base}a/?keys`)).json(), ["a/b/1.2.3.4:80", "a/b/c/d"]);
  assert.equal(await (await fetch(`${base}a/b/1.2.3.4:80?raw`)).text(), "v1");
  assert.equal((await fetch(`${base}a/b`)).status, 404);
  assert.equal((await fetch(`${base}a/?recurse&wait=abc&index=1`)).status, 400);
  assert.equal(await (await fetch(`${base}zzz`, { method: "DELETE" })).text(), "true");
  assert.equal(await (await fetch(`${base}a/b/c/d`, { method: "DELETE" })).text(), "true");
  // The tombstone keeps the list's index at the delete; reaping it lets the index go backwards (Consul's docs).
  const after = await fetch(`${base}a/?recurse`);
  assert.equal(after.headers.get("x-consul-index"), "4");
  c.reapTombstones();
  assert.equal((await fetch(`${base}a/?recurse`)).headers.get("x-consul-index"), "2");
  // A blocking query on an unchanged index lasts its wait (plus jitter up to wait/16).
  const t0 = Date.now();
  const held = await fetch(`${base}a/?recurse&index=2&wait=100ms`);
  const took = Date.now() - t0;
  assert.ok(took >= 95 && took < 300, `held ${took} ms`);
  assert.equal(held.headers.get("x-consul-index"), "2");
});

test("the double: ACL tokens, bad parameters, stop and start on the same port", async (t) => {
  const c = await startConsulDouble({ token: "s3" });
  t.after(() => c.stop());
  const url = `http://${c.address}/v1/kv/k`;
  assert.equal((await fetch(url, { method: "PUT", body: "x" })).status, 403);
  assert.equal((await fetch(`${url}?token=s3`, { method: "PUT", body: "x" })).status, 200);
  assert.equal((await fetch(url, { headers: { "X-Consul-Token": "s3" } })).status, 200);
  assert.equal((await fetch(url, { headers: { Authorization: "Bearer s3" } })).status, 200);
  const bad = await fetch(url, { headers: { "X-Consul-Token": "nope" } });
  assert.deepEqual([bad.status, await bad.text()], [403, "ACL not found"]);
  const big = await fetch(`${url}?token=s3`, { method: "PUT", body: Buffer.alloc(512 * 1024 + 1) });
  assert.equal(big.status, 413);
  assert.equal((await fetch(`${url}?token=s3&index=x`)).status, 400);
  const port = c.port;
  await c.stop();
  await assert.rejects(fetch(url));
  await c.start();
  assert.equal(c.port, port);
  assert.equal(await (await fetch(`${url}?raw&token=s3`)).text(), "x");
});
