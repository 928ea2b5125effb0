/**
 * Upstream keep-alive pools through the real proxy, counted on the backend's own TCP connections: reuse,
 * `keepalive_requests` and `keepalive_timeout` of the upstream block (ngx_http_upstream_keepalive_module), and a
 * backend closing an idle connection, which must not cost a request.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend, startRawBackend } from "../support/backend.js";
import { send, until } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";
import { errorLines, logLines } from "../support/logs.js";
import { trackConnections } from "../support/sockets.js";

test("ten sequential requests, each from a new client connection, share one upstream connection", async (t) => {
  const b = await startBackend(t, "b");
  const conns = trackConnections(b.server);
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${b.addr}; keepalive 8; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  for (let i = 0; i < 10; i++) assert.equal((await send(port, `/k${i}`)).body, `b GET /k${i}`);
  assert.equal(conns.opened, 1);
  assert.deepEqual(conns.requests, [10]);
  assert.equal(conns.closed, 0);
});

test("keepalive_requests 3 in the upstream closes a connection after its third request", async (t) => {
  const b = await startBackend(t, "b");
  const conns = trackConnections(b.server);
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${b.addr}; keepalive 8; keepalive_requests 3; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  for (let i = 0; i < 7; i++) assert.equal((await send(port, `/r${i}`)).status, 200);
  assert.deepEqual(conns.requests, [3, 3, 1]);
  await until(() => conns.closed === 2, 2000);
});

test("keepalive_timeout 200ms in the upstream closes an idle pooled connection; the next request opens a new one", async (t) => {
  const b = await startBackend(t, "b");
  const conns = trackConnections(b.server);
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${b.addr}; keepalive 8; keepalive_timeout 200ms; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  assert.equal((await send(port, "/first")).status, 200);
  const idleSince = Date.now();
  await until(() => conns.closed === 1, 2000);
  const idle = conns.closedAt[0]! - idleSince;
  assert.ok(idle >= 150 && idle < 1000, `closed after ${idle} ms idle`);
  assert.equal((await send(port, "/second")).body, "b GET /second");
  assert.deepEqual(conns.requests, [1, 1]);
});

test("a backend that closes an idle keep-alive connection costs no request: the next one goes on a new connection", async (t) => {
  const b = await startBackend(t, "b");
  // Node's server closes a keep-alive connection after 100 ms idle, long before the proxy's pool would.
  b.server.keepAliveTimeout = 100;
  const conns = trackConnections(b.server);
  const port = await freePort();
  const p = await startProxy(
    t,
    `upstream u { server ${b.addr}; keepalive 8; }
     server { listen 127.0.0.1:${port}; location / { proxy_next_upstream off; proxy_pass http://u; } }`,
  );
  assert.equal((await send(port, "/one")).body, "b GET /one");
  await until(() => conns.closed === 1, 2000);
  assert.equal((await send(port, "/two")).body, "b GET /two");
  assert.deepEqual(conns.requests, [1, 1]);
  await p.proxy.close();
  assert.deepEqual(errorLines(p.errorLogPath), []);
});

test("a keep-alive connection the backend drops just as the proxy reuses it is retried once on a new connection", async (t) => {
  // Each connection answers its first request and closes, unanswered, when a second one arrives on it: the
  // race where a server times out an idle connection while the proxy's next request is on the wire.
  const served = new WeakMap<object, number>();
  const b = await startRawBackend(t, (socket, req) => {
    const n = (served.get(socket) ?? 0) + 1;
    served.set(socket, n);
    if (n > 1) {
      socket.destroy();
      return;
    }
    const body = `raw ${req.split(" ")[1]}`;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  const port = await freePort();
  const p = await startProxy(
    t,
    `upstream u { server ${b.addr}; keepalive 8; }
     server { listen 127.0.0.1:${port}; location / { proxy_next_upstream off; proxy_pass http://u; } }`,
  );
  const bodies: string[] = [];
  for (const path of ["/a", "/b", "/c"]) {
    const r = await send(port, path);
    assert.equal(r.status, 200, path);
    bodies.push(r.body);
  }
  assert.deepEqual(bodies, ["raw /a", "raw /b", "raw /c"]);
  assert.equal(b.connections, 3, "one fresh connection per replayed request");
  await p.proxy.close();
  assert.deepEqual(errorLines(p.errorLogPath), []);
  const access = logLines(p.accessLogPath);
  assert.deepEqual(
    access.map((l) => /"([^"]*)" "([^"]*)" [\d.]+$/.exec(l)?.slice(1).join(" ")),
    [`${b.addr} 200`, `${b.addr} 200`, `${b.addr} 200`],
  );
});
