/**
 * The health checker with real probes against real listeners on 127.0.0.1 (issue 5 items 2–4): transitions
 * after exactly `fall` failures and `rise` successes, a server with no history up on its first success,
 * default_down, state kept across membership updates, new servers probed at once, removed ones no more,
 * stable never-reused indexes, `down` servers not probed, and the first round before traffic.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { test, type TestContext } from "node:test";
import { HealthChecker } from "../../src/check/checker.js";
import { startProbe } from "../../src/check/probes/index.js";
import type { CheckConf, ServerSpec } from "../../src/config/types.js";
import { Upstream } from "../../src/upstream/upstream.js";
import { freePort } from "../support/ports.js";
import { checkConf as probeConf } from "../support/probe-peers.js";
import { server, upstreamConf } from "../support/servers.js";

/** A TCP listener that can go away and come back on the same port; counts the connections it accepted. */
interface Listener {
  port: number;
  addr: string;
  accepted: number;
  up(): Promise<void>;
  down(): Promise<void>;
}

async function listener(t: TestContext): Promise<Listener> {
  const port = await freePort();
  let srv: Server | null = null;
  const socks = new Set<Socket>();
  const l: Listener = {
    port,
    addr: `127.0.0.1:${port}`,
    accepted: 0,
    async up() {
      const s = createServer((sock) => {
        l.accepted++;
        socks.add(sock);
        sock.on("close", () => socks.delete(sock));
        sock.on("error", () => undefined);
      });
      await new Promise<void>((resolve) => s.listen(port, "127.0.0.1", resolve));
      srv = s;
    },
    async down() {
      const s = srv;
      srv = null;
      if (!s) return;
      for (const x of socks) x.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await l.up();
  t.after(() => l.down());
  return l;
}

function checkConf(over: Partial<CheckConf> = {}): CheckConf {
  return probeConf("tcp", { interval: 40, fall: 3, rise: 2, timeout: 500, ...over });
}

function upstream(name: string, specs: ServerSpec[], check: CheckConf): Upstream {
  return new Upstream(upstreamConf(name, specs, { check }), specs, Date.now());
}

function checker(t: TestContext, fileLimit?: number): { c: HealthChecker; logs: string[] } {
  const logs: string[] = [];
  const c = new HealthChecker({
    log: (level, m) => logs.push(`[${level}] ${m}`),
    now: Date.now,
    probe: startProbe,
    random: () => 0,
    ...(fileLimit === undefined ? {} : { fileLimit }),
  });
  t.after(() => c.stop());
  return { c, logs };
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const state = (c: HealthChecker, addr: string) => c.servers().find((s) => s.name === addr);

test("first round before traffic: default_down servers are up after their first success, a dead one stays down", async (t) => {
  const a = await listener(t);
  const deadPort = await freePort();
  const dead = `127.0.0.1:${deadPort}`;
  const u = upstream("u", [server(a.addr), server(dead)], checkConf({ rise: 5 }));
  const { c, logs } = checker(t);
  c.add(u);
  // Before any probe result: both down (default_down), so no server is available.
  assert.deepEqual(
    u.group.all().map((p) => p.healthy),
    [false, false],
  );
  await c.firstRound();
  assert.equal(state(c, a.addr)!.up, true, "rise=5, yet one success marks a server with no history up");
  assert.equal(state(c, dead)!.up, false);
  assert.deepEqual(
    u.group.all().map((p) => p.healthy),
    [true, false],
  );
  assert.ok(
    logs.some((l) => l === `[error] enable check peer: ${a.addr} (upstream "u")`),
    logs.join("\n"),
  );
  assert.ok(
    !logs.some((l) => l.includes(`disable check peer: ${dead}`)),
    "a server that never was up is not disabled",
  );
});

test("after the first result, exactly `fall` failures disable and exactly `rise` successes enable", async (t) => {
  const a = await listener(t);
  const u = upstream("u", [server(a.addr)], checkConf({ fall: 3, rise: 2 }));
  const { c, logs } = checker(t);
  c.add(u);
  await c.firstRound();
  assert.equal(state(c, a.addr)!.up, true);
  await a.down();
  await until("down", () => !state(c, a.addr)!.up);
  // It flips on the third consecutive failure, no earlier.
  assert.equal(state(c, a.addr)!.fall, 3);
  assert.equal(u.group.get(a.addr)!.healthy, false);
  assert.match(
    logs.at(-1)!,
    new RegExp(`^\\[error\\] disable check peer: ${a.addr} \\(upstream "u", .*refused`),
  );
  await a.up();
  await until("one success", () => state(c, a.addr)!.rise >= 1);
  assert.equal(state(c, a.addr)!.up, false, "one success is not enough with rise=2");
  await until("up", () => state(c, a.addr)!.up);
  assert.equal(state(c, a.addr)!.rise, 2);
  assert.equal(u.group.get(a.addr)!.healthy, true);
  // The counters keep growing while the outcome repeats, as the module's.
  await until("rise grows", () => state(c, a.addr)!.rise >= 4);
  assert.equal(state(c, a.addr)!.fall, 0);
});

test("default_down=false: new servers serve at once and go down after `fall` failures", async (t) => {
  const deadPort = await freePort();
  const dead = `127.0.0.1:${deadPort}`;
  const u = upstream("u", [server(dead)], checkConf({ defaultDown: false, fall: 2 }));
  const { c } = checker(t);
  c.add(u);
  assert.equal(u.group.get(dead)!.healthy, true);
  await until("down", () => !state(c, dead)!.up);
  assert.equal(state(c, dead)!.fall, 2);
});

test("membership updates: kept servers keep counters and index, new ones are probed at once, removed ones stop", async (t) => {
  const a = await listener(t);
  const b = await listener(t);
  const u = upstream("u", [server(a.addr)], checkConf({ interval: 5000 }));
  const { c } = checker(t);
  c.add(u);
  await c.firstRound();
  const ia = state(c, a.addr)!.index;
  const rise = state(c, a.addr)!.rise;
  // b joins: probed at once (not after the 5 s interval), a keeps its index and counters.
  const t0 = Date.now();
  u.apply([server(a.addr), server(b.addr)], Date.now());
  assert.equal(u.group.get(b.addr)!.healthy, false, "default_down until its first probe");
  await until("b probed", () => state(c, b.addr)?.up === true, 2000);
  assert.ok(Date.now() - t0 < 1000, `b's first probe took ${Date.now() - t0} ms`);
  assert.equal(state(c, a.addr)!.index, ia);
  assert.equal(state(c, a.addr)!.rise, rise);
  const ib = state(c, b.addr)!.index;
  assert.notEqual(ib, ia);
  // a leaves: no more probes of it; when it comes back it is a new server with a new index.
  u.apply([server(b.addr)], Date.now());
  assert.equal(state(c, a.addr), undefined);
  const accepted = a.accepted;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(a.accepted, accepted, "no probe of a removed server");
  u.apply([server(b.addr), server(a.addr)], Date.now());
  await until("a back", () => state(c, a.addr)?.up === true);
  assert.ok(state(c, a.addr)!.index > ib, "indexes are never reused");
  assert.equal(state(c, b.addr)!.index, ib);
});

test("checked servers past half of the open-file limit: one warning naming both numbers, never repeated", async (t) => {
  const peers = await Promise.all([1, 2, 3, 4, 5].map(() => listener(t)));
  const addrs = peers.map((p) => p.addr);
  const u = upstream(
    "u",
    addrs.slice(0, 3).map((a) => server(a)),
    checkConf(),
  );
  const { c, logs } = checker(t, 6);
  const warnings = () => logs.filter((l) => l.startsWith("[warn]"));
  c.add(u);
  await c.firstRound();
  assert.deepEqual(warnings(), [], "3 servers are half of 6: no warning yet");
  u.apply(
    addrs.slice(0, 4).map((a) => server(a)),
    Date.now(),
  );
  assert.deepEqual(warnings(), [
    "[warn] 4 checked servers hold up to 4 probe sockets, more than half of the open-file limit (6): raise it " +
      '(ulimit -n, systemd LimitNOFILE=) or probes and connections fail with "Too many open files"',
  ]);
  u.apply(
    addrs.map((a) => server(a)),
    Date.now(),
  );
  assert.equal(warnings().length, 1, "said once per process");
  await until("the fifth probed", () => state(c, addrs[4]!)?.up === true);
});

test("`down` servers are not probed; a down flag lifted starts their probes", async (t) => {
  const a = await listener(t);
  const u = upstream("u", [server(a.addr, { down: true })], checkConf());
  const { c } = checker(t);
  c.add(u);
  await c.firstRound();
  assert.deepEqual(c.servers(), []);
  assert.equal(a.accepted, 0);
  u.apply([server(a.addr)], Date.now());
  await until("probed", () => state(c, a.addr)?.up === true);
  assert.ok(a.accepted >= 1);
});

test("backup servers are checked too, listed after the primary ones", async (t) => {
  const a = await listener(t);
  const b = await listener(t);
  const u = upstream("u", [server(b.addr, { backup: true }), server(a.addr)], checkConf());
  const { c } = checker(t);
  c.add(u);
  await c.firstRound();
  assert.deepEqual(
    c.servers().map((s) => [s.name, s.up]),
    [
      [a.addr, true],
      [b.addr, true],
    ],
  );
});

test("a server that accepts and never answers fails each probe at `timeout` (the checker's deadlines), kept or not", async (t) => {
  for (const keepaliveRequests of [1, 100]) {
    const quiet = await listener(t);
    const timeout = 120;
    const conf = probeConf("http", {
      interval: 30,
      fall: 2,
      rise: 1,
      timeout,
      defaultDown: false,
      send: "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
      keepaliveRequests,
    });
    const u = upstream("u", [server(quiet.addr)], conf);
    const { c, logs } = checker(t);
    const started = performance.now();
    c.add(u);
    await until("down", () => !state(c, quiet.addr)!.up);
    const took = performance.now() - started;
    assert.equal(state(c, quiet.addr)!.fall, 2, `keepalive ${keepaliveRequests}`);
    // Two probes that each ran their whole timeout, an interval apart: never cut short.
    assert.ok(took >= 2 * timeout + conf.interval - 2, `down after ${took.toFixed(0)} ms`);
    assert.match(
      logs.at(-1)!,
      new RegExp(
        `^\\[error\\] disable check peer: ${quiet.addr} \\(upstream "u", check time out with peer: `,
      ),
    );
    c.stop();
  }
});

test("the next probe falls due within [interval, interval + min(interval / 2, 1 s)] after the last one ended, whatever the jitter", async (t) => {
  // interval 400: batches of 50 ms (interval / 8), a jitter of up to 200 − 50 ms, so due 400–600 ms after a result.
  for (const r of [0, 0.999]) {
    const starts: number[] = [];
    const ends: number[] = [];
    const c = new HealthChecker({
      log: () => undefined,
      now: Date.now,
      random: () => r,
      probe: (_host, _port, _conf, _signal, _conn, done) => {
        starts.push(performance.now());
        setTimeout(() => {
          ends.push(performance.now());
          done({ ok: true });
        }, 3);
      },
    });
    t.after(() => c.stop());
    c.add(upstream("u", [server("127.0.0.1:1")], checkConf({ interval: 400 })));
    await until("five probes", () => starts.length >= 5);
    c.stop();
    const gaps = ends.slice(0, 4).map((end, i) => starts[i + 1]! - end);
    for (const gap of gaps) {
      // Never early (Node's timers run on a ms clock: 1 ms), at most a little late on a busy machine.
      assert.ok(
        gap >= 399 && gap <= 600 + 10,
        `random ${r}: gaps ${gaps.map((g) => g.toFixed(1)).join(" ")}`,
      );
    }
    if (r === 0)
      assert.ok(
        Math.max(...gaps) <= 450 + 10,
        `no jitter: within one batch of the interval (${gaps.join(" ")})`,
      );
    else assert.ok(Math.max(...gaps) > 500, `full jitter: near the end of the window (${gaps.join(" ")})`);
  }
});
