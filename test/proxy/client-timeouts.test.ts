/**
 * The client side of a connection, as nginx runs it (ngx_http_core_module): `keepalive_timeout`,
 * `keepalive_requests`, `client_header_timeout`, `client_body_timeout` and `send_timeout`. What nginx 1.22 does
 * was checked on this machine: a header or body timeout closes the connection without an answer (the 408 goes
 * to the access log only), an idle keep-alive connection is closed silently, and a client that stops reading is
 * dropped after `send_timeout` with an info line.
 */
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { statuses } from "../support/client.js";
import { logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";
import { openClient } from "../support/sockets.js";

const GET = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
const connectionHeaders = (text: string): string[] =>
  [...text.matchAll(/\r\nConnection: ([^\r]*)\r\n/g)].map((m) => m[1]!);
/** A backend answering "b PATH" with a Content-Length, so a test can tell when a response is complete. */
const answer = (req: IncomingMessage, res: ServerResponse): void => {
  const body = `b ${req.url}`;
  res.writeHead(200, { "Content-Length": String(body.length) }).end(body);
};

test("keepalive_timeout 200ms closes an idle client connection, silently", async (t) => {
  const b = await startBackend(t, "b", answer);
  const port = await freePort();
  const p = await startProxy(
    t,
    `keepalive_timeout 200ms;
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const c = await openClient(t, port);
  c.write(GET("/idle"));
  await c.waitFor((s) => s.endsWith("\r\n\r\nb /idle"), 2000);
  const answered = Date.now();
  const closed = await c.waitClosed(2000);
  assert.ok(closed - answered >= 150 && closed - answered < 1000, `closed after ${closed - answered} ms`);
  assert.deepEqual(statuses(c.text()), [200]);
  assert.deepEqual(connectionHeaders(c.text()), ["keep-alive"]);
  await p.proxy.close();
  assert.deepEqual(
    logLines(p.errorLogPath).filter((l) => l.includes("timed out")),
    [],
  );
});

test("keepalive_requests 2: the second response says Connection: close, then the connection closes", async (t) => {
  const b = await startBackend(t, "b", answer);
  const port = await freePort();
  await startProxy(
    t,
    `keepalive_requests 2;
     server { listen 127.0.0.1:${port};
       location / { proxy_pass http://${b.addr}; }
       location /local { return 200 "local"; } }`,
  );
  for (const [first, second, body] of [
    ["/p1", "/p2", "b /p1"],
    ["/local", "/local", "local"],
  ] as const) {
    const c = await openClient(t, port);
    c.write(GET(first));
    await c.waitFor((s) => s.endsWith(`\r\n\r\n${body}`), 2000);
    c.write(GET(second));
    await c.waitClosed(2000);
    assert.deepEqual(statuses(c.text()), [200, 200], first);
    assert.deepEqual(connectionHeaders(c.text()), ["keep-alive", "close"], first);
  }
});

test("client_header_timeout 200ms closes a connection whose head never completes, without an answer", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  const p = await startProxy(
    t,
    `client_header_timeout 200ms;
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  // Nothing at all, an empty line, half a request line, a request line and a Host header.
  const sent = ["", "\r\n", "GET /sl", "GET /never HTTP/1.1\r\nHost: x\r\n"];
  const clients = [];
  for (const bytes of sent) {
    const c = await openClient(t, port);
    if (bytes) c.write(bytes);
    clients.push(c);
  }
  const started = Date.now();
  for (const c of clients) {
    const took = (await c.waitClosed(2000)) - started;
    assert.ok(took >= 150 && took < 1000, `closed after ${took} ms`);
    assert.equal(c.text(), "", "nginx answers nothing to a client that timed out");
  }
  assert.equal(b.seen.length, 0);
  await p.proxy.close();
  // nginx 1.22's words for each case, at info level.
  const timedOut = "client timed out (110: Connection timed out) while";
  assert.deepEqual(
    logLines(p.errorLogPath)
      .map((l) => l.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[info\] \d+#0: \*\d+ /, ""))
      .sort(),
    [
      `${timedOut} waiting for request, client: 127.0.0.1, server: 127.0.0.1:${port}`,
      `${timedOut} reading client request line, client: 127.0.0.1, server: `,
      `${timedOut} reading client request line, client: 127.0.0.1, server: , request: "GET /sl"`,
      `${timedOut} reading client request headers, client: 127.0.0.1, server: , request: "GET /never HTTP/1.1", host: "x"`,
    ].sort(),
  );
  // Once bytes came nginx had a request: it is logged with 408 and the request line as far as it got.
  const access = logLines(p.accessLogPath);
  assert.deepEqual(access.map((l) => l.replace(/ [\d.]+$/, "")).sort(), [
    '127.0.0.1 "" 408 0 "-" "-"',
    '127.0.0.1 "GET /never HTTP/1.1" 408 0 "-" "-"',
    '127.0.0.1 "GET /sl" 408 0 "-" "-"',
  ]);
  for (const l of access) {
    const time = Number(/ ([\d.]+)$/.exec(l)?.[1]);
    assert.ok(time >= 0.15 && time < 1, l);
  }
});

test("client_body_timeout 200ms: a stalled body ends the request with 408 in the log and the connection closed", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  const p = await startProxy(
    t,
    `client_body_timeout 200ms;
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const c = await openClient(t, port);
  const started = Date.now();
  c.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  const took = (await c.waitClosed(3000)) - started;
  assert.ok(took >= 150 && took < 1000, `closed after ${took} ms`);
  assert.equal(c.text(), "", "nginx terminates the request: no response is sent");
  assert.equal(b.seen.length, 0, "the backend never got a complete request");
  await p.proxy.close();
  const access = logLines(p.accessLogPath);
  assert.equal(access.length, 1, access.join("\n"));
  assert.match(access[0]!, /^127\.0\.0\.1 "POST \/upload HTTP\/1\.1" 408 0 /);
  assert.deepEqual(logLines(p.errorLogPath), [], "nginx writes no error line for a body timeout");
});

test("client_body_timeout limits the pause between two reads, not the whole body", async (t) => {
  const b = await startBackend(t, "b", (_req, res, body) => res.end(`got ${body.toString()}`));
  const port = await freePort();
  await startProxy(
    t,
    `client_body_timeout 200ms;
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const c = await openClient(t, port);
  c.write("POST /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n");
  // Eight bytes, one every 80 ms: 640 ms in all, well over the timeout, but never 200 ms without a byte.
  for (const ch of "abcdefgh") {
    await new Promise((r) => setTimeout(r, 80));
    c.write(ch);
  }
  await c.waitClosed(3000);
  assert.deepEqual(statuses(c.text()), [200]);
  assert.ok(c.text().endsWith("\r\n\r\ngot abcdefgh"), c.text());
});

test("send_timeout 200ms drops a client that stops reading a large response, with nginx's info line", async (t) => {
  const size = 32 * 1024 * 1024;
  const b = await startBackend(t, "b", (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(size) });
    res.end(Buffer.alloc(size, "z"));
  });
  const port = await freePort();
  const p = await startProxy(
    t,
    `send_timeout 200ms;
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const c = await openClient(t, port);
  c.socket.pause();
  c.write(GET("/big"));
  // Not reading for 1 s: the proxy's socket buffer fills, and 200 ms later it gives up on this client.
  await new Promise((r) => setTimeout(r, 1000));
  c.socket.resume();
  await c.waitClosed(5000);
  const received = c.received();
  assert.deepEqual(statuses(c.text().slice(0, 200)), [200]);
  assert.ok(received < size, `the whole ${size}-byte body arrived (${received} bytes)`);
  await p.proxy.close();
  assert.ok(
    logLines(p.errorLogPath).some((l) =>
      l.endsWith(
        `client timed out (110: Connection timed out) while sending to client, client: 127.0.0.1, server: , request: "GET /big HTTP/1.1", upstream: "http://${b.addr}/big", host: "x"`,
      ),
    ),
    logLines(p.errorLogPath).join("\n"),
  );
  const access = logLines(p.accessLogPath);
  assert.equal(access.length, 1);
  const sent = Number(/" 200 (\d+) /.exec(access[0]!)?.[1]);
  assert.ok(sent > 0 && sent < size, access[0]);
});
