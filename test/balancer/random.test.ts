/** random [two [least_conn]]: nginx's weighted peek, driven by a scripted random() for exact orders. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServerSpec } from "../../src/config/types.js";
import { RandomBalancer } from "../../src/balancer/random.js";
import type { PickRequest } from "../../src/balancer/types.js";
import { type Peer, PeerGroup } from "../../src/upstream/peer.js";
import { server } from "../support/servers.js";

function req(tried: ReadonlySet<Peer> = new Set(), now = 0): PickRequest {
  return { clientAddr: "10.0.0.1", hashKey: "", tried, now };
}

/** A random() that returns the given values in order and counts its calls; running out is a test error. */
function scripted(values: number[]): { random: () => number; calls: () => number } {
  let i = 0;
  return {
    random: () => {
      if (i >= values.length) throw new Error("random() called more often than scripted");
      return values[i++]!;
    },
    calls: () => i,
  };
}

/** a, b (weight 2), c: x = floor(random * 4); a holds [0,1), b [1,3), c [3,4). */
function abc(extra: Record<string, Partial<ServerSpec>> = {}): PeerGroup {
  return new PeerGroup(
    "u",
    [server("a:80", extra.a), server("b:80", { weight: 2, ...extra.b }), server("c:80", extra.c)],
    0,
  );
}

const host = (p: Peer | null) => p?.spec.host ?? "null";

test("weighted random pick: a scripted random() gives an exact sequence", () => {
  const s = scripted([0.1, 0.3, 0.6, 0.9, 0, 0.99]);
  const r = new RandomBalancer(false, s.random);
  const g = abc();
  assert.deepEqual(
    Array.from({ length: 6 }, () => host(r.pick(g, req()))),
    "a b b c a c".split(" "),
  );
});

test("unusable and tried peers make it draw again", () => {
  const s = scripted([0.3, 0.6, 0.9]);
  const r = new RandomBalancer(false, s.random);
  assert.equal(host(r.pick(abc({ b: { down: true } }), req())), "c");
  assert.equal(s.calls(), 3);
  const t = scripted([0.9, 0.1]);
  const g = abc();
  assert.equal(host(new RandomBalancer(false, t.random).pick(g, req(new Set([g.get("c:80")!])))), "a");
  const u = scripted([0.1, 0.9]);
  const h = abc();
  h.get("a:80")!.setHealthy(false, 0); // nginx's module would ignore an active health check; we do not
  assert.equal(host(new RandomBalancer(false, u.random).pick(h, req())), "c");
});

test("two: of two distinct picks the one with fewer active requests per weight wins, the second on ties", () => {
  const g = abc();
  const two = (values: number[]) => host(new RandomBalancer(true, scripted(values).random).pick(g, req()));
  g.get("a:80")!.active = 3;
  assert.equal(two([0.1, 0.9]), "c");
  assert.equal(two([0.9, 0.1]), "c");
  g.get("a:80")!.active = 0;
  assert.equal(two([0.1, 0.9]), "c", "tie: the second pick");
  g.get("c:80")!.active = 1;
  assert.equal(two([0.1, 0.2, 0.9]), "a", "the same peer twice draws again");
  g.get("a:80")!.active = 1;
  g.get("b:80")!.active = 1;
  assert.equal(two([0.1, 0.3]), "b", "b has 1 request per 2 of weight, a 1 per 1");
});

test("after 20 misses: round robin (which also reaches the backup tier)", () => {
  const always = (v: number) => {
    let n = 0;
    return { random: () => (n++, v), calls: () => n };
  };
  const g = new PeerGroup(
    "u",
    [server("a:80", { down: true }), server("b:80", { down: true }), server("c:80", { backup: true })],
    0,
  );
  for (const two of [false, true]) {
    const s = always(0.1);
    assert.equal(host(new RandomBalancer(two, s.random).pick(g, req())), "c");
    assert.equal(s.calls(), 21);
  }
  const one = new PeerGroup("u", [server("a:80")], 0);
  const none = scripted([]);
  assert.equal(
    host(new RandomBalancer(false, none.random).pick(one, req())),
    "a",
    "fewer than two: round robin",
  );
  assert.equal(none.calls(), 0);
});

test("the default source is Math.random and reaches every peer", () => {
  const r = new RandomBalancer(false);
  const g = abc();
  const seen = new Set(Array.from({ length: 300 }, () => host(r.pick(g, req()))));
  assert.deepEqual([...seen].sort(), ["a", "b", "c"]);
});
