/**
 * `check_keepalive_requests N` for `type=http` with real sockets on 127.0.0.1 (check spec §1.3, §9): N probes per
 * connection (counted on the server's side), then a new one; bodies by Content-Length and chunked framing read
 * whole; `Connection: close`, HTTP/1.0 and unframed answers close after the probe without a failure; a server
 * closing an idle kept connection is no failure; bytes after an answer, a failing status or a timeout are one
 * failure and a fresh connection next; N = 1, HTTP/1.0 requests and tcp never keep; the checker closes a kept
 * connection when its server leaves or checking stops; an idle kept connection does not keep the process alive.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { test, type TestContext } from "node:test";
import { HealthChecker } from "../../src/check/checker.js";
import { ProbeConnection } from "../../src/check/probes/kept.js";
import { runProbe, startProbe } from "../../src/check/probes/run.js";
import type { ProbeResult } from "../../src/check/probes/types.js";
import type { CheckConf } from "../../src/config/types.js";
import { Upstream } from "../../src/upstream/upstream.js";
import { startBackend } from "../support/backend.js";
import { checkConf, rawPeer, type Peer } from "../support/probe-peers.js";
import { server, upstreamConf } from "../support/servers.js";
import { eventually, sleep } from "../support/wait.js";

/** Every test settles well within this (probes have their own timeouts). */
const BOUND = { timeout: 10_000 };

const SEND11 = "GET /health HTTP/1.1\r\nHost: check\r\n\r\n";
const OK = { ok: true } as const;

/** An http check conf with `check_keepalive_requests n` and a request that allows keep-alive. */
const kconf = (n: number, extra: Partial<CheckConf> = {}): CheckConf =>
  checkConf("http", { send: SEND11, keepaliveRequests: n, timeout: 1000, ...extra });

const probe = (port: number, conf: CheckConf, conn: ProbeConnection): Promise<ProbeResult> =>
  runProbe("127.0.0.1", port, conf, undefined, conn);

/** `count` probes one after the other, `gapMs` apart. */
async function probes(
  port: number,
  conf: CheckConf,
  conn: ProbeConnection,
  count: number,
  gapMs = 0,
): Promise<ProbeResult[]> {
  const out: ProbeResult[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0 && gapMs > 0) await sleep(gapMs);
    out.push(await probe(port, conf, conn));
  }
  return out;
}

/** A raw server that reads requests (up to a blank line) and hands each to `answer`; requests per connection. */
interface KeepPeer extends Peer {
  /** Requests received on each connection, in accept order. */
  requests: number[];
  open(): number;
}

async function keepPeer(
  t: TestContext,
  answer: (socket: Socket, conn: number, n: number) => void,
): Promise<KeepPeer> {
  const requests: number[] = [];
  const peer = await rawPeer(t, (socket) => {
    const conn = requests.length;
    requests.push(0);
    let buf = "";
    socket.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (let i = buf.indexOf("\r\n\r\n"); i >= 0; i = buf.indexOf("\r\n\r\n")) {
        buf = buf.slice(i + 4);
        answer(socket, conn, ++requests[conn]!);
      }
    });
  });
  return Object.assign(peer, { requests, open: () => peer.accepted - peer.closed });
}

/** A node:http server (keep-alive as Node does it) answering with `handle`; connections and requests on each. */
async function nodeServer(
  t: TestContext,
  handle: (path: string, res: ServerResponse) => void = (_p, res) => res.end("ok\n"),
): Promise<{ port: number; requests: number[]; open: () => number }> {
  const requests: number[] = [];
  const index = new WeakMap<Socket, number>();
  let open = 0;
  const b = await startBackend(t, "check", (req, res) => {
    const i = index.get(req.socket)!;
    requests[i] = (requests[i] ?? 0) + 1;
    handle(req.url ?? "/", res);
  });
  b.server.on("connection", (s: Socket) => {
    index.set(s, requests.length);
    requests.push(0);
    open++;
    s.on("close", () => open--);
  });
  return { port: b.port, requests, open: () => open };
}

test("check_keepalive_requests 3: three probes per connection, then a new one", BOUND, async (t) => {
  const srv = await nodeServer(t);
  const conn = new ProbeConnection();
  t.after(() => conn.close());
  const results = await probes(srv.port, kconf(3), conn, 7);
  assert.deepEqual(results, Array(7).fill(OK));
  assert.deepEqual(srv.requests, [3, 3, 1], "requests per connection, counted by the server");
  assert.equal(conn.idle, true, "the third connection carried one probe: kept for the next");
  await eventually("full connections closed", () => srv.open() === 1, 2000);
  conn.close();
  assert.equal(conn.idle, false);
  await eventually("the kept connection closed", () => srv.open() === 0, 2000);
});

test(
  "bodies by Content-Length and chunked framing, arriving in pieces, keep working across probes",
  BOUND,
  async (t) => {
    const srv = await nodeServer(t, (path, res) => {
      if (path === "/length") return res.end("x".repeat(3000));
      // No Content-Length: Node sends chunked, here in three reads.
      res.write("a".repeat(1000));
      setTimeout(() => res.write("b".repeat(10)), 5);
      setTimeout(() => res.end("c"), 10);
    });
    for (const path of ["/length", "/chunked"]) {
      const conn = new ProbeConnection();
      t.after(() => conn.close());
      const conf = kconf(100, { send: `GET ${path} HTTP/1.1\r\nHost: check\r\n\r\n` });
      assert.deepEqual(await probes(srv.port, conf, conn, 4), Array(4).fill(OK), path);
      conn.close();
    }
    assert.deepEqual(srv.requests, [4, 4], "one connection per path");
    // Raw framing that Node does not send: chunk extensions, trailers, a head cut mid-line, a body sent late.
    const peer = await keepPeer(t, (s) => {
      s.write("HTTP/1.1 200 OK\r\nTransfer-Enc");
      setTimeout(() => s.write("oding: chunked\r\n\r\n3;name=v\r\nabc\r\n0\r\nX-Trailer: 1"), 5);
      setTimeout(() => s.write("\r\n\r\n"), 10);
    });
    const conn = new ProbeConnection();
    t.after(() => conn.close());
    assert.deepEqual(await probes(peer.port, kconf(100), conn, 4), Array(4).fill(OK));
    assert.deepEqual(peer.requests, [4]);
  },
);

test(
  "Connection: close, HTTP/1.0 and unframed answers: alive, and the next probe connects afresh",
  BOUND,
  async (t) => {
    const answers = [
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nok\n",
      "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n",
      "HTTP/1.1 200 OK\r\n\r\nok, until the close\n",
    ];
    for (const answer of answers) {
      // The server closes after answering, as such answers promise.
      const peer = await keepPeer(t, (s) => s.end(answer));
      const conn = new ProbeConnection();
      t.after(() => conn.close());
      assert.deepEqual(await probes(peer.port, kconf(100), conn, 3), Array(3).fill(OK), answer);
      assert.deepEqual(peer.requests, [1, 1, 1], answer);
      assert.equal(conn.idle, false);
    }
    // `Connection: close` from a server that would keep the connection: syncgate closes it.
    const srv = await nodeServer(t, (_p, res) => {
      res.setHeader("Connection", "close");
      res.end("ok\n");
    });
    const conn = new ProbeConnection();
    t.after(() => conn.close());
    assert.deepEqual(await probes(srv.port, kconf(100), conn, 3), Array(3).fill(OK));
    assert.deepEqual(srv.requests, [1, 1, 1]);
  },
);

test("a server that closes the idle kept connection between probes causes no failure", BOUND, async (t) => {
  // Its keep-alive timeout: 20 ms after each answer.
  const peer = await keepPeer(t, (s) => {
    s.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    setTimeout(() => s.end(), 20);
  });
  const conn = new ProbeConnection();
  t.after(() => conn.close());
  for (let i = 1; i <= 4; i++) {
    assert.deepEqual(await probe(peer.port, kconf(100), conn), OK, `probe ${i}`);
    assert.equal(conn.idle, true);
    await eventually("the idle close seen", () => !conn.idle, 2000);
  }
  assert.deepEqual(peer.requests, [1, 1, 1, 1]);
  await eventually("every connection closed", () => peer.open() === 0, 2000);
});

test("a kept connection closed just as the probe goes out: retried once on a fresh one", BOUND, async (t) => {
  // The server closes a connection when its second request comes (its idle timeout crossing the probe).
  let hangUp = false;
  const peer = await keepPeer(t, (s, _conn, n) => {
    if (n > 1 || hangUp) s.destroy();
    else s.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
  });
  const conn = new ProbeConnection();
  t.after(() => conn.close());
  assert.deepEqual(await probes(peer.port, kconf(100), conn, 3), Array(3).fill(OK));
  assert.deepEqual(peer.requests, [2, 2, 1], "each later probe went out on the kept connection first");
  // A server that now closes every connection unanswered fails: the retry is once, on a fresh connection.
  hangUp = true;
  const r = await probe(peer.port, kconf(100), conn);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.reason, `check connection closed prematurely with peer: 127.0.0.1:${peer.port}`);
  assert.deepEqual(peer.requests, [2, 2, 2, 1]);
});

test("bytes after an answer: that probe fails, and the next one connects afresh", BOUND, async (t) => {
  const addr = (p: Peer): string => `127.0.0.1:${p.port}`;
  // In the same write as the answer.
  const extra = await keepPeer(t, (s, c) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n${c === 0 ? "JUNK" : ""}`);
  });
  const conn = new ProbeConnection();
  t.after(() => conn.close());
  assert.deepEqual(await probe(extra.port, kconf(100), conn), {
    ok: false,
    reason: `check protocol http error with peer: ${addr(extra)}`,
    detail: "4 bytes after the end of the answer",
  });
  assert.equal(conn.idle, false);
  assert.deepEqual(await probes(extra.port, kconf(100), conn, 2), [OK, OK]);
  assert.deepEqual(extra.requests, [1, 2]);

  // Later, while the connection is idle (a second answer nobody asked for).
  const late = await keepPeer(t, (s, c) => {
    s.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    if (c === 0) setTimeout(() => s.write("HTTP/1.1 200 OK\r\n\r\n"), 20);
  });
  const conn2 = new ProbeConnection();
  t.after(() => conn2.close());
  assert.deepEqual(await probe(late.port, kconf(100), conn2), OK);
  await eventually("the idle connection dropped", () => !conn2.idle, 2000);
  assert.deepEqual(await probe(late.port, kconf(100), conn2), {
    ok: false,
    reason: `check protocol http error with peer: ${addr(late)}`,
    detail: "19 unexpected bytes on the kept connection after the last answer",
  });
  assert.equal(late.accepted, 1, "the failing probe did not connect");
  assert.deepEqual(await probe(late.port, kconf(100), conn2), OK);
  assert.deepEqual(late.requests, [1, 1]);

  // Bad chunked framing: a failure, and a fresh connection next.
  const bad = await keepPeer(t, (s, c) => {
    s.write(
      c === 0
        ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n"
        : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
  });
  const conn3 = new ProbeConnection();
  t.after(() => conn3.close());
  const [first, second] = await probes(bad.port, kconf(100), conn3, 2);
  assert.equal(first!.ok, false);
  if (!first!.ok) assert.equal(first!.detail, "invalid chunk size");
  assert.deepEqual(second, OK);
  assert.deepEqual(bad.requests, [1, 1]);
});

test(
  "a failing status or a timeout on a kept connection: one failure, then a fresh connection",
  BOUND,
  async (t) => {
    const status = await keepPeer(t, (s, c, n) => {
      const code = c === 0 && n === 2 ? "503 Busy" : "200 OK";
      s.write(`HTTP/1.1 ${code}\r\nContent-Length: 3\r\n\r\nok\n`);
    });
    const conn = new ProbeConnection();
    t.after(() => conn.close());
    const r = await probes(status.port, kconf(100), conn, 3);
    assert.deepEqual(r[0], OK);
    assert.equal(r[1]!.ok, false);
    if (!r[1]!.ok) assert.equal(r[1]!.detail, "status 503 is not in http_2xx http_3xx");
    assert.deepEqual(r[2], OK);
    assert.deepEqual(status.requests, [2, 1]);

    // The second request on the first connection is never answered.
    const silent = await keepPeer(t, (s, c, n) => {
      if (c === 0 && n === 2) return;
      s.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    });
    const conn2 = new ProbeConnection();
    t.after(() => conn2.close());
    const s = await probes(silent.port, kconf(100, { timeout: 300 }), conn2, 3);
    assert.deepEqual(s[0], OK);
    assert.deepEqual(s[1], { ok: false, reason: `check time out with peer: 127.0.0.1:${silent.port}` });
    assert.deepEqual(s[2], OK);
    assert.deepEqual(silent.requests, [2, 1]);
    await eventually("the timed-out connection closed", () => silent.closed === 1, 2000);
  },
);

test(
  "N = 1 (the default), an HTTP/1.0 request, and tcp open a connection for every probe",
  BOUND,
  async (t) => {
    const srv = await nodeServer(t);
    const conn = new ProbeConnection();
    t.after(() => conn.close());
    assert.deepEqual(await probes(srv.port, kconf(1), conn, 3), Array(3).fill(OK));
    assert.deepEqual(srv.requests, [1, 1, 1], "N = 1");
    assert.equal(conn.idle, false);
    // The module's default request asks the server to close: nothing to keep, whatever N says.
    const srv10 = await nodeServer(t);
    assert.deepEqual(await probes(srv10.port, kconf(100, { send: null }), conn, 3), Array(3).fill(OK));
    assert.deepEqual(srv10.requests, [1, 1, 1], "GET / HTTP/1.0");
    assert.equal(conn.idle, false);
    // tcp: never kept (the module's tcp keep-alive hid dead links).
    const tcp = await rawPeer(t, () => {});
    const tconf = checkConf("tcp", { keepaliveRequests: 100, timeout: 1000 });
    assert.deepEqual(await probes(tcp.port, tconf, conn, 3), Array(3).fill(OK));
    assert.equal(tcp.accepted, 3);
    await eventually("tcp probe connections closed", () => tcp.closed === 3, 2000);
    assert.equal(conn.idle, false);
  },
);

test(
  "the checker keeps one connection per server and closes it when the server leaves or checking stops",
  BOUND,
  async (t) => {
    const a = await nodeServer(t);
    const b = await nodeServer(t);
    const addrA = `127.0.0.1:${a.port}`;
    const addrB = `127.0.0.1:${b.port}`;
    const conf = kconf(1000, { interval: 20, rise: 1, fall: 1 });
    const specs = [server(addrA), server(addrB)];
    const u = new Upstream(upstreamConf("u", specs, { check: conf }), specs, Date.now());
    const checker = new HealthChecker({
      log: () => undefined,
      now: Date.now,
      probe: startProbe,
      random: () => 0,
    });
    t.after(() => checker.stop());
    checker.add(u);
    const rise = (addr: string): number => checker.servers().find((s) => s.name === addr)?.rise ?? 0;
    await eventually("five probes of each", () => rise(addrA) >= 5 && rise(addrB) >= 5, 5000);
    assert.equal(a.requests.length, 1, "a: one connection for every probe");
    assert.ok(a.requests[0]! >= 5);
    assert.equal(b.requests.length, 1, "b: one connection for every probe");
    // a leaves: its kept connection is closed and it is probed no more.
    u.apply([server(addrB)], Date.now());
    await eventually("a's kept connection closed", () => a.open() === 0, 2000);
    const seen = a.requests[0];
    await sleep(100);
    assert.deepEqual(a.requests, [seen]);
    assert.equal(b.open(), 1);
    // Checking stops: b's kept connection is closed too.
    checker.stop();
    await eventually("b's kept connection closed", () => b.open() === 0, 2000);
    assert.equal(b.requests.length, 1);
  },
);

test(
  "closing the probe session aborts the probe in flight, on a kept connection or a fresh one",
  BOUND,
  async (t) => {
    // Answers the first request on each connection, never a later one.
    const peer = await keepPeer(t, (s, _c, n) => {
      if (n === 1) s.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    });
    const aborted = { ok: false, reason: `check aborted with peer: 127.0.0.1:${peer.port}` };
    for (const type of ["http", "mysql"] as const) {
      const conn = new ProbeConnection();
      const conf =
        type === "http" ? kconf(100, { timeout: 10_000 }) : checkConf("mysql", { timeout: 10_000 });
      if (type === "http") assert.deepEqual(await probe(peer.port, conf, conn), OK);
      const start = Date.now();
      const pending = probe(peer.port, conf, conn);
      await sleep(50);
      conn.close();
      assert.deepEqual(await pending, aborted, type);
      assert.ok(Date.now() - start < 1000, `${type}: did not wait for the timeout`);
      assert.deepEqual(
        await probe(peer.port, conf, conn),
        aborted,
        `${type}: a closed session probes no more`,
      );
    }
    assert.deepEqual(
      peer.requests,
      [2, 0],
      "the http probe waited on the kept connection; mysql sends nothing",
    );
    await eventually("every connection closed", () => peer.open() === 0, 2000);
  },
);

test("an idle kept connection does not keep the process alive", BOUND, async (t) => {
  // A server that never closes idle connections: only syncgate's unref lets the child exit.
  const peer = await keepPeer(t, (s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"));
  const modules = new URL("../../src/check/probes/", import.meta.url).href;
  const script = `
    const { runProbe } = await import(${JSON.stringify(`${modules}run.js`)});
    const { ProbeConnection } = await import(${JSON.stringify(`${modules}kept.js`)});
    const conn = new ProbeConnection();
    const conf = ${JSON.stringify(kconf(100))};
    const r = await runProbe("127.0.0.1", ${peer.port}, conf, undefined, conn);
    console.log(JSON.stringify({ r, idle: conn.idle }));
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill();
      resolve(null);
    }, 4000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  assert.equal(exited, 0, `the child exited by itself (stderr: ${err})`);
  assert.deepEqual(JSON.parse(out), { r: OK, idle: true }, "it held an idle kept connection when it exited");
  assert.deepEqual(peer.requests, [1]);
});
