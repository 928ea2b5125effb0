/**
 * How the proxy talks to its servers: `proxy_http_version 1.0` (one connection per request, `Connection: close`)
 * and an upstream `server` given by host name, resolved once at load as nginx does.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { raw, send, statuses } from "../support/client.js";
import { logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";
import { trackConnections } from "../support/sockets.js";

test("proxy_http_version 1.0: the backend sees HTTP/1.0 and Connection: close; responses pass unchanged", async (t) => {
  const versions: string[] = [];
  const b = await startBackend(t, "b", (req, res, body) => {
    versions.push(req.httpVersion);
    // A close-delimited body, as an HTTP/1.0 server may send.
    res.writeHead(200, { "Content-Type": "text/plain", "X-Got": String(body.length) });
    res.end(`v1.0 ${req.method} ${req.url}`);
  });
  const conns = trackConnections(b.server);
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${b.addr}; keepalive 8; }
     server { listen 127.0.0.1:${port}; location / { proxy_http_version 1.0; proxy_pass http://u; } }`,
  );
  for (let i = 0; i < 3; i++) {
    const r = await send(port, `/o${i}`, { method: "POST", body: "12345" });
    assert.deepEqual([r.status, r.body, r.headers["x-got"]], [200, `v1.0 POST /o${i}`, "5"]);
  }
  assert.deepEqual(versions, ["1.0", "1.0", "1.0"]);
  assert.deepEqual(
    b.seen.map((s) => [s.headers["connection"], s.headers["content-length"], s.headers["transfer-encoding"]]),
    Array.from({ length: 3 }, () => ["close", "5", undefined]),
  );
  assert.equal(conns.opened, 3, "no keep-alive with HTTP/1.0");
  // A close-delimited body goes chunked to an HTTP/1.1 client (nginx's chunked filter), so its connection
  // stays open for the next, pipelined, request.
  const text = await raw(
    port,
    "GET /k1 HTTP/1.1\r\nHost: x\r\n\r\nGET /k2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.deepEqual(statuses(text), [200, 200]);
  const [first, second] = text.split(/(?=HTTP\/1\.1 200)/);
  assert.match(
    first!,
    /\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\nc\r\nv1\.0 GET \/k1\r\n0\r\n\r\n$/,
  );
  assert.match(
    second!,
    /\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nc\r\nv1\.0 GET \/k2\r\n0\r\n\r\n$/,
  );
});

test("server localhost:PORT in an upstream is resolved at load; $upstream_addr shows the address", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  const p = await startProxy(
    t,
    `upstream named { server localhost:${b.port}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://named; } }`,
  );
  const r = await send(port, "/n");
  assert.deepEqual([r.status, r.body], [200, "b GET /n"]);
  assert.equal(b.seen[0]!.headers["host"], "named");
  await p.proxy.close();
  assert.match(logLines(p.accessLogPath)[0]!, new RegExp(`"127\\.0\\.0\\.1:${b.port}" "200" `));
});
