/**
 * The admin API through the real proxy (issue 6 item 2): every route of the NGINX Plus-shaped API, `write=on`
 * enforcement, allow/deny and auth_basic in front of it, writes that go through to the Consul double and come
 * back before the answer, drain surviving a registry update, in-memory changes for an upstream with no source,
 * the catalog's refusal, and the error documents with their codes.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import type { OutgoingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { API_HREF, type ServerConfJson, type UpstreamJson } from "../../src/control/api-json.js";
import type { ProxyServer } from "../../src/proxy/server.js";
import { type Backend, startBackend } from "../support/backend.js";
import { answers, raw, send } from "../support/client.js";
import { type ConsulDouble, startConsulDouble } from "../support/consul-double.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";
import { tempDir } from "../support/tmp.js";
import { eventually } from "../support/wait.js";

const HTPASSWD = fileURLToPath(new URL("../../../test/fixtures/htpasswd/apr1.htpasswd", import.meta.url));
const KEY = "upstreams/con_server/";
const ROOT = { Authorization: `Basic ${Buffer.from("root:123456").toString("base64")}` };

interface Answer {
  status: number;
  doc: unknown;
  type: string | undefined;
}

/** One API call; `body` objects are sent as JSON. */
async function call(
  port: number,
  method: string,
  path: string,
  body?: unknown,
  headers: OutgoingHttpHeaders = {},
): Promise<Answer> {
  const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const r = await send(port, `/api/${path}`, {
    method,
    headers,
    ...(text === undefined ? {} : { body: text }),
  });
  let doc: unknown = r.body;
  try {
    doc = JSON.parse(r.body);
  } catch {
    // Not JSON (nginx's HTML error pages in front of the API): kept as text.
  }
  const type = r.headers["content-type"];
  return { status: r.status, doc, type: typeof type === "string" ? type : undefined };
}

/** The error document the API answers with. */
function error(status: number, code: string, text: string | RegExp): (a: Answer) => void {
  return (a) => {
    assert.equal(a.status, status, JSON.stringify(a.doc));
    assert.equal(a.type, "application/json");
    const d = a.doc as {
      error: { status: number; code: string; text: string };
      request_id: string;
      href: string;
    };
    assert.deepEqual(Object.keys(d), ["error", "request_id", "href"]);
    assert.deepEqual({ status: d.error.status, code: d.error.code }, { status, code });
    if (typeof text === "string") assert.equal(d.error.text, text);
    else assert.match(d.error.text, text);
    assert.match(d.request_id, /^[0-9a-f]{32}$/);
    assert.equal(d.href, API_HREF);
  };
}

/** A server's settings document with nginx's defaults (max_fails 1) unless given. */
function conf(id: number, server: string, extra: Partial<ServerConfJson> = {}): ServerConfJson {
  return {
    id,
    server,
    weight: 1,
    max_conns: 0,
    max_fails: 1,
    fail_timeout: "10s",
    slow_start: "0s",
    route: "",
    backup: false,
    down: false,
    ...extra,
  };
}

const serial = (proxy: ProxyServer, upstream: string, addr: string): number =>
  proxy.upstreams.get(upstream)!.group.get(addr)!.serial;

/** POST with `Expect: 100-continue`: the body goes only after the 100; everything the proxy sent until it closed. */
function expectContinue(port: number, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let out = "";
    s.on("data", (d: Buffer) => {
      const first = out === "";
      out += d.toString("latin1");
      if (first && out.startsWith("HTTP/1.1 100 Continue\r\n\r\n")) s.write(body);
    });
    s.on("error", reject);
    s.on("close", () => resolve(out));
    s.write(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n` +
        `Connection: close\r\n\r\n`,
    );
  });
}

async function memoryProxy(t: TestContext, api: string, servers: Backend[]) {
  const port = await freePort();
  const lines = servers.map((b) => `server ${b.addr};`).join(" ");
  const { proxy, errorLogPath } = await startProxy(
    t,
    `upstream backend { ${lines} }
     server { listen 127.0.0.1:${port};
       location / { proxy_pass http://backend; }
       location /api/ { allow 127.0.0.1; deny all; ${api} } }`,
  );
  return { port, proxy, errorLogPath };
}

test("every GET route, exactly; HEAD; unknown versions, paths, upstreams and ids", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const { port, proxy } = await memoryProxy(t, "api;", [a, b]);
  const ia = serial(proxy, "backend", a.addr);
  const ib = serial(proxy, "backend", b.addr);
  await answers(port, 2);

  assert.deepEqual((await call(port, "GET", "")).doc, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual((await call(port, "GET", "9/")).doc, ["http"]);
  assert.deepEqual((await call(port, "GET", "9/http")).doc, ["upstreams"]);
  const all = await call(port, "GET", "9/http/upstreams");
  assert.equal(all.status, 200);
  assert.equal(all.type, "application/json");
  const peer = (id: number, server: string) => ({
    id,
    server,
    name: server,
    backup: false,
    weight: 1,
    state: "up",
    active: 0,
    requests: 1,
    fails: 0,
    unavail: 0,
  });
  const docs = all.doc as Record<string, UpstreamJson>;
  assert.deepEqual(Object.keys(docs), ["backend"], "implicit upstreams are not listed");
  // response_time depends on the clock: checked for presence, then left out.
  for (const p of docs["backend"]!.peers) assert.equal(typeof p.response_time, "number");
  const bare = docs["backend"]!.peers.map(({ response_time: _, ...p }) => p);
  assert.deepEqual(bare, [peer(ia, a.addr), peer(ib, b.addr)]);
  assert.equal(typeof docs["backend"]!.keepalive, "number");
  assert.equal(docs["backend"]!.zombies, 0);
  assert.deepEqual((await call(port, "GET", "9/http/upstreams/backend")).doc, docs["backend"]);

  const servers = [conf(ia, a.addr), conf(ib, b.addr)];
  assert.deepEqual((await call(port, "GET", "9/http/upstreams/backend/servers")).doc, servers);
  assert.deepEqual((await call(port, "GET", "9/http/upstreams/backend/servers/")).doc, servers);
  assert.deepEqual((await call(port, "GET", `9/http/upstreams/backend/servers/${ib}`)).doc, servers[1]);
  // Older version numbers get the same documents.
  assert.deepEqual((await call(port, "GET", "7/http/upstreams/backend/servers")).doc, servers);

  const head = await send(port, "/api/9/http/upstreams/backend/servers", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
  assert.equal(head.headers["content-length"], String(JSON.stringify(servers).length));

  error(404, "UnknownVersion", "unknown version")(await call(port, "GET", "10/http/upstreams"));
  error(404, "PathNotFound", "path not found")(await call(port, "GET", "9/stream/upstreams"));
  error(404, "PathNotFound", "path not found")(await call(port, "GET", "9/http/upstreams/backend/peers"));
  error(
    404,
    "UpstreamNotFound",
    'upstream not found: "nope"',
  )(await call(port, "GET", "9/http/upstreams/nope"));
  error(
    400,
    "UpstreamBadServerId",
    'invalid server id "x1"',
  )(await call(port, "GET", "9/http/upstreams/backend/servers/x1"));
  error(
    404,
    "UpstreamServerNotFound",
    'server with ID "999999" does not exist',
  )(await call(port, "GET", "9/http/upstreams/backend/servers/999999"));
  error(
    405,
    "MethodNotSupported",
    "method not supported: PUT",
  )(await call(port, "PUT", "9/http/upstreams/backend/servers", {}));
});

test("without write=on every write is 405 MethodDisabled and changes nothing", async (t) => {
  const a = await startBackend(t, "a");
  const { port, proxy } = await memoryProxy(t, "api write=off;", [a]);
  const ia = serial(proxy, "backend", a.addr);
  const disabled = error(405, "MethodDisabled", /^method disabled: this API is read-only/);
  disabled(await call(port, "POST", "9/http/upstreams/backend/servers", { server: "127.0.0.1:9" }));
  disabled(await call(port, "PATCH", `9/http/upstreams/backend/servers/${ia}`, { drain: true }));
  disabled(await call(port, "DELETE", `9/http/upstreams/backend/servers/${ia}`));
  assert.deepEqual((await call(port, "GET", "9/http/upstreams/backend/servers")).doc, [conf(ia, a.addr)]);
  assert.equal(proxy.upstreams.get("backend")!.group.get(a.addr)!.draining, false);
});

test("an upstream with no source: add, change, drain and remove in memory; the proxy follows at once", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const { port, proxy } = await memoryProxy(t, "api write=on;", [a]);
  const ia = serial(proxy, "backend", a.addr);
  const path = "9/http/upstreams/backend/servers";

  const added = await call(port, "POST", path, { server: b.addr, weight: 2, fail_timeout: "30s" });
  assert.equal(added.status, 201);
  const ib = serial(proxy, "backend", b.addr);
  assert.ok(ib > ia);
  assert.deepEqual(added.doc, conf(ib, b.addr, { weight: 2, fail_timeout: "30s" }));
  assert.deepEqual((await answers(port, 6)).sort(), ["a", "a", "b", "b", "b", "b"]);

  // The whole document read with GET can be sent back (unchanged fields the API does not write are accepted).
  const back = { ...conf(ib, b.addr, { weight: 1, fail_timeout: "30s" }) };
  assert.deepEqual((await call(port, "PATCH", `${path}/${ib}`, back)).doc, back);

  const drained = await call(port, "PATCH", `${path}/${ia}`, { drain: true });
  assert.deepEqual(drained.doc, conf(ia, a.addr, { drain: true }));
  assert.deepEqual(await answers(port, 3), ["b", "b", "b"]);
  const peers = (await call(port, "GET", "9/http/upstreams/backend")).doc as UpstreamJson;
  assert.deepEqual(
    peers.peers.map((p) => [p.id, p.state]),
    [
      [ia, "draining"],
      [ib, "up"],
    ],
  );
  // A weight change does not end the drain: only drain=false does.
  assert.deepEqual((await call(port, "PATCH", `${path}/${ia}`, { weight: 3, down: false })).doc, {
    ...conf(ia, a.addr, { weight: 3, drain: true }),
  });
  assert.deepEqual(
    (await call(port, "PATCH", `${path}/${ia}`, { drain: false })).doc,
    conf(ia, a.addr, { weight: 3 }),
  );
  assert.ok((await answers(port, 4)).includes("a"));

  const removed = await call(port, "DELETE", `${path}/${ib}`);
  assert.equal(removed.status, 200);
  assert.deepEqual(removed.doc, [conf(ia, a.addr, { weight: 3 })]);
  assert.deepEqual(await answers(port, 2), ["a", "a"]);
  error(
    404,
    "UpstreamServerNotFound",
    `server with ID "${ib}" does not exist`,
  )(await call(port, "GET", `${path}/${ib}`));

  // Never empty: the last primary server can be neither removed nor made a backup.
  error(
    409,
    "UpstreamLastServer",
    /^server "127\.0\.0\.1:\d+" is the last primary server of upstream "backend" and cannot be removed/,
  )(await call(port, "DELETE", `${path}/${ia}`));
  error(
    409,
    "UpstreamLastServer",
    /cannot be made a backup server/,
  )(await call(port, "PATCH", `${path}/${ia}`, { backup: true }));
  // Added again, b is a new server with a new id.
  assert.equal((await call(port, "POST", path, { server: b.addr })).status, 201);
  assert.ok(serial(proxy, "backend", b.addr) > ib);
});

test("request bodies: NGINX Plus error codes for bad JSON, fields and addresses; chunked bodies; 413 past 64 KiB", async (t) => {
  const a = await startBackend(t, "a");
  const { port, proxy } = await memoryProxy(t, "api write=on;", [a]);
  const ia = serial(proxy, "backend", a.addr);
  const path = "9/http/upstreams/backend/servers";
  const post = (body: unknown) => call(port, "POST", path, body);
  error(415, "JsonError", /^json error: /)(await post("{weight:"));
  error(415, "JsonError", "json error: empty body")(await call(port, "POST", path));
  error(415, "JsonError", "json error: the body must be an object")(await post([1]));
  error(400, "UpstreamConfFormatError", 'missing "server" argument')(await post({ weight: 2 }));
  error(
    400,
    "UpstreamConfFormatError",
    'unknown parameter "service"',
  )(await post({ server: "127.0.0.1:9", service: "x" }));
  error(
    400,
    "UpstreamConfFormatError",
    'nested object or list in "weight"',
  )(await post({ server: "127.0.0.1:9", weight: [1] }));
  error(
    400,
    "UpstreamBadWeight",
    /^invalid "weight" value/,
  )(await post({ server: "127.0.0.1:9", weight: 0 }));
  error(
    400,
    "UpstreamBadMaxFails",
    /^invalid "max_fails" value/,
  )(await post({ server: "127.0.0.1:9", max_fails: -1 }));
  error(
    400,
    "UpstreamBadFailTimeout",
    /^invalid "fail_timeout" value/,
  )(await post({ server: "127.0.0.1:9", fail_timeout: "500ms" }));
  error(
    400,
    "UpstreamBadMaxConns",
    /^"max_conns" cannot be changed/,
  )(await post({ server: "127.0.0.1:9", max_conns: 5 }));
  error(
    400,
    "UpstreamConfFormatError",
    '"drain" applies to an existing server only',
  )(await post({ server: "127.0.0.1:9", drain: true }));
  error(
    400,
    "UpstreamBadAddress",
    'invalid "server" argument "backend.local:80": invalid ip (IP:PORT, no host names)',
  )(await post({ server: "backend.local:80" }));
  error(
    409,
    "EntryExists",
    `server "${a.addr}" exists in upstream "backend"`,
  )(await post({ server: a.addr }));
  error(
    400,
    "UpstreamServerImmutable",
    /^the address of server with ID "\d+" cannot change/,
  )(await call(port, "PATCH", `${path}/${ia}`, { server: "127.0.0.1:9" }));
  error(
    400,
    "UpstreamConfFormatError",
    '"id" cannot be set: syncgate assigns it',
  )(await call(port, "PATCH", `${path}/${ia}`, { id: ia + 1 }));

  // A port defaults to 80, as on a `server` line; a chunked body is read whole.
  const json = JSON.stringify({ server: "127.0.0.2", down: true });
  const size = json.length.toString(16);
  const out = await raw(
    port,
    `POST /api/${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `${size}\r\n${json}\r\n0\r\n\r\n`,
  );
  assert.match(out, /^HTTP\/1\.1 201 Created\r\n/);
  const id = serial(proxy, "backend", "127.0.0.2:80");
  assert.ok(out.endsWith(JSON.stringify(conf(id, "127.0.0.2:80", { down: true }))), out);

  // Over 64 KiB: refused before the body is read.
  const big = await raw(port, `POST /api/${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 413 Request Entity Too Large\r\n/);
  // curl sends Expect: 100-continue for bodies over 1 KiB: the API says 100 first, then reads the body.
  const padded = `{${" ".repeat(1100)}"server":"127.0.0.3:80"}`;
  const cont = await expectContinue(port, `/api/${path}`, padded);
  assert.match(cont, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 Created\r\n/);
});

test("allow/deny and auth_basic in front of a writable API", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const port = await freePort();
  const { proxy } = await startProxy(
    t,
    `upstream backend { server ${a.addr}; }
     server { listen 127.0.0.1:${port};
       location /api/ { allow 127.0.0.1; deny all; auth_basic "syncgate api"; auth_basic_user_file ${HTPASSWD};
                        api write=on; }
       location /elsewhere/ { deny 127.0.0.1; allow all; api write=on; } }`,
  );
  const path = "9/http/upstreams/backend/servers";
  const anonymous = await call(port, "POST", path, { server: b.addr });
  assert.equal(anonymous.status, 401);
  const wrong = { Authorization: `Basic ${Buffer.from("root:654321").toString("base64")}` };
  assert.equal((await call(port, "POST", path, { server: b.addr }, wrong)).status, 401);
  assert.equal(proxy.upstreams.get("backend")!.group.get(b.addr), undefined);
  assert.equal((await call(port, "POST", path, { server: b.addr }, ROOT)).status, 201);
  assert.equal((await call(port, "GET", path, undefined, ROOT)).status, 200);
  const denied = await send(port, `/elsewhere/${path}`, { method: "DELETE" });
  assert.equal(denied.status, 403);
  assert.equal(proxy.upstreams.get("backend")!.group.all().length, 2);
});

/** A proxy following Consul KV, with the API (and the status page) on the same listener. */
async function registryProxy(t: TestContext, c: ConsulDouble) {
  const port = await freePort();
  const { proxy } = await startProxy(
    t,
    `upstream con_server {
       upsync ${c.address}/v1/kv/${KEY} upsync_interval=50ms upsync_type=consul strong_dependency=on;
       upsync_dump_path ${tempDir(t)}/con_server.conf;
     }
     server { listen 127.0.0.1:${port};
       location / { proxy_pass http://con_server; }
       location /api/ { allow 127.0.0.1; deny all; api write=on; }
       location = /upsync_status { upsync_status; } }`,
  );
  return { port, proxy };
}

const value = (c: ConsulDouble, addr: string): unknown => {
  const v = c.get(`${KEY}${addr}`)?.value;
  return v ? (JSON.parse(v.toString()) as unknown) : undefined;
};

test("an upstream in Consul KV: writes go to the registry and are back before the answer; drain stays local", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  c.put(`${KEY}${a.addr}`, '{"weight":1,"max_fails":2,"fail_timeout":10}');
  const { port, proxy } = await registryProxy(t, c);
  const path = "9/http/upstreams/con_server/servers";
  const ia = serial(proxy, "con_server", a.addr);

  // POST: the key appears in the registry's own value format, and a GET right after the answer shows it.
  const added = await call(port, "POST", path, { server: b.addr, weight: 2 });
  assert.equal(added.status, 201);
  assert.deepEqual(value(c, b.addr), { weight: 2, max_fails: 2, fail_timeout: 10, down: 0, backup: 0 });
  const ib = serial(proxy, "con_server", b.addr);
  assert.deepEqual(added.doc, conf(ib, b.addr, { weight: 2, max_fails: 2 }));
  // In the registry's order: Consul lists keys sorted.
  const both = [conf(ia, a.addr, { max_fails: 2 }), conf(ib, b.addr, { weight: 2, max_fails: 2 })];
  assert.deepEqual(
    (await call(port, "GET", path)).doc,
    both.sort((x, y) => (x.server < y.server ? -1 : 1)),
  );

  // PATCH: the whole value is written (fields replaced, not merged).
  const patched = await call(port, "PATCH", `${path}/${ib}`, { weight: 5, fail_timeout: "1m", down: true });
  assert.equal(patched.status, 200);
  assert.deepEqual(value(c, b.addr), { weight: 5, max_fails: 2, fail_timeout: 60, down: 1, backup: 0 });
  assert.deepEqual(
    patched.doc,
    conf(ib, b.addr, { weight: 5, max_fails: 2, fail_timeout: "60s", down: true }),
  );
  assert.equal((await call(port, "PATCH", `${path}/${ib}`, { down: false })).status, 200);

  // drain is local: the registry key is not written.
  const before = c.get(`${KEY}${a.addr}`)!.modifyIndex;
  const drained = await call(port, "PATCH", `${path}/${ia}`, { drain: true });
  assert.deepEqual(drained.doc, conf(ia, a.addr, { max_fails: 2, drain: true }));
  assert.equal(c.get(`${KEY}${a.addr}`)!.modifyIndex, before);
  assert.deepEqual(await answers(port, 3), ["b", "b", "b"]);

  // A registry update of the drained server keeps the drain; upsync_status says the api set it.
  c.put(`${KEY}${a.addr}`, '{"weight":4,"max_fails":2,"fail_timeout":10}');
  await eventually(
    "weight 4 applied",
    () => proxy.upstreams.get("con_server")!.group.get(a.addr)!.spec.weight === 4,
  );
  assert.deepEqual(
    (await call(port, "GET", `${path}/${ia}`)).doc,
    conf(ia, a.addr, { weight: 4, max_fails: 2, drain: true }),
  );
  assert.deepEqual(await answers(port, 3), ["b", "b", "b"]);
  const status = JSON.parse((await send(port, "/upsync_status")).body) as {
    upstreams: Record<
      string,
      { servers: { server: string; origin: string; drain?: { origin: string; since: string } }[] }
    >;
  };
  const shown = status.upstreams["con_server"]!.servers;
  assert.equal(shown.find((s) => s.server === a.addr)!.drain!.origin, "api");
  assert.match(shown.find((s) => s.server === a.addr)!.drain!.since, /^\d{4}-\d\d-\d\dT/);
  assert.equal(shown.find((s) => s.server === b.addr)!.drain, undefined);
  assert.equal((await call(port, "PATCH", `${path}/${ia}`, { drain: false })).status, 200);

  // DELETE: the key leaves the registry, the answer lists what is left.
  const removed = await call(port, "DELETE", `${path}/${ib}`);
  assert.equal(removed.status, 200);
  assert.equal(c.get(`${KEY}${b.addr}`), undefined);
  assert.deepEqual(removed.doc, [conf(ia, a.addr, { weight: 4, max_fails: 2 })]);
  assert.deepEqual(await answers(port, 2), ["a", "a"]);

  // A server the registry already lists is a conflict even before this instance applied it.
  c.put(`${KEY}127.0.0.9:80`, "{}");
  error(
    409,
    "EntryExists",
    /^server "127\.0\.0\.9:80" exists/,
  )(await call(port, "POST", path, { server: "127.0.0.9:80" }));
});

test("a registry that refuses the write: the API answers the registry's error and nothing changes", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const a = await startBackend(t, "a");
  c.put(`${KEY}${a.addr}`, "{}");
  const { port, proxy } = await registryProxy(t, c);
  c.respondWith((req) => (req.method === "PUT" ? { status: 500, body: "rpc error" } : undefined));
  const r = await call(port, "POST", "9/http/upstreams/con_server/servers", { server: "127.0.0.9:80" });
  assert.equal(r.status, 502);
  const e = (r.doc as { error: { code: string; text: string } }).error;
  assert.equal(e.code, "RegistryUnreachable");
  assert.match(e.text, /^consul /);
  assert.equal(proxy.upstreams.get("con_server")!.group.all().length, 1);
});

test("a Consul catalog upstream: attribute writes are refused (409 ReadOnlySource), drain works", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const a = await startBackend(t, "a");
  c.registerService({ node: "n1", nodeAddress: "127.0.0.1", name: "web", port: a.port });
  const port = await freePort();
  const { proxy } = await startProxy(
    t,
    `upstream web {
       upsync ${c.address}/v1/catalog/service/web upsync_interval=50ms upsync_type=consul_services strong_dependency=on;
       upsync_dump_path ${tempDir(t)}/web.conf;
     }
     server { listen 127.0.0.1:${port}; location /api/ { allow 127.0.0.1; deny all; api write=on; } }`,
  );
  const ia = serial(proxy, "web", a.addr);
  const path = "9/http/upstreams/web/servers";
  const refused = error(
    409,
    "ReadOnlySource",
    'upstream "web" follows the Consul catalog (consul_services): change the service registration instead',
  );
  refused(await call(port, "POST", path, { server: "127.0.0.9:80" }));
  refused(await call(port, "PATCH", `${path}/${ia}`, { weight: 3 }));
  assert.equal((await call(port, "PATCH", `${path}/${ia}`, { drain: true })).status, 200);
  assert.equal(proxy.upstreams.get("web")!.group.get(a.addr)!.draining, true);
  // The last server cannot be removed whatever the source.
  error(409, "UpstreamLastServer", /last primary server/)(await call(port, "DELETE", `${path}/${ia}`));
});

test("the API's ids are the check_status indexes; health checks show in the peers", async (t) => {
  const a = await startBackend(t, "a");
  const port = await freePort();
  const { proxy } = await startProxy(
    t,
    `upstream backend { server ${a.addr}; server 127.0.0.1:1 backup; check interval=100 rise=1 fall=1 timeout=500 type=tcp default_down=false; }
     server { listen 127.0.0.1:${port};
       location = /status { check_status json; }
       location /api/ { allow 127.0.0.1; deny all; api; } }`,
  );
  await eventually("backup probed down", () =>
    proxy.checker.servers().some((s) => s.name === "127.0.0.1:1" && s.probed && !s.up),
  );
  const page = JSON.parse((await send(port, "/status")).body) as {
    servers: { server: { index: number; name: string }[] };
  };
  const indexes = page.servers.server.map((s) => [s.name, s.index]);
  const peers = ((await call(port, "GET", "9/http/upstreams/backend")).doc as UpstreamJson).peers;
  assert.deepEqual(
    peers.map((p) => [p.server, p.id]),
    indexes,
  );
  const down = peers.find((p) => p.server === "127.0.0.1:1")!;
  assert.equal(down.state, "unhealthy");
  assert.equal(down.backup, true);
  assert.ok(
    down.health_checks!.checks >= 1 && down.health_checks!.fails >= 1 && down.health_checks!.unhealthy === 1,
  );
  assert.equal(down.health_checks!.last_passed, false);
  const up = peers.find((p) => p.server === a.addr)!;
  assert.equal(up.state, "up");
  assert.equal(up.health_checks!.last_passed, true);
  assert.equal(up.health_checks!.unhealthy, 0);
});

test("an upstream with no source but an upsync_dump_path: API changes are saved there and loaded at the next start", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const dir = tempDir(t);
  const dump = `${dir}/backend.conf`;
  const http = (port: number): string =>
    `upstream backend { server ${a.addr}; upsync_dump_path ${dump}; }
     server { listen 127.0.0.1:${port};
       location / { proxy_pass http://backend; }
       location /api/ { allow 127.0.0.1; deny all; api write=on; } }`;
  const port = await freePort();
  const first = await startProxy(t, http(port));
  const added = await call(port, "POST", "9/http/upstreams/backend/servers", { server: b.addr, weight: 3 });
  assert.equal(added.status, 201, JSON.stringify(added.doc));
  // Saved before the answer: the dump lists both, in the server-line format.
  const text = readFileSync(dump, "utf8");
  assert.match(text, /^# syncgate dump of upstream backend; source: api;/);
  assert.ok(text.includes(`server ${b.addr} weight=3 max_fails=1 fail_timeout=10s;`), text);
  await first.proxy.close();

  // The next start serves what the API left, not only the config's server.
  const port2 = await freePort();
  await startProxy(t, http(port2));
  const seen = new Set((await answers(port2, 8)).map((x) => x));
  assert.deepEqual([...seen].sort(), ["a", "b"]);
});
