/**
 * `runProbe` with `type=tcp` against real loopback peers, plus what every type shares: connect errors in nginx's
 * words, the one timeout, aborts, and nothing left behind (sockets, timers) once a probe has settled.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { probePort, runProbe } from "../../src/check/probes/run.js";
import type { CheckConf } from "../../src/config/types.js";
import { checkConf, closedPort, rawPeer } from "../support/probe-peers.js";
import { hangingPort } from "../support/sockets.js";
import { eventually } from "../support/wait.js";

/** Every test settles well within this (probes have their own timeouts). */
const BOUND = { timeout: 5000 };

const tcp = (extra: Partial<CheckConf> = {}): CheckConf => checkConf("tcp", { timeout: 1000, ...extra });

/** Active sockets and timers by kind (servers of other tests may still be closing: not counted). */
function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) {
    if (r === "TCPSocketWrap" || r === "Timeout" || r === "Immediate") out[r] = (out[r] ?? 0) + 1;
  }
  return out;
}

test(
  "a listener that accepts is alive; every probe opens and closes its own connection",
  BOUND,
  async (t) => {
    const peer = await rawPeer(t, () => {});
    for (let i = 0; i < 3; i++) assert.deepEqual(await runProbe("127.0.0.1", peer.port, tcp()), { ok: true });
    assert.equal(peer.accepted, 3, "a fresh connection per probe (the module's tcp keep-alive bug, fixed)");
    await eventually("all closed", () => peer.closed === 3, 2000);
    assert.deepEqual(peer.received, [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)], "tcp sends nothing");
  },
);

test(
  "a listener that sends a banner is alive, even when it closes right after (the peek sees a byte)",
  BOUND,
  async (t) => {
    const peer = await rawPeer(t, (s) => s.end("220 ready\r\n"));
    assert.deepEqual(await runProbe("127.0.0.1", peer.port, tcp()), { ok: true });
  },
);

test("a closed port: connect() failed (111: Connection refused)", BOUND, async () => {
  const port = await closedPort();
  const r = await runProbe("127.0.0.1", port, tcp());
  assert.deepEqual(r, {
    ok: false,
    reason: `connect() failed (111: Connection refused) with peer: 127.0.0.1:${port}`,
  });
  // The same words for every type.
  const h = await runProbe("127.0.0.1", port, checkConf("http"));
  assert.equal(
    h.ok ? "" : h.reason,
    `connect() failed (111: Connection refused) with peer: 127.0.0.1:${port}`,
  );
});

test("a listener that accepts and closes at once is a failure, every time", BOUND, async (t) => {
  const peer = await rawPeer(t, (s) => s.end());
  for (let i = 0; i < 20; i++) {
    const r = await runProbe("127.0.0.1", peer.port, tcp());
    assert.deepEqual(
      r,
      {
        ok: false,
        reason: `check connection closed prematurely with peer: 127.0.0.1:${peer.port}`,
        detail: "connection closed before the check settled",
      },
      `probe ${i}`,
    );
  }
  // A reset instead of a FIN fails too.
  const reset = await rawPeer(t, (s) => s.resetAndDestroy());
  const r = await runProbe("127.0.0.1", reset.port, tcp());
  assert.equal(r.ok, false);
});

test("a connect that never completes: check time out", BOUND, async (t) => {
  const port = await hangingPort(t);
  assert.ok(port !== null, "connect() to a full accept queue did not hang: the timeout cannot be exercised");
  const start = Date.now();
  const r = await runProbe("127.0.0.1", port, tcp({ timeout: 300 }));
  const took = Date.now() - start;
  assert.deepEqual(r, { ok: false, reason: `check time out with peer: 127.0.0.1:${port}` });
  assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
});

test("a timeout shorter than the settle window: connected and not closed is alive", BOUND, async (t) => {
  const peer = await rawPeer(t, () => {});
  assert.deepEqual(await runProbe("127.0.0.1", peer.port, tcp({ timeout: 5 })), { ok: true });
});

test("abort closes the connection at once; an aborted signal connects nowhere", BOUND, async (t) => {
  const peer = await rawPeer(t, () => {});
  const ac = new AbortController();
  const pending = runProbe("127.0.0.1", peer.port, checkConf("http", { timeout: 10_000 }), ac.signal);
  await eventually("connected", () => peer.accepted === 1, 2000);
  const start = Date.now();
  ac.abort();
  assert.deepEqual(await pending, { ok: false, reason: `check aborted with peer: 127.0.0.1:${peer.port}` });
  assert.ok(Date.now() - start < 100);
  await eventually("peer sees the close", () => peer.closed === 1, 2000);
  const r = await runProbe("127.0.0.1", peer.port, tcp(), AbortSignal.abort());
  assert.equal(r.ok, false);
  assert.equal(peer.accepted, 1, "no connection for an already aborted signal");
});

test(
  "nothing is left behind: no socket, no timer, after success, timeout, refusal and abort",
  BOUND,
  async (t) => {
    const quiet = await rawPeer(t, () => {});
    const port = await closedPort();
    const before = resources();
    assert.deepEqual(await runProbe("127.0.0.1", quiet.port, tcp()), { ok: true });
    assert.equal((await runProbe("127.0.0.1", quiet.port, checkConf("http", { timeout: 100 }))).ok, false);
    assert.equal((await runProbe("127.0.0.1", port, tcp())).ok, false);
    const ac = new AbortController();
    const aborted = runProbe("127.0.0.1", quiet.port, checkConf("mysql", { timeout: 10_000 }), ac.signal);
    setTimeout(() => ac.abort(), 20);
    assert.equal((await aborted).ok, false);
    await eventually("peer closed all", () => quiet.closed === quiet.accepted, 2000);
    // Closed handles leave the list on the next loop turn.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(resources(), before);
  },
);

test("a port out of range fails without throwing; probePort prefers check port=", BOUND, async () => {
  const r = await runProbe("127.0.0.1", 70_000, tcp());
  assert.equal(r.ok, false);
  if (!r.ok)
    assert.match(r.reason, /^connect\(\) failed \(ERR_SOCKET_BAD_PORT: .* with peer: 127\.0\.0\.1:70000$/);
  assert.equal(probePort(tcp({ port: 8081 }), 80), 8081);
  assert.equal(probePort(tcp(), 80), 80);
});

test("IPv6 peers are named in brackets", BOUND, async () => {
  const r = await runProbe("::1", await closedPort(), tcp());
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /with peer: \[::1\]:\d+$/);
});
