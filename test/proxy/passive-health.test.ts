/**
 * Passive health through the real proxy, as nginx's round robin keeps it (ngx_http_upstream_round_robin.c):
 * `max_fails`/`fail_timeout`, `down`, `max_conns`, and `slow_start` accepted (its ramp is unit-tested).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { send, until } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

const served = (bodies: string[], name: string): number =>
  bodies.filter((b) => b.startsWith(`${name} `)).length;

test("max_fails=2 fail_timeout=1s: skipped after two failures, used again once the second has passed", async (t) => {
  let broken = true;
  const flaky = await startBackend(t, "flaky", (req, res) => {
    if (broken) req.socket.destroy();
    else res.end(`flaky ${req.url}`);
  });
  const good = await startBackend(t, "good");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${flaky.addr} max_fails=2 fail_timeout=1s; server ${good.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  const before: string[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await send(port, `/b${i}`);
    assert.equal(r.status, 200, `request ${i}`);
    before.push(r.body);
  }
  assert.equal(served(before, "good"), 8, "every request was passed on to the good server");
  assert.equal(flaky.seen.length, 2, "two failures, then the server is skipped");
  broken = false;
  await new Promise((r) => setTimeout(r, 1100));
  const after: string[] = [];
  for (let i = 0; i < 4; i++) after.push((await send(port, `/a${i}`)).body);
  assert.equal(served(after, "flaky"), 2, after.join(", "));
  assert.equal(served(after, "good"), 2, after.join(", "));
});

test("a down server is never used", async (t) => {
  const off = await startBackend(t, "off");
  const on = await startBackend(t, "on");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${off.addr} down; server ${on.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  for (let i = 0; i < 6; i++) assert.equal((await send(port, `/d${i}`)).body, `on GET /d${i}`);
  assert.equal(off.seen.length, 0);
});

test("max_conns=1: a second concurrent request goes to the other server, though weights favour the first", async (t) => {
  const releases: (() => void)[] = [];
  const busy = await startBackend(t, "busy", (req, res) => {
    const answer = (): void => void res.end(`busy ${req.url}`);
    if (req.url === "/hold") releases.push(answer);
    else answer();
  });
  const other = await startBackend(t, "other");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${busy.addr} weight=5 max_conns=1; server ${other.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  const held = send(port, "/hold");
  await until(() => releases.length === 1, 2000);
  const second = await send(port, "/second");
  assert.equal(second.body, "other GET /second");
  releases[0]!();
  assert.equal((await held).body, "busy /hold");
  assert.equal((await send(port, "/third")).body, "busy /third");
});

test("slow_start is accepted; servers present at start serve at their full weight at once", async (t) => {
  const heavy = await startBackend(t, "heavy");
  const light = await startBackend(t, "light");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${heavy.addr} weight=3 slow_start=30s; server ${light.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  const bodies: string[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await send(port, `/s${i}`);
    assert.equal(r.status, 200);
    bodies.push(r.body);
  }
  assert.deepEqual([served(bodies, "heavy"), served(bodies, "light")], [6, 2]);
});
