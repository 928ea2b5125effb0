/** Balancing, retries, timeouts and passive health through the real proxy, with nginx's statuses and logs. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Agent } from "node:http";
import { test } from "node:test";
import { startBackend, startRawBackend, startResetThenGood } from "../support/backend.js";
import { send } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

test("smooth weighted round robin in nginx's exact order: weights 5,1,1 give a a b a c a a", async (t) => {
  const [a, b, c] = [await startBackend(t, "a"), await startBackend(t, "b"), await startBackend(t, "c")];
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${a.addr} weight=5; server ${b.addr}; server ${c.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  const order: string[] = [];
  for (let i = 0; i < 14; i++) order.push((await send(port, "/")).body.split(" ")[0]!);
  assert.deepEqual(order, "a a b a c a a a a b a c a a".split(" "));
});

test("a refused server is retried on the next one; it is then skipped for fail_timeout", async (t) => {
  const good = await startBackend(t, "good");
  const dead = await freePort();
  const port = await freePort();
  const p = await startProxy(
    t,
    `upstream u { server 127.0.0.1:${dead} max_fails=1 fail_timeout=30s; server ${good.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  for (let i = 0; i < 4; i++) assert.equal((await send(port, "/")).body, "good GET /");
  assert.equal(good.seen.length, 4);
  await p.proxy.close();
  const errors = readFileSync(p.errorLogPath, "utf8")
    .split("\n")
    .filter((l) => l.includes("connect() failed"));
  assert.equal(errors.length, 1, "the dead server is tried once, then skipped during fail_timeout");
  assert.match(
    errors[0]!,
    new RegExp(
      `\\[error\\] \\d+#0: \\*\\d+ connect\\(\\) failed \\(111: Connection refused\\) while connecting to upstream, client: 127\\.0\\.0\\.1, server: , request: "GET / HTTP/1\\.1", upstream: "http://127\\.0\\.0\\.1:${dead}/", host: "127\\.0\\.0\\.1:${port}"`,
    ),
  );
  const access = readFileSync(p.accessLogPath, "utf8").split("\n")[0]!;
  assert.match(access, new RegExp(`"127\\.0\\.0\\.1:${dead}, ${good.addr}" "502, 200"`));
});

test("no server left: 502 and 'no live upstreams' in the error log", async (t) => {
  const [dead1, dead2, port] = [await freePort(), await freePort(), await freePort()];
  const p = await startProxy(
    t,
    `upstream u { server 127.0.0.1:${dead1}; server 127.0.0.1:${dead2}; server 127.0.0.1:1 down; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  // Both live servers refuse (and are marked failed for fail_timeout); the second request finds none.
  assert.equal((await send(port, "/")).status, 502);
  assert.equal((await send(port, "/")).status, 502);
  await p.proxy.close();
  const log = readFileSync(p.errorLogPath, "utf8").trim().split("\n");
  assert.equal(log.length, 3, log.join("\n"));
  assert.match(log[0]!, /connect\(\) failed \(111: Connection refused\)/);
  assert.match(log[1]!, /connect\(\) failed \(111: Connection refused\)/);
  assert.match(
    log[2]!,
    /\[error\] \d+#0: \*\d+ no live upstreams while connecting to upstream, client: 127\.0\.0\.1, server: , request: "GET \/ HTTP\/1\.1", upstream: "http:\/\/u\/", host: "127\.0\.0\.1:\d+"$/,
  );
});

test("a slow backend gives 504 after proxy_read_timeout, with nginx's log line", async (t) => {
  const slow = await startRawBackend(t, () => {
    /* never answers */
  });
  const port = await freePort();
  const p = await startProxy(
    t,
    `server { listen 127.0.0.1:${port}; server_name www.linux08.com;
       location / { proxy_read_timeout 300ms; proxy_next_upstream off; proxy_pass http://${slow.addr}; } }`,
  );
  const started = Date.now();
  const r = await send(port, "/slow", { headers: { Host: "www.linux08.com" } });
  const took = Date.now() - started;
  assert.equal(r.status, 504);
  assert.ok(took >= 280, `answered after ${took} ms`);
  await p.proxy.close();
  assert.match(
    readFileSync(p.errorLogPath, "utf8"),
    new RegExp(
      `upstream timed out \\(110: Connection timed out\\) while reading response header from upstream, client: 127\\.0\\.0\\.1, server: www\\.linux08\\.com, request: "GET /slow HTTP/1\\.1", upstream: "http://${slow.addr}/slow", host: "www\\.linux08\\.com"`,
    ),
  );
});

test("GET is retried after an upstream reset; POST is not, unless non_idempotent", async (t) => {
  const port = await freePort();
  const { http } = await startResetThenGood(t, port);
  await startProxy(t, http);
  // Round robin starts at the resetting server each second request; every GET still succeeds.
  for (let i = 0; i < 4; i++) assert.equal((await send(port, "/g")).status, 200);
  const posts = [];
  for (let i = 0; i < 4; i++) posts.push((await send(port, "/p", { method: "POST", body: "x" })).status);
  assert.deepEqual(posts.sort(), [200, 200, 502, 502]);
  for (let i = 0; i < 4; i++)
    assert.equal((await send(port, "/ni/p", { method: "POST", body: "x" })).status, 200);
});

test("http_502 in proxy_next_upstream passes to the next server; the last answer is returned as is", async (t) => {
  const bad = await startBackend(t, "bad", (_q, res) => res.writeHead(502).end("bad gateway from bad"));
  const good = await startBackend(t, "good");
  const port = await freePort();
  await startProxy(
    t,
    `upstream both { server ${bad.addr}; server ${good.addr}; }
     upstream one { server ${bad.addr}; }
     server { listen 127.0.0.1:${port};
       location / { proxy_next_upstream error timeout http_502; proxy_pass http://both; }
       location /one/ { proxy_next_upstream error timeout http_502; proxy_pass http://one; } }`,
  );
  for (let i = 0; i < 3; i++) assert.equal((await send(port, "/")).body, "good GET /");
  const last = await send(port, "/one/");
  assert.deepEqual([last.status, last.body], [502, "bad gateway from bad"]);
});

test("backup servers are used only when every primary is unavailable", async (t) => {
  const primary = await startBackend(t, "primary");
  const backup = await startBackend(t, "backup");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${primary.addr} max_fails=1 fail_timeout=30s; server ${backup.addr} backup; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  for (let i = 0; i < 3; i++) assert.equal((await send(port, "/")).body, "primary GET /");
  await primary.close();
  for (let i = 0; i < 3; i++) assert.equal((await send(port, "/")).body, "backup GET /");
});

test("a backend killed under GET load costs no client a request", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${a.addr}; server ${b.addr}; keepalive 16; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  let failures = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 150; i++) {
      const r = await send(port, `/w${i}`, { agent }).catch(() => null);
      if (!r || r.status !== 200) failures++;
      done++;
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, worker));
  while (done < 300) await new Promise((r) => setTimeout(r, 5));
  // Kill b hard: open keep-alive connections are reset, new ones refused.
  b.server.closeAllConnections();
  await b.close();
  await load;
  assert.equal(done, 1200);
  assert.equal(failures, 0);
});
