/**
 * Malformed and smuggling input through the real proxy: nginx's statuses, nothing forwarded; and
 * misbehaving backends become 502 without corrupting the client connection.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend, startRawBackend } from "../support/backend.js";
import { raw, statuses } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

const H = "Host: x\r\n";

test("bad requests get nginx's answers and never reach the backend", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  await startProxy(
    t,
    `large_client_header_buffers 4 1k; client_max_body_size 100;
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const cases: [string, string, number][] = [
    [
      "CL and TE together",
      `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      400,
    ],
    [
      "duplicate Content-Length",
      `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`,
      400,
    ],
    ["invalid Content-Length", `POST / HTTP/1.1\r\n${H}Content-Length: 3x\r\n\r\nabc`, 400],
    ["unknown transfer coding", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501],
    ["obs-fold", `GET / HTTP/1.1\r\n${H}X-A: 1\r\n  folded\r\n\r\n`, 400],
    [
      "bad chunk size",
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
      400,
    ],
    ["bare LF", `GET / HTTP/1.1\n${H}\r\n`, 400],
    ["NUL in header", `GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 400],
    ["control byte in header", `GET / HTTP/1.1\r\n${H}X-A: a\u0001b\r\n\r\n`, 400],
    ["space before colon", `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, 400],
    ["no Host in HTTP/1.1", `GET / HTTP/1.1\r\n\r\n`, 400],
    ["long request line", `GET /${"a".repeat(2000)} HTTP/1.1\r\n${H}\r\n`, 414],
    [
      "headers too large",
      `GET / HTTP/1.1\r\n${H}${"X-Big: " + "b".repeat(900) + "\r\n"}${"X-Big2: " + "b".repeat(900) + "\r\n"}${"X-Big3: " + "b".repeat(900) + "\r\n"}${"X-Big4: " + "b".repeat(900) + "\r\n"}${"X-Big5: " + "b".repeat(900) + "\r\n"}\r\n`,
      400,
    ],
    ["HTTP/2 version", `GET / HTTP/2.0\r\n${H}\r\n`, 505],
    [
      "body over client_max_body_size",
      `POST / HTTP/1.1\r\n${H}Content-Length: 101\r\n\r\n${"x".repeat(101)}`,
      413,
    ],
    ["path above root", `GET /../etc/passwd HTTP/1.1\r\n${H}\r\n`, 400],
  ];
  for (const [name, bytes, status] of cases) {
    const text = await raw(port, bytes, 2000);
    assert.deepEqual(statuses(text), [status], `${name}: ${JSON.stringify(text.slice(0, 120))}`);
    if (name === "headers too large") assert.match(text, /Request Header Or Cookie Too Large/);
  }
  assert.equal(b.seen.length, 0, "nothing was forwarded");
});

test("a request smuggled behind a chunked body is answered as its own request, in order", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  await startProxy(t, `server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`);
  const text = await raw(
    port,
    `POST /first HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /second HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  );
  assert.deepEqual(statuses(text), [200, 200]);
  assert.deepEqual(
    b.seen.map((s) => `${s.method} ${s.url} ${s.body}`),
    ["POST /first abc", "GET /second "],
  );
});

test("misbehaving backends become 502 and the client connection stays usable", async (t) => {
  const good = await startBackend(t, "good");
  const replies: Record<string, string> = {
    "/status": "HTTP/1.1 2000 Weird\r\nContent-Length: 0\r\n\r\n",
    "/both": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "/garbage": "this is not http\r\n\r\n",
    "/early": "HTTP/1.1 200 OK\r\nContent-Le",
  };
  const bad = await startRawBackend(t, (socket, req) => {
    const path = req.split(" ")[1] ?? "";
    const reply = replies[path];
    if (reply === undefined) socket.destroy();
    else socket.end(reply);
  });
  const port = await freePort();
  await startProxy(
    t,
    `server { listen 127.0.0.1:${port};
       location /ok { proxy_pass http://${good.addr}; }
       location / { proxy_next_upstream off; proxy_pass http://${bad.addr}; } }`,
  );
  let bytes = "";
  for (const p of Object.keys(replies)) bytes += `GET ${p} HTTP/1.1\r\n${H}\r\n`;
  bytes += `GET /ok HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
  const text = await raw(port, bytes);
  assert.deepEqual(statuses(text), [502, 502, 502, 502, 200]);
  // The good backend answers chunked; the body passes through with its framing.
  assert.ok(text.endsWith("\r\n\r\nc\r\ngood GET /ok\r\n0\r\n\r\n"), text.slice(-200));
});
