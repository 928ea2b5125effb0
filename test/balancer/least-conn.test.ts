/** least_conn: fewest requests in flight per weight; ties by smooth weighted round robin; backup tier. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LeastConnBalancer } from "../../src/balancer/least-conn.js";
import type { PickRequest } from "../../src/balancer/types.js";
import { type Peer, PeerGroup } from "../../src/upstream/peer.js";
import { server } from "../support/servers.js";

function req(now = 0, tried: ReadonlySet<Peer> = new Set()): PickRequest {
  return { clientAddr: "10.0.0.1", hashKey: "", tried, now };
}

const lc = new LeastConnBalancer();

function picks(g: PeerGroup, n: number, acquire = false, now = 0): string[] {
  return Array.from({ length: n }, () => {
    const p = lc.pick(g, req(now));
    if (p && acquire) p.acquire();
    return p?.spec.host ?? "null";
  });
}

function setActive(g: PeerGroup, counts: Record<string, number>): void {
  for (const [host, n] of Object.entries(counts)) g.get(`${host}:80`)!.active = n;
}

test("idle peers tie, so least_conn follows smooth round robin: 5,1,1 give a a b a c a a (as nginx)", () => {
  const g = new PeerGroup("u", [server("a:80", { weight: 5 }), server("b:80"), server("c:80")], 0);
  assert.deepEqual(picks(g, 7), "a a b a c a a".split(" "));
});

test("the peer with the fewest active requests wins, compared per unit of weight", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80"), server("c:80")], 0);
  setActive(g, { a: 2, b: 1, c: 3 });
  assert.deepEqual(picks(g, 3), ["b", "b", "b"]);
  const w = new PeerGroup("u", [server("a:80"), server("b:80", { weight: 3 })], 0);
  setActive(w, { a: 1, b: 2 }); // a: 1/1, b: 2/3 -> b (1*3 > 2*1)
  assert.deepEqual(picks(w, 1), ["b"]);
  setActive(w, { a: 1, b: 4 }); // b: 4/3 > 1 -> a
  assert.deepEqual(picks(w, 1), ["a"]);
});

test("only the tied peers take part in the round robin that breaks the tie", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80"), server("c:80")], 0);
  setActive(g, { a: 0, b: 1, c: 0 });
  assert.deepEqual(picks(g, 4), ["a", "c", "a", "c"]);
  assert.equal(g.get("b:80")!.currentWeight, 0);
});

test("requests that stay in flight spread the load: exact sequence", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80"), server("c:80")], 0);
  // 1: all tie, round robin -> a; 2: b,c tie -> b; 3: c alone; 4: all tie at 1 -> c (its round robin
  // credit); 5: a,b tie -> b; 6: a alone.
  assert.deepEqual(picks(g, 6, true), "a b c c b a".split(" "));
  assert.deepEqual(
    g.all().map((p) => p.active),
    [2, 2, 2],
  );
  g.get("b:80")!.release();
  assert.deepEqual(picks(g, 1), ["b"]);
});

test("max_conns, down, failures and drain take a peer out", () => {
  const g = new PeerGroup(
    "u",
    [server("a:80", { maxConns: 1 }), server("b:80"), server("c:80"), server("d:80")],
    0,
  );
  setActive(g, { a: 1, b: 5, c: 5, d: 5 });
  g.get("b:80")!.draining = true;
  assert.deepEqual(picks(g, 1), ["c"]);
  g.get("c:80")!.failed(0);
  assert.deepEqual(picks(g, 1, false, 1), ["d"]);
});

test("backup servers only when no primary is available, as nginx 1.22.1 answered", () => {
  // Observed from nginx 1.22.1: least_conn; primaries y, x refuse connections; b and c are backup.
  const g = new PeerGroup(
    "u",
    [server("y:80"), server("x:80"), server("b:80", { backup: true }), server("c:80", { backup: true })],
    0,
  );
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) {
    const tried = new Set<Peer>();
    const seq: string[] = [];
    for (let p = lc.pick(g, req(1000, tried)); p; p = lc.pick(g, req(1000, tried))) {
      seq.push(p.spec.host);
      if (p.spec.host === "b" || p.spec.host === "c") break;
      p.failed(1000);
      tried.add(p);
    }
    seen.push(seq.join(" "));
  }
  assert.deepEqual(seen, ["y x b", "c", "b", "c", "b"]);
});

test("nothing available: null, and the failures stand until fail_timeout (as current nginx)", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80")], 0);
  g.get("a:80")!.failed(0);
  g.get("b:80")!.failed(0);
  assert.equal(lc.pick(g, req(1)), null);
  assert.deepEqual(
    g.all().map((p) => p.fails),
    [1, 1],
  );
  assert.notEqual(lc.pick(g, req(10_001)), null, "back after fail_timeout");
});

test("a single server is handed to round robin: failures do not take it out", () => {
  const g = new PeerGroup("u", [server("a:80")], 0);
  g.get("a:80")!.failed(0);
  assert.deepEqual(picks(g, 2, false, 1), ["a", "a"]);
});

test("the tried set is respected", () => {
  const g = new PeerGroup("u", [server("a:80"), server("b:80"), server("c:80")], 0);
  setActive(g, { a: 0, b: 9, c: 9 });
  assert.equal(lc.pick(g, req(0, new Set([g.get("a:80")!])))?.id, "b:80");
  assert.equal(lc.pick(g, req(0, new Set(g.all()))), null);
});
