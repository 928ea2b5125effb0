/** Peer and PeerGroup: nginx's passive health fields, slow start, and state kept across spec updates. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Peer, PeerGroup } from "../../src/upstream/peer.js";
import { server } from "../support/servers.js";

test("failed() counts, stamps accessed/checked and lowers effective weight by weight/max_fails", () => {
  const p = new Peer("u", server("a:80", { weight: 7, maxFails: 3 }), 0);
  p.failed(1000);
  assert.deepEqual([p.fails, p.accessed, p.checked, p.effectiveWeight], [1, 1000, 1000, 5]); // 7 - floor(7/3)
  p.failed(1500);
  p.failed(1600);
  p.failed(1700);
  assert.deepEqual([p.fails, p.accessed, p.checked, p.effectiveWeight], [4, 1700, 1700, 0]); // floored at 0
});

test("max_fails within fail_timeout makes a peer unavailable; max_fails=0 disables the accounting", () => {
  const p = new Peer("u", server("a:80", { maxFails: 2 }), 0);
  p.failed(1000);
  assert.equal(p.available(1001, false), true, "one failure of two allowed");
  p.failed(2000);
  assert.equal(p.available(2001, false), false);
  assert.equal(p.available(12_000, false), false, "now - checked = fail_timeout is still inside");
  assert.equal(p.available(12_001, false), true, "window passed: one trial request may go");
  assert.equal(p.available(2001, true), true, "the only server is never unavailable for failures");
  const off = new Peer("u", server("b:80", { maxFails: 0 }), 0);
  for (let i = 0; i < 5; i++) off.failed(100);
  assert.equal(off.available(101, false), true);
  assert.equal(off.effectiveWeight, 1);
});

test("succeeded() marks the peer live only after the failure window was reopened by a pick", () => {
  const p = new Peer("u", server("a:80"), 0);
  p.failed(1000);
  p.succeeded(1200); // a request picked before the failure finishing: accessed == checked
  assert.equal(p.fails, 1);
  p.selected(5000); // inside the window: checked stays
  assert.equal(p.checked, 1000);
  p.selected(11_001); // window passed: nginx opens a new one
  assert.equal(p.checked, 11_001);
  p.succeeded(11_050);
  assert.equal(p.fails, 0);
});

test("down, health, drain and max_conns", () => {
  const p = new Peer("u", server("a:80", { maxConns: 2 }), 0);
  assert.equal(p.available(0, false), true);
  p.acquire();
  p.acquire();
  assert.equal(p.available(0, true), false, "max_conns holds even for a single server");
  p.release();
  assert.equal(p.available(0, true), true);
  p.release();
  p.release();
  assert.equal(p.active, 0, "release never goes below zero");
  p.setHealthy(false, 10);
  assert.equal(p.available(10, true), false);
  p.setHealthy(true, 20);
  p.draining = true;
  assert.equal(p.available(20, true), false);
  p.draining = false;
  p.update(server("a:80", { down: true }), 30);
  assert.equal(p.available(30, true), false);
});

test("update() replaces the spec and keeps every counter", () => {
  const p = new Peer("u", server("a:80", { weight: 2, maxFails: 2 }), 0);
  p.acquire();
  p.failed(500);
  p.currentWeight = -3;
  p.update(server("a:80", { weight: 6, maxFails: 2 }), 600);
  assert.equal(p.spec.weight, 6);
  assert.deepEqual([p.active, p.fails, p.accessed, p.checked, p.currentWeight], [1, 1, 500, 500, -3]);
  assert.equal(p.effectiveWeight, 1, "still recovering from a failure: keeps its reduced weight");
  const q = new Peer("u", server("b:80", { weight: 2 }), 0);
  q.update(server("b:80", { weight: 5 }), 1);
  assert.equal(q.effectiveWeight, 5, "fully recovered: takes the new weight");
  q.update(server("b:80", { weight: 3 }), 2);
  assert.equal(q.effectiveWeight, 3);
  assert.throws(() => q.update(server("c:80"), 3), /cannot take the spec of c:80/);
});

test("slow start ramps linearly from 1 to the full weight, for new and for recovered peers", () => {
  const p = new Peer("u", server("a:80", { weight: 10, slowStart: 10_000 }), 1000);
  assert.deepEqual(
    [0, 1000, 3500, 6000, 10_999, 11_000, 50_000].map((t) => p.weightAt(t)),
    [1, 1, 3, 5, 9, 10, 10],
  );
  // Recovery from passive failure: failed, window passed, picked, succeeded.
  p.failed(20_000);
  p.selected(30_001);
  p.succeeded(30_002);
  assert.equal(p.weightAt(30_002), 1);
  assert.equal(p.weightAt(35_002), 5);
  // Recovery from an active health check, and from `down`.
  p.setHealthy(false, 50_000);
  p.setHealthy(true, 60_000);
  assert.equal(p.weightAt(60_000), 1);
  p.update(server("a:80", { weight: 10, slowStart: 10_000, down: true }), 70_000);
  p.update(server("a:80", { weight: 10, slowStart: 10_000 }), 80_000);
  assert.equal(p.weightAt(85_000), 5);
  const plain = new Peer("u", server("b:80", { weight: 4 }), 0);
  assert.equal(plain.weightAt(0), 4, "no slow_start: full weight at once");
});

test("a group built at start-up serves at full weight; peers added later ramp up", () => {
  const g = new PeerGroup("u", [server("a:80", { weight: 4, slowStart: 4000 })], 1000);
  assert.equal(g.get("a:80")!.weightAt(1000), 4);
  const { added } = g.apply(
    [server("a:80", { weight: 4, slowStart: 4000 }), server("b:80", { weight: 4, slowStart: 4000 })],
    2000,
  );
  assert.deepEqual(
    added.map((p) => p.id),
    ["b:80"],
  );
  assert.deepEqual([added[0]!.weightAt(2000), added[0]!.weightAt(4000), added[0]!.weightAt(6000)], [1, 2, 4]);
});

test("PeerGroup.apply keeps peers that stay, adds new, drops removed, in order and tiers", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80"), server("c:80", { backup: true })], 0);
  const a = g.get("a:80")!;
  a.acquire();
  a.failed(10);
  const v = g.version;
  const diff = g.apply([server("d:80"), server("a:80", { weight: 3 }), server("c:80"), server("a:80")], 20);
  assert.deepEqual(
    diff.added.map((p) => p.id),
    ["d:80"],
  );
  assert.deepEqual(
    diff.removed.map((p) => p.id),
    ["b:80"],
  );
  assert.deepEqual(
    diff.kept.map((p) => p.id),
    ["a:80", "c:80"],
  );
  assert.equal(g.get("a:80"), a, "same object: state survives");
  assert.deepEqual([a.active, a.fails, a.spec.weight], [1, 1, 3]);
  assert.deepEqual(
    g.primary.map((p) => p.id),
    ["d:80", "a:80", "c:80"],
    "registry order; c moved from backup to primary; the repeated a:80 is ignored",
  );
  assert.deepEqual(g.backup, []);
  assert.equal(g.get("b:80"), undefined);
  assert.equal(g.version, v + 1);
  assert.deepEqual(
    g.all().map((p) => p.id),
    ["d:80", "a:80", "c:80"],
  );
});

test("single: one primary and no backup", () => {
  assert.equal(new PeerGroup("u", [server("a:80")], 0).single, true);
  assert.equal(new PeerGroup("u", [server("a:80"), server("b:80", { backup: true })], 0).single, false);
  assert.equal(new PeerGroup("u", [server("a:80"), server("b:80")], 0).single, false);
  assert.equal(new PeerGroup("u", [], 0).single, false);
});
