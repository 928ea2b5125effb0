/**
 * Every balancer through the real proxy, with real backends: least_conn against a backend holding a request,
 * ip_hash for one client address, consistent hash of $request_uri, and random two least_conn with a down
 * server. Exact sequences are unit-tested in test/balancer/; these check the proxy feeds them correctly.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend, type Backend } from "../support/backend.js";
import { send, until } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

const first = (body: string): string => body.split(" ")[0]!;

test("least_conn: while one server holds a request, the others take every new one", async (t) => {
  const releases: (() => void)[] = [];
  const slow = await startBackend(t, "slow", (req, res) => {
    if (req.url === "/hold") releases.push(() => void res.end("slow /hold"));
    else res.end(`slow ${req.url}`);
  });
  const fast = await startBackend(t, "fast");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { least_conn; server ${slow.addr}; server ${fast.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  // Both idle: the tie goes to the first server by round robin.
  const held = send(port, "/hold");
  await until(() => releases.length === 1, 2000);
  const during: string[] = [];
  for (let i = 0; i < 5; i++) during.push(first((await send(port, `/x${i}`)).body));
  assert.deepEqual(during, ["fast", "fast", "fast", "fast", "fast"]);
  releases[0]!();
  assert.equal((await held).body, "slow /hold");
  const after: string[] = [];
  for (let i = 0; i < 4; i++) after.push(first((await send(port, `/y${i}`)).body));
  assert.deepEqual(after.sort(), ["fast", "fast", "slow", "slow"]);
});

test("ip_hash: every request from 127.0.0.1 goes to the same server", async (t) => {
  const backs: Backend[] = [];
  for (const n of ["a", "b", "c"]) backs.push(await startBackend(t, n));
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { ip_hash; ${backs.map((b) => `server ${b.addr};`).join(" ")} }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  for (let i = 0; i < 9; i++) assert.equal((await send(port, `/i${i}`)).status, 200);
  assert.deepEqual(backs.map((b) => b.seen.length).sort(), [0, 0, 9]);
});

test("hash $request_uri consistent: one URI always lands on one server, different URIs spread", async (t) => {
  const backs: Backend[] = [];
  for (const n of ["a", "b", "c"]) backs.push(await startBackend(t, n));
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { hash $request_uri consistent; ${backs.map((b) => `server ${b.addr};`).join(" ")} }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  const owner = new Map<string, string>();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 30; i++) {
      const uri = `/obj/${i}?v=1`;
      const who = first((await send(port, uri)).body);
      if (round === 0) owner.set(uri, who);
      else assert.equal(who, owner.get(uri), `${uri} moved in round ${round}`);
    }
  }
  const used = new Set(owner.values());
  assert.deepEqual([...used].sort(), ["a", "b", "c"], "30 URIs over 3 servers use them all");
});

test("random two least_conn balances over the live servers and never picks a down one", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const off = await startBackend(t, "off");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { random two least_conn; server ${a.addr}; server ${b.addr}; server ${off.addr} down; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  for (let i = 0; i < 40; i++) assert.equal((await send(port, `/r${i}`)).status, 200);
  assert.equal(off.seen.length, 0);
  assert.equal(a.seen.length + b.seen.length, 40);
  assert.ok(a.seen.length >= 5 && b.seen.length >= 5, `a ${a.seen.length}, b ${b.seen.length}`);
});
