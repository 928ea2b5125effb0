/** Server selection by Host and location matching through the real proxy, as nginx does them. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

test("server selection: exact, wildcards, regex, default_server; several servers on one port", async (t) => {
  const port = await freePort();
  await startProxy(
    t,
    `server { listen 127.0.0.1:${port}; server_name first.test; return 200 "first"; }
     server { listen 127.0.0.1:${port} default_server; server_name default.test; return 200 "default"; }
     server { listen 127.0.0.1:${port}; server_name www.example.com *.example.com; return 200 "example:$host"; }
     server { listen 127.0.0.1:${port}; server_name www.example.*; return 200 "suffix"; }
     server { listen 127.0.0.1:${port}; server_name ~^(?<sub>[a-z]+)\\.regex\\.test$; return 200 "regex:$sub"; }`,
  );
  const table: [string, string][] = [
    ["first.test", "first"],
    ["FIRST.test:8080", "first"],
    ["www.example.com", "example:www.example.com"],
    ["a.b.example.com", "example:a.b.example.com"],
    ["www.example.org", "suffix"],
    ["abc.regex.test", "regex:abc"],
    ["unknown.test", "default"],
  ];
  for (const [host, body] of table)
    assert.equal((await send(port, "/", { headers: { Host: host } })).body, body, host);
});

test("location matching: exact, ^~, longest prefix, regexes in order, nested", async (t) => {
  const port = await freePort();
  await startProxy(
    t,
    `server { listen 127.0.0.1:${port};
       location = / { return 200 "exact-root"; }
       location / { return 200 "root"; }
       location /images/ { return 200 "images"; location /images/big/ { return 200 "nested"; } }
       location ^~ /static/ { return 200 "static"; }
       location ~ \\.(gif|jpg)$ { return 200 "regex"; }
       location ~* \\.PNG$ { return 200 "regex-caseless"; }
       location /documents/ { return 200 "documents"; }
     }`,
  );
  const table: [string, string][] = [
    ["/", "exact-root"],
    ["/index.html", "root"],
    ["/documents/doc.html", "documents"],
    ["/images/1.gif", "regex"],
    ["/images/x", "images"],
    ["/images/big/x", "nested"],
    ["/static/a.jpg", "static"],
    ["/documents/1.jpg", "regex"],
    ["/a/b.png", "regex-caseless"],
  ];
  for (const [uri, body] of table) assert.equal((await send(port, uri)).body, body, uri);
});

test("proxy_pass with variables picks the upstream named by $host", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const port = await freePort();
  await startProxy(
    t,
    `upstream alpha { server ${a.addr}; }
     upstream beta { server ${b.addr}; }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://$host; } }`,
  );
  assert.equal((await send(port, "/x", { headers: { Host: "alpha" } })).body, "a GET /x");
  assert.equal((await send(port, "/y", { headers: { Host: "beta" } })).body, "b GET /y");
  assert.equal((await send(port, "/z", { headers: { Host: "gamma" } })).status, 502);
});
