/**
 * Upstream timeouts through the real proxy (ngx_http_proxy_module): `proxy_connect_timeout` against a loopback
 * port whose connect() hangs, `proxy_send_timeout` against a backend that stops reading the request body, and
 * `proxy_read_timeout` between two reads after the response head. Statuses and log lines are nginx's.
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import { startBackend, startRawBackend } from "../support/backend.js";
import { send, statuses } from "../support/client.js";
import { logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";
import { hangingPort, openClient } from "../support/sockets.js";

const suffix = (port: number, request: string, upstream: string): string =>
  `, client: 127.0.0.1, server: , request: "${request}", upstream: "${upstream}", host: "127.0.0.1:${port}"`;

test("proxy_connect_timeout 200ms: a connect() that hangs is a timeout (504, or the next server)", async (t) => {
  const hang = await hangingPort(t);
  assert.ok(hang !== null, "connect() to a full accept queue did not hang: the timeout cannot be exercised");
  const good = await startBackend(t, "good");
  const port = await freePort();
  const p = await startProxy(
    t,
    `upstream one { server 127.0.0.1:${hang}; }
     upstream two { server 127.0.0.1:${hang} max_fails=0; server ${good.addr}; }
     server { listen 127.0.0.1:${port}; proxy_connect_timeout 200ms;
       location /one/ { proxy_pass http://one; }
       location /two/ { proxy_pass http://two; } }`,
  );
  const started = Date.now();
  const r = await send(port, "/one/x");
  const took = Date.now() - started;
  assert.equal(r.status, 504);
  assert.ok(took >= 180 && took < 1000, `answered after ${took} ms`);
  const retried = await send(port, "/two/y");
  assert.deepEqual([retried.status, retried.body], [200, "good GET /two/y"]);
  await p.proxy.close();
  const timeouts = logLines(p.errorLogPath).filter((l) => l.includes("while connecting to upstream"));
  assert.deepEqual(
    timeouts.map((l) => l.replace(/^.*\[error\] \d+#0: \*\d+ /, "")),
    [
      `upstream timed out (110: Connection timed out) while connecting to upstream` +
        suffix(port, "GET /one/x HTTP/1.1", `http://127.0.0.1:${hang}/one/x`),
      `upstream timed out (110: Connection timed out) while connecting to upstream` +
        suffix(port, "GET /two/y HTTP/1.1", `http://127.0.0.1:${hang}/two/y`),
    ],
  );
  const access = logLines(p.accessLogPath);
  assert.match(access[0]!, new RegExp(`" 504 \\d+ "127\\.0\\.0\\.1:${hang}" "504" `));
  assert.match(access[1]!, new RegExp(`" 200 \\d+ "127\\.0\\.0\\.1:${hang}, ${good.addr}" "504, 200" `));
});

test("proxy_send_timeout 200ms: a backend that stops reading a large body gets the request dropped, 504", async (t) => {
  // Reads the head, then nothing: its receive buffer and the proxy's send buffer fill up. A paused socket never
  // sees the proxy's close, so the test destroys it (this hook runs before the backend's own).
  const paused = new Set<Socket>();
  t.after(() => paused.forEach((s) => s.destroy()));
  const stuck = await startRawBackend(t, (socket) => {
    paused.add(socket);
    socket.pause();
  });
  const port = await freePort();
  const p = await startProxy(
    t,
    `client_max_body_size 64m;
     server { listen 127.0.0.1:${port};
       location / { proxy_send_timeout 200ms; proxy_read_timeout 10s; proxy_pass http://${stuck.addr}; } }`,
  );
  const size = 16 * 1024 * 1024;
  const c = await openClient(t, port);
  const started = Date.now();
  c.write(`POST /upload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${size}\r\n\r\n`);
  c.write(Buffer.alloc(size, "u"));
  await c.waitFor((s) => s.includes("</html>"), 5000);
  const took = Date.now() - started;
  assert.deepEqual(statuses(c.text()), [504]);
  assert.match(c.text(), /<title>504 Gateway Time-out<\/title>/);
  assert.ok(took >= 180 && took < 3000, `answered after ${took} ms`);
  await p.proxy.close();
  assert.ok(
    logLines(p.errorLogPath).some((l) =>
      l.endsWith(
        "upstream timed out (110: Connection timed out) while sending request to upstream" +
          suffix(port, "POST /upload HTTP/1.1", `http://${stuck.addr}/upload`),
      ),
    ),
    logLines(p.errorLogPath).join("\n"),
  );
});

test("proxy_read_timeout 300ms between two reads after the head: the client connection is closed", async (t) => {
  // Sends the head and 3 of the 10 bytes it announced, then stalls.
  const stalls = await startRawBackend(t, (socket) =>
    socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc"),
  );
  const port = await freePort();
  const p = await startProxy(
    t,
    `server { listen 127.0.0.1:${port};
       location / { proxy_read_timeout 300ms; proxy_pass http://${stalls.addr}; } }`,
  );
  const c = await openClient(t, port);
  c.write(`GET /stall HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  await c.waitFor((s) => s.endsWith("\r\n\r\nabc"), 2000);
  const firstBytes = Date.now();
  const took = (await c.waitClosed(3000)) - firstBytes;
  assert.ok(took >= 250 && took < 1500, `closed ${took} ms after the first bytes`);
  assert.deepEqual(statuses(c.text()), [200]);
  assert.match(c.text(), /\r\nContent-Length: 10\r\n/);
  assert.ok(c.text().endsWith("\r\n\r\nabc"), "nothing is added after the stall");
  await p.proxy.close();
  const lines = logLines(p.errorLogPath).filter((l) => l.includes("timed out"));
  assert.deepEqual(
    lines.map((l) => l.replace(/^.*\[error\] \d+#0: \*\d+ /, "")),
    [
      "upstream timed out (110: Connection timed out) while reading upstream" +
        suffix(port, "GET /stall HTTP/1.1", `http://${stalls.addr}/stall`),
    ],
  );
  assert.match(logLines(p.accessLogPath)[0]!, /"GET \/stall HTTP\/1\.1" 200 3 /);
});
