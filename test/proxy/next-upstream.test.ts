/**
 * `proxy_next_upstream` and its limits through the real proxy, as nginx applies them
 * (ngx_http_upstream_next, ngx_http_upstream_test_next): tries, timeout, off, http_404 and http_429, and
 * non-idempotent methods (POST, LOCK, PATCH) that are not sent twice unless `non_idempotent` says so.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend, startRawBackend, startResetThenGood } from "../support/backend.js";
import { send } from "../support/client.js";
import { logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

/** "$upstream_addr" "$upstream_status" of each access log line, as "ADDRS | STATUSES". */
const tries = (path: string): string[] =>
  logLines(path).map((l) => {
    const m = /"([^"]*)" "([^"]*)" [\d.]+$/.exec(l);
    return m ? `${m[1]} | ${m[2]}` : l;
  });

test("proxy_next_upstream_tries 2 with three refusing servers: two are tried, $upstream_addr lists two", async (t) => {
  const [d1, d2, d3, port] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const p = await startProxy(
    t,
    `upstream u { server 127.0.0.1:${d1}; server 127.0.0.1:${d2}; server 127.0.0.1:${d3}; }
     server { listen 127.0.0.1:${port}; location / { proxy_next_upstream_tries 2; proxy_pass http://u; } }`,
  );
  assert.equal((await send(port, "/x")).status, 502);
  await p.proxy.close();
  assert.deepEqual(tries(p.accessLogPath), [`127.0.0.1:${d1}, 127.0.0.1:${d2} | 502, 502`]);
  const refused = logLines(p.errorLogPath).filter((l) => l.includes("connect() failed"));
  assert.equal(refused.length, 2, refused.join("\n"));
  assert.ok(!refused.some((l) => l.includes(`:${d3}/`)), "the third server was not tried");
});

test("proxy_next_upstream_timeout 300ms stops passing the request on once it has passed", async (t) => {
  // Two servers that never answer, then a good one: each try times out after 200 ms; at 400 ms the 300 ms
  // budget is spent, so the good third server is never asked.
  const silent = async (): Promise<string> => (await startRawBackend(t, () => {})).addr;
  const [s1, s2] = [await silent(), await silent()];
  const good = await startBackend(t, "good");
  const port = await freePort();
  const p = await startProxy(
    t,
    `upstream limited { server ${s1} max_fails=0; server ${s2} max_fails=0; server ${good.addr}; }
     upstream unlimited { server ${s1} max_fails=0; server ${s2} max_fails=0; server ${good.addr}; }
     server { listen 127.0.0.1:${port}; proxy_read_timeout 200ms;
       location / { proxy_next_upstream_timeout 300ms; proxy_pass http://limited; }
       location /unlimited/ { proxy_pass http://unlimited; } }`,
  );
  const started = Date.now();
  assert.equal((await send(port, "/limited")).status, 504);
  const took = Date.now() - started;
  assert.ok(took >= 380 && took < 1500, `answered after ${took} ms`);
  assert.equal(good.seen.length, 0);
  // Without the limit the same request reaches the third server.
  assert.equal((await send(port, "/unlimited/x")).body, "good GET /unlimited/x");
  await p.proxy.close();
  assert.deepEqual(tries(p.accessLogPath), [
    `${s1}, ${s2} | 504, 504`,
    `${s1}, ${s2}, ${good.addr} | 504, 504, 200`,
  ]);
});

test("proxy_next_upstream off: a refused connection is answered 502 at once, nothing else is tried", async (t) => {
  const good = await startBackend(t, "good");
  const [dead, port] = [await freePort(), await freePort()];
  const p = await startProxy(
    t,
    `upstream u { server 127.0.0.1:${dead} max_fails=0; server ${good.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_next_upstream off; proxy_pass http://u; } }`,
  );
  const got: number[] = [];
  for (let i = 0; i < 4; i++) got.push((await send(port, `/o${i}`)).status);
  assert.deepEqual(got, [502, 200, 502, 200]);
  await p.proxy.close();
  assert.deepEqual(tries(p.accessLogPath), [
    `127.0.0.1:${dead} | 502`,
    `${good.addr} | 200`,
    `127.0.0.1:${dead} | 502`,
    `${good.addr} | 200`,
  ]);
});

test("http_404 passes a 404 to the next server without counting a failure; otherwise the 404 is returned", async (t) => {
  const missing = await startBackend(t, "missing", (_q, res) => res.writeHead(404).end("not here"));
  const good = await startBackend(t, "good");
  const port = await freePort();
  const p = await startProxy(
    t,
    `upstream u { server ${missing.addr} max_fails=1 fail_timeout=30s; server ${good.addr}; }
     server { listen 127.0.0.1:${port};
       location / { proxy_pass http://u; }
       location /retry/ { proxy_next_upstream error timeout http_404; proxy_pass http://u; } }`,
  );
  const plain = await send(port, "/plain");
  assert.deepEqual([plain.status, plain.body], [404, "not here"]);
  const bodies: string[] = [];
  for (let i = 0; i < 4; i++) bodies.push((await send(port, `/retry/${i}`)).body);
  assert.deepEqual(bodies, [
    "good GET /retry/0",
    "good GET /retry/1",
    "good GET /retry/2",
    "good GET /retry/3",
  ]);
  // A 404 is not a failure (nginx's NGX_PEER_NEXT): with max_fails=1 the server is still asked afterwards.
  assert.equal(missing.seen.length, 3);
  await p.proxy.close();
  assert.deepEqual(tries(p.accessLogPath), [
    `${missing.addr} | 404`,
    `${good.addr} | 200`,
    `${missing.addr}, ${good.addr} | 404, 200`,
    `${good.addr} | 200`,
    `${missing.addr}, ${good.addr} | 404, 200`,
  ]);
});

test("http_429 passes a 429 to the next server; without it the 429 is returned as is", async (t) => {
  const busy = await startBackend(t, "busy", (_q, res) =>
    res.writeHead(429, { "Retry-After": "1" }).end("slow down"),
  );
  const good = await startBackend(t, "good");
  const port = await freePort();
  const p = await startProxy(
    t,
    `upstream u { server ${busy.addr} max_fails=0; server ${good.addr}; }
     server { listen 127.0.0.1:${port};
       location / { proxy_pass http://u; }
       location /retry/ { proxy_next_upstream error timeout http_429; proxy_pass http://u; } }`,
  );
  const plain = await send(port, "/plain");
  assert.deepEqual([plain.status, plain.body, plain.headers["retry-after"]], [429, "slow down", "1"]);
  assert.equal((await send(port, "/next")).status, 200);
  assert.equal((await send(port, "/retry/a")).body, "good GET /retry/a");
  await p.proxy.close();
  assert.deepEqual(tries(p.accessLogPath), [
    `${busy.addr} | 429`,
    `${good.addr} | 200`,
    `${busy.addr}, ${good.addr} | 429, 200`,
  ]);
});

test("PATCH and LOCK are not sent to a second server unless non_idempotent; PUT and DELETE are", async (t) => {
  const port = await freePort();
  const { good, http } = await startResetThenGood(t, port);
  await startProxy(t, http);
  // Round robin sends every second request to the resetting server first.
  const twice = async (method: string, path: string): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < 2; i++) out.push((await send(port, path, { method, body: "x" })).status);
    return out.sort();
  };
  assert.deepEqual(await twice("PATCH", "/p"), [200, 502]);
  assert.deepEqual(await twice("LOCK", "/l"), [200, 502]);
  assert.deepEqual(await twice("PUT", "/u"), [200, 200]);
  assert.deepEqual(await twice("DELETE", "/d"), [200, 200]);
  assert.deepEqual(await twice("PATCH", "/ni/p"), [200, 200]);
  assert.deepEqual(await twice("LOCK", "/ni/l"), [200, 200]);
  assert.deepEqual(
    good.seen.map((s) => s.method),
    ["PATCH", "LOCK", "PUT", "PUT", "DELETE", "DELETE", "PATCH", "PATCH", "LOCK", "LOCK"],
  );
});
