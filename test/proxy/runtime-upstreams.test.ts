/**
 * `proxy_pass http://$host` to addresses picked at run time: the implicit upstreams made for them are reused,
 * but the table is bounded, least recently used first, because the address may come from the client.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

test("run-time implicit upstreams are reused and capped at 256, least recently used dropped", async (t) => {
  const a = await startBackend(t, "a");
  const port = await freePort();
  const { proxy } = await startProxy(
    t,
    `server { listen 127.0.0.1:${port}; location / { proxy_pass http://$http_x_target; } }`,
  );
  const r = await send(port, "/x", { headers: { "X-Target": a.addr } });
  assert.equal(r.body, "a GET /x");
  const first = proxy.upstreamFor(a.addr);
  assert.ok(first);
  assert.equal(proxy.upstreamFor(a.addr), first, "reused");
  for (let i = 0; i < 300; i++) proxy.upstreamFor(`127.0.${i >> 8}.${i & 255}:80`);
  assert.notEqual(proxy.upstreamFor(a.addr), first, "dropped after 256 newer ones");
  // The most recent 256 are kept: the last one made is still the same object.
  const last = proxy.upstreamFor("127.0.1.43:80");
  assert.equal(proxy.upstreamFor("127.0.1.43:80"), last);
  assert.equal((await send(port, "/y", { headers: { "X-Target": a.addr } })).body, "a GET /y");
});
