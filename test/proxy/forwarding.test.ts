/** Forwarding through the real proxy to real backends: URIs, headers, framing, keep-alive, logs. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Agent } from "node:http";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { raw, send, statuses, until } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

test("proxy_pass URI rules: with a URI part the location prefix is replaced, without it the URI is sent as is", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  await startProxy(
    t,
    `upstream app { server ${b.addr}; }
     server {
       listen 127.0.0.1:${port};
       location / { proxy_pass http://app/; }
       location /api/ { proxy_pass http://app/v2/; }
       location /raw/ { proxy_pass http://app; }
       location /short { proxy_pass http://app/long; }
       location = /exact { proxy_pass http://${b.addr}/other; }
     }`,
  );
  const table: [string, string][] = [
    ["/", "/"],
    ["/a/b?x=1", "/a/b?x=1"],
    ["/api/x?y=1", "/v2/x?y=1"],
    ["/api/", "/v2/"],
    ["/raw/%41b?q", "/raw/%41b?q"],
    ["/shortcut", "/longcut"],
    ["/short/x", "/long/x"],
    ["/exact", "/other"],
    ["/a/../c", "/c"],
  ];
  for (const [sent, expected] of table) {
    const r = await send(port, sent);
    assert.equal(r.status, 200, sent);
    assert.equal(r.body, `b GET ${expected}`, sent);
  }
});

test("request headers: Host is $proxy_host by default, proxy_set_header with variables, hop-by-hop removed", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  await startProxy(
    t,
    `upstream con_server { server ${b.addr}; }
     server {
       listen 127.0.0.1:${port};
       server_name www.example.com;
       location / { proxy_pass http://con_server; }
       location /set/ {
         proxy_set_header Host $host;
         proxy_set_header X-Real-IP $remote_addr;
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
         proxy_set_header X-Info "$scheme $request_method $uri $args $server_name $server_port $http_x_custom";
         proxy_set_header X-Drop "";
         proxy_pass http://con_server;
       }
     }`,
  );
  await send(port, "/plain", {
    headers: {
      Host: "www.example.com:8080",
      "X-Drop": "kept",
      Connection: "keep-alive, X-Hop",
      "X-Hop": "1",
      TE: "trailers",
      "Keep-Alive": "5",
    },
  });
  const h1 = b.seen[0]!.headers;
  assert.equal(h1["host"], "con_server");
  assert.equal(h1["x-drop"], "kept");
  assert.equal(h1["x-hop"], undefined);
  assert.equal(h1["te"], undefined);
  assert.equal(h1["keep-alive"], undefined);
  assert.equal(
    h1["connection"],
    undefined,
    "HTTP/1.1 keep-alive upstream request carries no Connection header",
  );
  await send(port, "/set/p?q=1", {
    headers: { Host: "WWW.Example.com", "X-Forwarded-For": "10.1.1.1", "X-Custom": "c", "X-Drop": "x" },
  });
  const h2 = b.seen[1]!.headers;
  assert.equal(h2["host"], "www.example.com");
  assert.equal(h2["x-real-ip"], "127.0.0.1");
  assert.equal(h2["x-forwarded-for"], "10.1.1.1, 127.0.0.1");
  assert.equal(h2["x-info"], `http GET /set/p q=1 www.example.com ${port} c`);
  assert.equal(h2["x-drop"], undefined, "an empty proxy_set_header value removes the header");
});

test("response headers: Server and Date are syncgate's, charset added to text types, Connection for the client", async (t) => {
  const b = await startBackend(t, "b", (req, res) => {
    const type = req.url === "/json" ? "application/json" : req.url === "/png" ? "image/png" : "text/html";
    res.writeHead(200, { "Content-Type": type, Server: "backend/1.0", "X-Accel-Redirect": "/x" });
    res.end("ok");
  });
  const port = await freePort();
  await startProxy(
    t,
    `charset utf-8; server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const html = await send(port, "/html");
  assert.equal(html.headers["content-type"], "text/html; charset=utf-8");
  assert.match(String(html.headers["server"]), /^syncgate\/\d+\.\d+\.\d+$/);
  assert.equal(html.headers["x-accel-redirect"], undefined);
  assert.equal(html.headers["connection"], "close", "the test client sends Connection: close (agent false)");
  assert.equal((await send(port, "/json")).headers["content-type"], "application/json; charset=utf-8");
  assert.equal((await send(port, "/png")).headers["content-type"], "image/png");
});

test("bodies both ways: content-length and chunked requests, chunked and close-delimited responses", async (t) => {
  const b = await startBackend(t, "b", (req, res, body) => {
    if (req.url === "/chunked") {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.write("part1-");
      setTimeout(() => res.end(`part2-${body.length}`), 20);
      return;
    }
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": String(body.length) });
    res.end(body);
  });
  const port = await freePort();
  await startProxy(
    t,
    `client_max_body_size 2m; server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const big = Buffer.alloc(300_000, "x");
  const r1 = await send(port, "/echo", {
    method: "POST",
    body: big,
    headers: { "Content-Length": String(big.length) },
  });
  assert.equal(r1.body.length, 300_000);
  const r2 = await send(port, "/echo", {
    method: "POST",
    body: "hello",
    headers: { "Transfer-Encoding": "chunked" },
  });
  assert.equal(r2.body, "hello");
  assert.equal(b.seen[1]!.headers["transfer-encoding"], "chunked");
  const r3 = await send(port, "/chunked", { method: "POST", body: "abc" });
  assert.equal(r3.body, "part1-part2-3");
  // An HTTP/1.0 client gets the chunked response decoded, delimited by close.
  const text = await raw(port, "GET /chunked HTTP/1.0\r\n\r\n");
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.doesNotMatch(text, /Transfer-Encoding/i);
  assert.ok(text.endsWith("\r\n\r\npart1-part2-0"), text);
});

test("client_max_body_size answers 413 before reading the body; Expect: 100-continue gets its 100", async (t) => {
  const b = await startBackend(t, "b", (_req, res, body) => res.end(`got ${body.length}`));
  const port = await freePort();
  await startProxy(
    t,
    `client_max_body_size 10; server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const tooBig = await raw(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890");
  assert.deepEqual(statuses(tooBig), [413]);
  assert.equal(b.seen.length, 0);
  const cont = await raw(
    port,
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    500,
  );
  assert.match(cont, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
});

test("HEAD, 204 and 304 responses have no body; keep-alive and pipelined requests are answered in order", async (t) => {
  const b = await startBackend(t, "b", (req, res) => {
    if (req.url === "/204") res.writeHead(204).end();
    else if (req.url === "/304") res.writeHead(304, { ETag: '"x"' }).end();
    else
      res
        .writeHead(200, { "Content-Type": "text/plain", "Content-Length": "5" })
        .end(req.method === "HEAD" ? undefined : "hello");
  });
  const port = await freePort();
  await startProxy(t, `server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`);
  const text = await raw(
    port,
    "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.deepEqual(statuses(text), [200, 204, 304, 200]);
  assert.match(text, /Content-Length: 5\r\n/);
  assert.ok(text.endsWith("hello"), text);
  assert.equal(text.split("hello").length, 2, "only the GET carries a body");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 5; i++) assert.equal((await send(port, "/k", { agent })).body, "hello");
});

test("access log lines use log_format with $upstream_addr and $upstream_status", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  const p = await startProxy(
    t,
    `server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  await send(port, "/logged?x=1");
  await p.proxy.close();
  const log = readFileSync(p.accessLogPath, "utf8");
  assert.match(
    log,
    new RegExp(
      `^127\\.0\\.0\\.1 "GET /logged\\?x=1 HTTP/1\\.1" 200 \\d+ "${b.addr}" "200" \\d+\\.\\d{3}\\n$`,
    ),
  );
});

test("return answers directly: text, redirect, error page", async (t) => {
  const port = await freePort();
  await startProxy(
    t,
    `server { listen 127.0.0.1:${port};
       location = /ok { return 200 "hello $remote_addr\\n"; }
       location = /go { return 301 http://example.com$request_uri; }
       location = /gone { return 410; }
       location = /u { return https://example.org/; }
     }`,
  );
  const ok = await send(port, "/ok");
  assert.deepEqual([ok.status, ok.body], [200, "hello 127.0.0.1\n"]);
  const go = await send(port, "/go?a=b");
  assert.deepEqual([go.status, go.headers["location"]], [301, "http://example.com/go?a=b"]);
  const gone = await send(port, "/gone");
  assert.equal(gone.status, 410);
  assert.match(gone.body, /<center><h1>410 Gone<\/h1><\/center>|410/);
  const u = await send(port, "/u");
  assert.deepEqual([u.status, u.headers["location"]], [302, "https://example.org/"]);
  const none = await send(port, "/nothing");
  assert.equal(none.status, 404);
  await until(() => true);
});
