/**
 * Listen addresses as nginx binds them: an IPv6 literal, several servers on one port told apart by name, and a
 * host name, which nginx resolves at start and binds on each of its addresses.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";
import { freePort6, openClient } from "../support/sockets.js";

test("listen [::1]:PORT serves IPv6 clients, with $remote_addr and $server_addr as nginx shows them", async (t) => {
  const port = await freePort6();
  // Every machine this project runs on has IPv6 loopback; a machine without it must say so, not pass quietly.
  assert.ok(port !== null, "this machine cannot bind [::1]: IPv6 loopback is needed for this test");
  const b = await startBackend(t, "b");
  await startProxy(
    t,
    `server { listen [::1]:${port};
       location / { proxy_set_header X-Addr "$remote_addr $server_addr $server_port"; proxy_pass http://${b.addr}; }
       location = /here { return 200 "$remote_addr $server_addr"; } }`,
  );
  const c = await openClient(t, port, "::1");
  c.write(
    `GET /here HTTP/1.1\r\nHost: [::1]:${port}\r\n\r\nGET /via HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n`,
  );
  await c.waitClosed(3000);
  assert.match(c.text(), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n::1 ::1HTTP\/1\.1 200 OK\r\n/);
  assert.equal(b.seen[0]!.headers["x-addr"], `::1 ::1 ${port}`);
  assert.equal(b.seen[0]!.url, "/via");
  // Not reachable over IPv4.
  await assert.rejects(send(port, "/"), /ECONNREFUSED/);
});

test("two servers on one port, told apart by server_name, proxy to their own backends", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const port = await freePort();
  await startProxy(
    t,
    `server { listen 127.0.0.1:${port}; server_name a.test; location / { proxy_pass http://${a.addr}; } }
     server { listen 127.0.0.1:${port}; server_name b.test; location / { proxy_pass http://${b.addr}; } }`,
  );
  const table: [string, string][] = [
    ["a.test", "a GET /p"],
    ["b.test", "b GET /p"],
    ["B.TEST:80", "b GET /p"],
    ["other.test", "a GET /p"],
  ];
  for (const [host, body] of table)
    assert.equal((await send(port, "/p", { headers: { Host: host } })).body, body, host);
  assert.equal(a.seen[0]!.headers["host"], `127.0.0.1:${a.port}`);
});

test("listen localhost:PORT binds the name's address and serves on it", async (t) => {
  const port = await freePort();
  await startProxy(t, `server { listen localhost:${port}; location / { return 200 "by name"; } }`);
  const r = await send(port, "/");
  assert.deepEqual([r.status, r.body], [200, "by name"]);
});
