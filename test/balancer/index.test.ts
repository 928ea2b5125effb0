/** createBalancer, and the contract every balancer keeps (one shared suite, as STYLE asks). */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BalancerConf } from "../../src/config/types.js";
import { BALANCER_METHODS, createBalancer } from "../../src/balancer/index.js";
import { ConsistentHashBalancer, HashBalancer } from "../../src/balancer/hash.js";
import { IpHashBalancer } from "../../src/balancer/ip-hash.js";
import { LeastConnBalancer } from "../../src/balancer/least-conn.js";
import { RandomBalancer } from "../../src/balancer/random.js";
import { RoundRobinBalancer } from "../../src/balancer/round-robin.js";
import type { PickRequest } from "../../src/balancer/types.js";
import { SyncgateError } from "../../src/lib/errors.js";
import { type Peer, PeerGroup } from "../../src/upstream/peer.js";
import { server } from "../support/servers.js";

let seed = 7;
/** A deterministic random() for the random balancers of the contract suite. */
function lcg(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}

const CONFS: BalancerConf[] = [
  { method: "round_robin" },
  { method: "least_conn" },
  { method: "ip_hash" },
  { method: "hash", key: "$request_uri", consistent: false },
  { method: "hash", key: "$request_uri", consistent: true },
  { method: "random", two: false, twoMethod: null },
  { method: "random", two: true, twoMethod: "least_conn" },
];
const label = (c: BalancerConf) => JSON.stringify(c);

/** Requests from many clients and keys, so hashing balancers walk many paths. */
function reqs(tried: ReadonlySet<Peer> = new Set(), now = 0): PickRequest[] {
  return Array.from({ length: 40 }, (_, i) => ({
    clientAddr: i % 3 === 0 ? `2001:db8::${i}` : `10.${i}.${i * 7}.1`,
    hashKey: `/item/${i}`,
    tried,
    now,
  }));
}

test("createBalancer builds each method's balancer", () => {
  const kinds = CONFS.map((c) => createBalancer(c, { random: lcg }).constructor);
  assert.deepEqual(kinds, [
    RoundRobinBalancer,
    LeastConnBalancer,
    IpHashBalancer,
    HashBalancer,
    ConsistentHashBalancer,
    RandomBalancer,
    RandomBalancer,
  ]);
  assert.deepEqual(BALANCER_METHODS, ["round_robin", "least_conn", "ip_hash", "hash", "random"]);
});

test("an unknown method name is a config error with a suggestion", () => {
  const bad = { method: "least_con" } as unknown as BalancerConf;
  assert.throws(
    () => createBalancer(bad),
    (err: unknown) =>
      err instanceof SyncgateError &&
      err.code === "SG_ERR_CONFIG" &&
      err.message === 'unknown balancer "least_con"' &&
      err.hint === "did you mean least_conn?",
  );
  const far = { method: "toString" } as unknown as BalancerConf;
  assert.throws(() => createBalancer(far), /unknown balancer "toString"/);
});

for (const conf of CONFS) {
  test(`contract ${label(conf)}: the tried set is respected`, () => {
    const b = createBalancer(conf, { random: lcg });
    const g = new PeerGroup("u", [server("a:80"), server("b:80", { weight: 3 }), server("c:80")], 0);
    const tried = new Set([g.get("a:80")!, g.get("b:80")!]);
    for (const r of reqs(tried)) assert.equal(b.pick(g, r)?.id, "c:80");
    for (const r of reqs(new Set(g.all()))) assert.equal(b.pick(g, r), null);
  });

  test(`contract ${label(conf)}: down, unhealthy, draining, failed and full peers are never picked`, () => {
    const b = createBalancer(conf, { random: lcg });
    const g = new PeerGroup(
      "u",
      [
        server("a:80", { down: true }),
        server("b:80"),
        server("c:80"),
        server("d:80", { maxConns: 1 }),
        server("e:80"),
        server("f:80"),
      ],
      0,
    );
    g.get("b:80")!.setHealthy(false, 0);
    g.get("c:80")!.draining = true;
    g.get("d:80")!.acquire();
    g.get("e:80")!.failed(0);
    for (const r of reqs(new Set(), 1)) assert.equal(b.pick(g, r)?.id, "f:80");
  });

  test(`contract ${label(conf)}: backup servers only when no primary is available`, () => {
    const b = createBalancer(conf, { random: lcg });
    const g = new PeerGroup("u", [server("a:80"), server("b:80"), server("z:80", { backup: true })], 0);
    for (const r of reqs()) assert.notEqual(b.pick(g, r)?.id, "z:80");
    g.get("a:80")!.failed(0);
    g.get("b:80")!.update(server("b:80", { down: true }), 0);
    for (const r of reqs(new Set(), 1)) assert.equal(b.pick(g, r)?.id, "z:80");
  });

  test(`contract ${label(conf)}: no servers, or none available, answers null`, () => {
    const b = createBalancer(conf, { random: lcg });
    assert.equal(b.pick(new PeerGroup("u", [], 0), reqs()[0]!), null);
    const g = new PeerGroup("u", [server("a:80", { down: true }), server("b:80", { down: true })], 0);
    for (const r of reqs()) assert.equal(b.pick(g, r), null);
  });
}
