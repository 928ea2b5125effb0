/** hash KEY [consistent]: CRC-32, the Cache::Memcached formula and the ketama ring, against nginx 1.22.1. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServerSpec } from "../../src/config/types.js";
import {
  ConsistentHashBalancer,
  HashBalancer,
  buildRing,
  findPoint,
  ketamaHostPort,
} from "../../src/balancer/hash.js";
import { RoundRobinBalancer } from "../../src/balancer/round-robin.js";
import type { Balancer, PickRequest } from "../../src/balancer/types.js";
import { crc32, crc32Portable } from "../../src/lib/crc32.js";
import { type Peer, PeerGroup } from "../../src/upstream/peer.js";
import { server } from "../support/servers.js";

function req(hashKey: string, tried: ReadonlySet<Peer> = new Set(), now = 0): PickRequest {
  return { clientAddr: "10.0.0.1", hashKey, tried, now };
}

/** The servers nginx 1.22.1 balanced over: a..e are 127.0.0.1:28101..28105, x and y refuse connections. */
const PORT: Record<string, number> = { a: 28101, b: 28102, c: 28103, d: 28104, e: 28105, y: 28108, x: 28109 };
const NAME = Object.fromEntries(Object.entries(PORT).map(([k, v]) => [v, k]));
function nginxServer(name: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  return server(`127.0.0.1:${PORT[name]}`, extra);
}
const nameOf = (p: Peer | null): string => (p ? NAME[p.spec.port]! : "null");

/** Picks for one key the way the forwarder retries: x and y fail, anything else answers. */
function attempt(b: Balancer, g: PeerGroup, key: string, now: number): string {
  const tried = new Set<Peer>();
  const seq: string[] = [];
  for (let p = b.pick(g, req(key, tried, now)); p; p = b.pick(g, req(key, tried, now))) {
    seq.push(nameOf(p));
    if (seq.at(-1) !== "x" && seq.at(-1) !== "y") break;
    p.failed(now);
    tried.add(p);
  }
  return seq.join(" ");
}

const KEYS = Array.from({ length: 1000 }, (_, i) => `key${i}`);

test("CRC-32 check values; the portable and native versions agree and continue", () => {
  assert.equal(crc32("123456789"), 0xcbf43926);
  assert.equal(crc32("abc"), 0x352441c2);
  assert.equal(crc32(""), 0);
  for (const s of ["", "a", "123456789", "ünïcode", "key42"]) assert.equal(crc32Portable(s), crc32(s), s);
  assert.equal(crc32("6789", crc32("12345")), 0xcbf43926);
  assert.equal(crc32Portable("6789", crc32Portable("12345")), 0xcbf43926);
  assert.equal(crc32Portable(Buffer.from([0, 0, 0, 0]), 7), crc32(Buffer.from([0, 0, 0, 0]), 7));
});

test("hash KEY: the Cache::Memcached formula, as nginx 1.22.1 answered", () => {
  const g = new PeerGroup("u", [nginxServer("a"), nginxServer("b", { weight: 2 }), nginxServer("c")], 0);
  const h = new HashBalancer();
  // crc32("abc") = 0x352441c2; (>> 16) & 0x7fff = 0x3524 = 13604; 13604 % total weight 4 = 0 -> a
  assert.equal(nameOf(h.pick(g, req("abc"))), "a");
  const seen: Record<string, string> = {
    hello: "a",
    user42: "c",
    x: "a",
    "%2Findex.html": "c", // nginx's $arg_k is not URL-decoded
    key7: "c",
    key8: "a",
    key9: "c",
    key10: "a",
    key11: "c",
  };
  for (const [key, name] of Object.entries(seen)) assert.equal(nameOf(h.pick(g, req(key))), name, key);
});

test("hash KEY rehashes past an unusable peer, as nginx 1.22.1 answered", () => {
  const h = new HashBalancer();
  const down = new PeerGroup(
    "u",
    [nginxServer("a"), nginxServer("b", { weight: 2, down: true }), nginxServer("c")],
    0,
  );
  const got = KEYS.slice(0, 16).map((k) => nameOf(h.pick(down, req(k))));
  assert.deepEqual(got, "c a c c c c a c a c a c c a a c".split(" "));
  // Retries: y (max_fails=3) and x (weight=2 max_fails=2) refuse connections; keys k0..k11, twice.
  const g = new PeerGroup(
    "u",
    [
      nginxServer("y", { maxFails: 3 }),
      nginxServer("a"),
      nginxServer("x", { weight: 2, maxFails: 2 }),
      nginxServer("c"),
    ],
    0,
  );
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  const seen = [...keys, ...keys].map((k) => attempt(h, g, k, 5000));
  const nginx = ["a", "a", "x a", "y x c", "c", "a", "c", "a", "a", "a", "a", "a"];
  nginx.push("a", "a", "a", "y c", "c", "a", "c", "a", "a", "a", "a", "a");
  assert.deepEqual(seen, nginx);
});

test("hash KEY: an empty key, or fewer than two servers, is round robin", () => {
  const specs = [server("a:80"), server("b:80", { weight: 2 }), server("c:80")];
  const h = new HashBalancer();
  const g = new PeerGroup("u", specs, 0);
  const twin = new PeerGroup("u", specs, 0);
  const rr = new RoundRobinBalancer();
  for (let i = 0; i < 8; i++) assert.equal(h.pick(g, req(""))?.id, rr.pick(twin, req(""))?.id);
  const one = new PeerGroup("u", [server("a:80")], 0);
  assert.equal(h.pick(one, req("abc"))?.id, "a:80");
});

test("ketama host and port come from the server name as nginx splits it", () => {
  assert.deepEqual(ketamaHostPort("127.0.0.1:8080"), ["127.0.0.1", "8080"]);
  assert.deepEqual(ketamaHostPort("[::1]:80"), ["[::1]", "80"]);
  assert.deepEqual(ketamaHostPort("backend.local"), ["backend.local", ""]);
  assert.deepEqual(ketamaHostPort("host:"), ["host", ""]);
  assert.deepEqual(ketamaHostPort("unix:/tmp/sock"), ["/tmp/sock", ""]);
});

test("the ring: 160 points per weight unit, sorted; lookup finds the first point >= hash and wraps", () => {
  const g = new PeerGroup("u", [nginxServer("a"), nginxServer("b", { weight: 2 }), nginxServer("c")], 0);
  const ring = buildRing(g.primary);
  assert.equal(ring.length, 640);
  for (let i = 1; i < ring.length; i++) assert.ok(ring[i - 1]!.hash < ring[i]!.hash);
  assert.deepEqual(
    ["a", "b", "c"].map((n) => ring.filter((p) => nameOf(p.peer) === n).length),
    [160, 320, 160],
  );
  assert.equal(findPoint(ring, 0), 0);
  assert.equal(findPoint(ring, ring[10]!.hash), 10);
  assert.equal(findPoint(ring, ring[10]!.hash + 1), 11);
  assert.equal(findPoint(ring, 0xffffffff), ring.length);
});

test("hash KEY consistent: the same servers nginx 1.22.1 chose", () => {
  const ch = new ConsistentHashBalancer();
  const five = new PeerGroup(
    "u",
    ["a", "b", "c", "d", "e"].map((n) => nginxServer(n)),
    0,
  );
  const first = KEYS.slice(0, 20).map((k) => nameOf(ch.pick(five, req(k))));
  assert.deepEqual(first, "a c c e c e c e c e e d e e e a c a e b".split(" "));
  const counts: Record<string, number> = {};
  for (const k of KEYS) {
    const n = nameOf(ch.pick(five, req(k)));
    counts[n] = (counts[n] ?? 0) + 1;
  }
  assert.deepEqual(counts, { a: 205, b: 207, c: 194, d: 180, e: 214 }, "nginx's counts over key0..key999");
  const weighted = new PeerGroup(
    "u",
    [nginxServer("a"), nginxServer("b", { weight: 2 }), nginxServer("c"), nginxServer("d")],
    0,
  );
  const got = KEYS.slice(0, 20).map((k) => nameOf(ch.pick(weighted, req(k))));
  assert.deepEqual(got, "a c c b c b c b b b c d a c b a c a a b".split(" "));
});

test("hash KEY consistent: removing one of five servers moves only the keys it held", () => {
  const ch = new ConsistentHashBalancer();
  const specs = ["a", "b", "c", "d", "e"].map((n) => nginxServer(n));
  const g = new PeerGroup("u", specs, 0);
  const before = KEYS.map((k) => nameOf(ch.pick(g, req(k))));
  g.apply(
    specs.filter((s) => s.port !== PORT.c),
    1,
  );
  const after = KEYS.map((k) => nameOf(ch.pick(g, req(k, new Set(), 1))));
  let moved = 0;
  KEYS.forEach((_, i) => {
    if (before[i] === "c") {
      assert.notEqual(after[i], "c");
      moved++;
    } else assert.equal(after[i], before[i], KEYS[i]);
  });
  assert.equal(moved, 194);
});

test("hash KEY consistent: adding a sixth server moves keys only onto it", () => {
  const ch = new ConsistentHashBalancer();
  const specs = ["a", "b", "c", "d", "e"].map((n) => nginxServer(n));
  const g = new PeerGroup("u", specs, 0);
  const before = KEYS.map((k) => nameOf(ch.pick(g, req(k))));
  g.apply([...specs, server("127.0.0.1:28106")], 1);
  const after = KEYS.map((k) => ch.pick(g, req(k, new Set(), 1))!.spec.port);
  let stayed = 0;
  KEYS.forEach((_, i) => {
    if (after[i] === 28106) return;
    assert.equal(NAME[after[i]!], before[i], KEYS[i]);
    stayed++;
  });
  assert.equal(stayed, 820, "nginx 1.22.1 with the sixth server: 820 keys stay, 180 move to it");
});

test("hash KEY consistent: an unusable server's keys walk on to the next point, as nginx 1.22.1", () => {
  const ch = new ConsistentHashBalancer();
  const names = ["a", "b", "c", "d", "e"];
  const down = new PeerGroup(
    "u",
    names.map((n) => nginxServer(n, { down: n === "b" })),
    0,
  );
  const first = KEYS.slice(0, 20).map((k) => nameOf(ch.pick(down, req(k))));
  assert.deepEqual(first, "a c c e c e c e c e e d e e e a c a e c".split(" "));
  // A down server's keys land exactly where they would if it were removed.
  const without = new PeerGroup(
    "u",
    names.filter((n) => n !== "b").map((n) => nginxServer(n)),
    0,
  );
  for (const k of KEYS) assert.equal(ch.pick(down, req(k))?.id, ch.pick(without, req(k))?.id, k);
  // Retries: y and x refuse connections; keys k0..k11, twice.
  const g = new PeerGroup(
    "u",
    [
      nginxServer("y", { maxFails: 3 }),
      nginxServer("a"),
      nginxServer("x", { weight: 2, maxFails: 2 }),
      nginxServer("c"),
    ],
    0,
  );
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  const seen = [...keys, ...keys].map((k) => attempt(ch, g, k, 5000));
  const nginx = ["y x c", "x c", "c", "y a", "y c", "a", "c", "c", "a", "a", "a", "c"];
  nginx.push("c", "c", "c", "a", "c", "a", "c", "c", "a", "a", "a", "c");
  assert.deepEqual(seen, nginx);
});

test("hash KEY consistent: tried peers are skipped; single server, empty key and 20 misses are round robin", () => {
  const ch = new ConsistentHashBalancer();
  const g = new PeerGroup(
    "u",
    ["a", "b", "c"].map((n) => nginxServer(n)),
    0,
  );
  const p = ch.pick(g, req("key1"))!;
  const q = ch.pick(g, req("key1", new Set([p])))!;
  assert.notEqual(q, p);
  assert.equal(ch.pick(g, req("key1", new Set(g.all()))), null);
  const one = new PeerGroup("u", [nginxServer("a")], 0);
  one.get(`127.0.0.1:${PORT.a}`)!.failed(0);
  assert.equal(nameOf(ch.pick(one, req("key1", new Set(), 1))), "a");
  const rr = new RoundRobinBalancer();
  const twin = new PeerGroup(
    "u",
    ["a", "b", "c"].map((n) => nginxServer(n)),
    0,
  );
  const fresh = new PeerGroup(
    "u",
    ["a", "b", "c"].map((n) => nginxServer(n)),
    0,
  );
  for (let i = 0; i < 4; i++) assert.equal(nameOf(ch.pick(fresh, req(""))), nameOf(rr.pick(twin, req(""))));
  const gone = new PeerGroup(
    "u",
    [nginxServer("a", { down: true }), nginxServer("b", { down: true }), nginxServer("c", { backup: true })],
    0,
  );
  assert.equal(nameOf(ch.pick(gone, req("key1"))), "c", "21 misses, then round robin reaches the backup");
});
