/** Smooth weighted round robin: nginx's exact sequences, passive health, backup tier, single server. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RoundRobinBalancer } from "../../src/balancer/round-robin.js";
import type { Balancer, PickRequest } from "../../src/balancer/types.js";
import { type Peer, PeerGroup } from "../../src/upstream/peer.js";
import { server } from "../support/servers.js";

function req(now = 0, tried: ReadonlySet<Peer> = new Set()): PickRequest {
  return { clientAddr: "10.0.0.1", hashKey: "", tried, now };
}

/** Host names of n successive picks. */
function picks(b: Balancer, g: PeerGroup, n: number, now = 0): string[] {
  return Array.from({ length: n }, () => b.pick(g, req(now))?.spec.host ?? "null");
}

/** One request the way the forwarder retries: dead hosts fail and are tried, the first live one succeeds. */
function attempt(b: Balancer, g: PeerGroup, dead: Set<string>, now: number): string {
  const tried = new Set<Peer>();
  const seq: string[] = [];
  for (;;) {
    const p = b.pick(g, req(now, tried));
    if (!p) return [...seq, "null"].join(" ");
    seq.push(p.spec.host);
    if (!dead.has(p.spec.host)) {
      p.succeeded(now);
      return seq.join(" ");
    }
    p.failed(now);
    tried.add(p);
  }
}

const rr = new RoundRobinBalancer();

test("weights 5,1,1 give a a b a c a a, repeating (nginx's worked example)", () => {
  const g = new PeerGroup("u", [server("a:80", { weight: 5 }), server("b:80"), server("c:80")], 0);
  assert.deepEqual(picks(rr, g, 14), "a a b a c a a a a b a c a a".split(" "));
});

test("weights 3,1 give a a b a", () => {
  const g = new PeerGroup("u", [server("a:80", { weight: 3 }), server("b:80")], 0);
  assert.deepEqual(picks(rr, g, 8), "a a b a a a b a".split(" "));
});

test("property: over every cycle of total-weight picks each peer is picked exactly its weight", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let round = 0; round < 200; round++) {
    const weights = Array.from({ length: 2 + rand(6) }, () => 1 + rand(10));
    const g = new PeerGroup(
      "u",
      weights.map((w, i) => server(`s${i}:80`, { weight: w })),
      0,
    );
    const total = weights.reduce((x, y) => x + y, 0);
    for (let cycle = 0; cycle < 3; cycle++) {
      const counts = new Map<string, number>();
      for (const h of picks(rr, g, total)) counts.set(h, (counts.get(h) ?? 0) + 1);
      assert.deepEqual(
        weights.map((_, i) => counts.get(`s${i}`) ?? 0),
        weights,
        `weights ${weights.join(",")} cycle ${cycle}`,
      );
    }
  }
});

test("a weight change applied to the group keeps the peers and follows the new weights", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80")], 0);
  assert.deepEqual(picks(rr, g, 2), ["a", "b"]);
  const a = g.get("a:80")!;
  a.acquire();
  g.apply([server("a:80", { weight: 3 }), server("b:80")], 1);
  assert.equal(g.get("a:80"), a);
  assert.equal(a.active, 1);
  assert.deepEqual(picks(rr, g, 8, 1), "a a b a a a b a".split(" "));
});

test("a failure lowers the effective weight, which climbs back by one per pick", () => {
  const g = new PeerGroup(
    "u",
    [server("a:80", { weight: 6, maxFails: 2 }), server("b:80", { weight: 2 })],
    0,
  );
  const a = g.get("a:80")!;
  a.failed(0); // fails 1 < max_fails 2: still available, effective weight 6 - 6/2 = 3
  assert.equal(a.effectiveWeight, 3);
  // a gains 3, 4, 5, then 6 per round: a 3 b 2 -> a; a 2 b 4 -> b; a 7 b 0 -> a; then the 6,2 rhythm.
  assert.deepEqual(picks(rr, g, 8, 1), "a b a a a b a a".split(" "));
  assert.equal(a.effectiveWeight, 6);
  const fresh = new PeerGroup("u", [server("a:80", { weight: 6 }), server("b:80", { weight: 2 })], 0);
  assert.deepEqual(picks(rr, fresh, 8), "a a b a a a b a".split(" "), "the same picks without the failure");
});

test("max_fails/fail_timeout: skipped inside the window, one trial after it, live again on success", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80")], 0);
  const a = g.get("a:80")!;
  a.failed(1000);
  assert.deepEqual(picks(rr, g, 3, 2000), ["b", "b", "b"]);
  assert.deepEqual(picks(rr, g, 1, 11_000), ["b"], "now - checked = fail_timeout: still failed");
  // The failure also took a's effective weight to 0 (1 - 1/1): it gains nothing on the first round back.
  assert.deepEqual(picks(rr, g, 2, 11_001), ["b", "a"]);
  assert.equal(a.checked, 11_001);
  a.succeeded(11_002);
  assert.equal(a.fails, 0);
  // A trial that fails again closes the peer for another fail_timeout.
  a.failed(12_000);
  a.failed(12_000);
  assert.deepEqual(picks(rr, g, 2, 22_000), ["b", "b"]);
  assert.equal(g.get("a:80")!.available(22_001, false), true);
});

test("retries against dead servers match nginx 1.22.1 request by request", () => {
  // Observed from nginx 1.22.1 (proxy_next_upstream error) with the same upstream, $upstream_addr per request:
  // x = weight=3 max_fails=3 fail_timeout=30s and y = weight=2 max_fails=2 refuse connections.
  const g = new PeerGroup(
    "u",
    [
      server("a:80"),
      server("x:80", { weight: 3, maxFails: 3, failTimeout: 30_000 }),
      server("c:80"),
      server("y:80", { weight: 2, maxFails: 2 }),
    ],
    0,
  );
  const dead = new Set(["x", "y"]);
  const seen = Array.from({ length: 16 }, () => attempt(rr, g, dead, 1_000_000));
  assert.deepEqual(seen, [
    "x y a",
    "c",
    "a",
    "y x c",
    "x c",
    ...Array.from({ length: 11 }, (_, i) => (i % 2 === 0 ? "a" : "c")),
  ]);
});

test("max_conns: a full peer is skipped until a request finishes", () => {
  const g = new PeerGroup("u", [server("a:80", { maxConns: 1 }), server("b:80")], 0);
  const a = g.get("a:80")!;
  a.acquire();
  assert.deepEqual(picks(rr, g, 3), ["b", "b", "b"]);
  a.release();
  assert.deepEqual(picks(rr, g, 2), ["a", "b"]);
});

test("backup servers are used only when no primary server is available", () => {
  const g = new PeerGroup(
    "u",
    [server("a:80"), server("b:80"), server("c:80", { backup: true }), server("d:80", { backup: true })],
    0,
  );
  assert.deepEqual(picks(rr, g, 4), ["a", "b", "a", "b"]);
  g.get("a:80")!.failed(100);
  assert.deepEqual(picks(rr, g, 2, 200), ["b", "b"], "one primary left: no backup yet");
  g.get("b:80")!.setHealthy(false, 200);
  assert.deepEqual(picks(rr, g, 4, 300), ["c", "d", "c", "d"]);
  assert.deepEqual(picks(rr, g, 1, 10_101), ["a"], "the primary's window passed");
});

test("when no peer of either tier is available: null, and they stay out until fail_timeout (current nginx)", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80"), server("c:80", { backup: true })], 0);
  for (const p of g.all()) p.failed(0);
  assert.deepEqual(picks(rr, g, 2, 100), ["null", "null"]);
  assert.deepEqual(
    g.all().map((p) => p.fails),
    [1, 1, 1],
  );
  // After fail_timeout they are tried again; their effective weights climb back from where failures left them.
  assert.notDeepEqual(picks(rr, g, 1, 10_001), ["null"]);
});

test("a single server ignores max_fails and fail_timeout but not down, max_conns, health or drain", () => {
  const g = new PeerGroup("u", [server("a:80", { maxConns: 1 })], 0);
  const a = g.get("a:80")!;
  a.failed(0);
  a.failed(0);
  assert.deepEqual(picks(rr, g, 2, 1), ["a", "a"]);
  a.acquire();
  assert.deepEqual(picks(rr, g, 1, 1), ["null"]);
  a.release();
  a.setHealthy(false, 1);
  assert.deepEqual(picks(rr, g, 1, 1), ["null"]);
  a.setHealthy(true, 1);
  a.draining = true;
  assert.deepEqual(picks(rr, g, 1, 1), ["null"]);
  a.draining = false;
  g.apply([server("a:80", { down: true })], 2);
  assert.deepEqual(picks(rr, g, 1, 2), ["null"]);
  // With a backup the group is no longer single: the failed primary is skipped.
  const h = new PeerGroup("u", [server("a:80"), server("z:80", { backup: true })], 0);
  h.get("a:80")!.failed(0);
  assert.deepEqual(picks(rr, h, 1, 1), ["z"]);
});

test("the tried set is respected, also for a single server", () => {
  const g = new PeerGroup("u", [server("a:80", { weight: 5 }), server("b:80"), server("c:80")], 0);
  const tried = new Set([g.get("a:80")!, g.get("c:80")!]);
  for (let i = 0; i < 5; i++) assert.equal(rr.pick(g, req(0, tried))?.id, "b:80");
  const single = new PeerGroup("u", [server("a:80")], 0);
  assert.equal(rr.pick(single, req(0, new Set(single.all()))), null);
});

test("a ramping peer gains only its slow-start weight", () => {
  const g = new PeerGroup("u", [server("a:80", { weight: 3 })], 0);
  g.apply([server("a:80", { weight: 3 }), server("b:80", { weight: 3, slowStart: 30_000 })], 0);
  assert.deepEqual(picks(rr, g, 4, 0), "a a b a".split(" "), "b counts as weight 1 at first (3,1)");
  assert.deepEqual(picks(rr, g, 6, 30_000), "a b a b a b".split(" "), "ramp done: 3,3");
});
