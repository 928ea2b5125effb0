/**
 * `runProbe` with `type=http` against real peers on 127.0.0.1: a node:http server answering the status its path
 * names, and raw servers that send garbage, close early or never answer. Reasons are the module's log words.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { runProbe } from "../../src/check/probes/run.js";
import type { CheckConf } from "../../src/config/types.js";
import { startBackend } from "../support/backend.js";
import { answeringPeer, checkConf, rawPeer } from "../support/probe-peers.js";
import { eventually } from "../support/wait.js";

/** Every test settles well within this (probes have their own timeouts). */
const BOUND = { timeout: 5000 };

/** An HTTP server answering `GET /NNN` with status NNN (and a body), tracking its connections. */
async function statusServer(
  t: TestContext,
): Promise<{ port: number; open: () => number; requests: string[] }> {
  const requests: string[] = [];
  let open = 0;
  const b = await startBackend(t, "status", (req, res) => {
    requests.push(`${req.method} ${req.url} HTTP/${req.httpVersion}`);
    const code = Number(req.url?.slice(1)) || 200;
    res.writeHead(code, { "Content-Type": "text/plain" });
    res.end(`status ${code}\n`);
  });
  b.server.on("connection", (s) => {
    open++;
    s.on("close", () => open--);
  });
  return { port: b.port, open: () => open, requests };
}

const get = (path: string): string => `GET ${path} HTTP/1.0\r\n\r\n`;
const conf = (extra: Partial<CheckConf>): CheckConf => checkConf("http", { timeout: 2000, ...extra });

const CASES: { send: string; expect: CheckConf["expectAlive"]; ok: boolean }[] = [
  { send: get("/200"), expect: null, ok: true },
  { send: get("/204"), expect: null, ok: true },
  { send: get("/302"), expect: null, ok: true },
  { send: get("/404"), expect: null, ok: false },
  { send: get("/500"), expect: null, ok: false },
  { send: get("/503"), expect: null, ok: false },
  { send: get("/302"), expect: ["http_2xx"], ok: false },
  { send: get("/404"), expect: ["http_4xx"], ok: true },
  { send: get("/200"), expect: ["http_4xx"], ok: false },
  { send: get("/500"), expect: ["http_2xx", "http_5xx"], ok: true },
  { send: "HEAD / HTTP/1.0\r\n\r\n", expect: ["http_2xx", "http_3xx"], ok: true },
];

test("2xx/3xx/4xx/5xx against check_http_expect_alive", BOUND, async (t) => {
  const srv = await statusServer(t);
  const addr = `127.0.0.1:${srv.port}`;
  for (const c of CASES) {
    const r = await runProbe("127.0.0.1", srv.port, conf({ send: c.send, expectAlive: c.expect }));
    const what = `${c.send.trim()} expect ${c.expect?.join(",") ?? "default"}`;
    if (c.ok) assert.deepEqual(r, { ok: true }, what);
    else {
      assert.equal(r.ok, false, what);
      if (!r.ok) assert.equal(r.reason, `check protocol http error with peer: ${addr}`, what);
    }
  }
  assert.deepEqual(
    srv.requests,
    CASES.map((c) => c.send.slice(0, c.send.indexOf("\r"))),
    "one request per probe, as sent",
  );
  // Every probe closed its connection.
  await eventually("probe connections closed", () => srv.open() === 0, 2000);
});

test("the default request is GET / HTTP/1.0", BOUND, async (t) => {
  const srv = await statusServer(t);
  assert.deepEqual(await runProbe("127.0.0.1", srv.port, conf({})), { ok: true });
  assert.deepEqual(srv.requests, ["GET / HTTP/1.0"]);
});

test("pitfall: an HTTP/1.1 request without Host gets 400 and the peer is down", BOUND, async (t) => {
  const srv = await statusServer(t);
  const r = await runProbe("127.0.0.1", srv.port, conf({ send: "GET / HTTP/1.1\r\n\r\n" }));
  assert.equal(r.ok, false);
  const fixed = await runProbe(
    "127.0.0.1",
    srv.port,
    conf({ send: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" }),
  );
  assert.deepEqual(fixed, { ok: true });
});

test("garbage instead of a status line is a protocol error", BOUND, async (t) => {
  const peer = await answeringPeer(t, "SSH-2.0-OpenSSH_9.6\r\n", { after: 1 });
  const r = await runProbe("127.0.0.1", peer.port, conf({}));
  assert.deepEqual(r, {
    ok: false,
    reason: `check protocol http error with peer: 127.0.0.1:${peer.port}`,
    detail: "http parse status line error",
  });
});

test("a 101 is never alive, whatever the classes", BOUND, async (t) => {
  const peer = await answeringPeer(t, "HTTP/1.1 101 Switching Protocols\r\n\r\n", { after: 1 });
  const all: CheckConf["expectAlive"] = ["http_2xx", "http_3xx", "http_4xx", "http_5xx"];
  const r = await runProbe("127.0.0.1", peer.port, conf({ expectAlive: all }));
  assert.equal(r.ok, false);
});

test("a status line cut short by a close is a failure at once, not at the timeout", BOUND, async (t) => {
  const peer = await answeringPeer(t, "HTTP/1.1 20", { after: 1, close: true });
  const start = Date.now();
  const r = await runProbe("127.0.0.1", peer.port, conf({ timeout: 5000 }));
  assert.ok(Date.now() - start < 1000, "did not wait for the timeout");
  assert.deepEqual(r, {
    ok: false,
    reason: `check connection closed prematurely with peer: 127.0.0.1:${peer.port}`,
    detail: "connection closed before a complete status line",
  });
});

test("a peer that closes without answering fails", BOUND, async (t) => {
  const peer = await rawPeer(t, (s) => s.once("data", () => s.end()));
  const r = await runProbe("127.0.0.1", peer.port, conf({}));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.reason, `check connection closed prematurely with peer: 127.0.0.1:${peer.port}`);
});

test("a peer that never answers: check time out after `timeout`, connection closed", BOUND, async (t) => {
  const peer = await rawPeer(t, () => {});
  const start = Date.now();
  const r = await runProbe("127.0.0.1", peer.port, conf({ timeout: 300 }));
  const took = Date.now() - start;
  assert.deepEqual(r, { ok: false, reason: `check time out with peer: 127.0.0.1:${peer.port}` });
  assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
  assert.deepEqual(peer.received[0], Buffer.from("GET / HTTP/1.0\r\n\r\n"), "the request was sent");
  await eventually("the peer sees the close", () => peer.closed === 1, 2000);
});

test("the verdict comes with the status line; the body is not awaited", BOUND, async (t) => {
  // Status line now, the rest never: alive at once.
  const peer = await answeringPeer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", { after: 1 });
  const start = Date.now();
  assert.deepEqual(await runProbe("127.0.0.1", peer.port, conf({ timeout: 3000 })), { ok: true });
  assert.ok(Date.now() - start < 1000);
});
