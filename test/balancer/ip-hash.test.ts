/** ip_hash: nginx's formula, checked by hand and against nginx 1.22.1's answers for the same upstreams. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IpHashBalancer, ipHashBytes } from "../../src/balancer/ip-hash.js";
import type { PickRequest } from "../../src/balancer/types.js";
import { type Peer, PeerGroup } from "../../src/upstream/peer.js";
import { server } from "../support/servers.js";

function req(clientAddr: string, tried: ReadonlySet<Peer> = new Set(), now = 0): PickRequest {
  return { clientAddr, hashKey: "", tried, now };
}

const ip = new IpHashBalancer();

/** a, b (weight 3), c: the upstream nginx 1.22.1 was asked about. */
function abc(bDown = false): PeerGroup {
  return new PeerGroup("u", [server("a:80"), server("b:80", { weight: 3, down: bDown }), server("c:80")], 0);
}

test("the hashed bytes: three octets of IPv4, sixteen bytes of IPv6, a pseudo address otherwise", () => {
  assert.deepEqual(ipHashBytes("192.168.1.10"), [192, 168, 1]);
  assert.deepEqual(ipHashBytes("::1"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(
    ipHashBytes("2001:db8::8a2e:370:7334"),
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x34],
  );
  assert.deepEqual(ipHashBytes("::ffff:10.0.0.1"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
  assert.deepEqual(ipHashBytes("fe80::1%eth0"), [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(ipHashBytes("unix:"), [0, 0, 0]);
  assert.deepEqual(ipHashBytes(""), [0, 0, 0]);
});

test("192.168.1.10 goes to c, computed by hand from nginx's formula", () => {
  // hash = 89
  // 192: (89 * 113 + 192) % 6271 = 10249 % 6271 = 3978
  // 168: (3978 * 113 + 168) % 6271 = 449682 % 6271 = 4441
  //   1: (4441 * 113 + 1) % 6271 = 501834 % 6271 = 154
  // w = 154 % total_weight 5 = 4: a takes [0,1), b [1,4), c [4,5) -> c
  assert.equal(ip.pick(abc(), req("192.168.1.10"))?.spec.host, "c");
  // With b down nginx hashes again from 154: 192 -> 5052, 168 -> 383, 1 -> 5654; 5654 % 5 = 4 -> c again.
  assert.equal(ip.pick(abc(true), req("192.168.1.10"))?.spec.host, "c");
});

test("the same peers nginx 1.22.1 chose, with all servers up and with b down", () => {
  const up: Record<string, string> = {
    "192.168.1.10": "c",
    "10.0.0.1": "a",
    "10.0.0.200": "a",
    "10.0.1.1": "b",
    "172.16.5.4": "b",
    "8.8.8.8": "b",
    "1.2.3.4": "b",
    "::1": "a",
    "2001:db8::1": "a",
    "fe80::a00:27ff:fe4e:66a1": "a",
    "::ffff:10.0.0.1": "a",
    "2001:db8:85a3::8a2e:370:7334": "b",
  };
  const down: Record<string, string> = { ...up, "10.0.1.1": "c", "172.16.5.4": "c", "8.8.8.8": "a" };
  Object.assign(down, { "1.2.3.4": "a", "2001:db8:85a3::8a2e:370:7334": "a" });
  const g = abc();
  const h = abc(true);
  for (const [addr, host] of Object.entries(up)) assert.equal(ip.pick(g, req(addr))?.spec.host, host, addr);
  for (const [addr, host] of Object.entries(down)) assert.equal(ip.pick(h, req(addr))?.spec.host, host, addr);
});

test("retries keep hashing past the tried peers, request by request as nginx 1.22.1", () => {
  // y (max_fails=3) and x (weight=2 max_fails=2) refuse connections; each line is one request's $upstream_addr.
  const g = new PeerGroup(
    "u",
    [
      server("y:80", { maxFails: 3 }),
      server("a:80"),
      server("x:80", { weight: 2, maxFails: 2 }),
      server("c:80"),
    ],
    0,
  );
  const clients = ["192.168.1.10", "10.0.0.1", "10.0.1.1", "172.16.5.4", "8.8.8.8", "1.2.3.4", "2001:db8::1"];
  clients.push("10.9.8.7");
  const seen: string[] = [];
  for (const addr of [...clients, ...clients]) {
    const tried = new Set<Peer>();
    const seq: string[] = [];
    for (let p = ip.pick(g, req(addr, tried, 5000)); p; p = ip.pick(g, req(addr, tried, 5000))) {
      seq.push(p.spec.host);
      if (p.spec.host !== "x" && p.spec.host !== "y") break;
      p.failed(5000);
      tried.add(p);
    }
    seen.push(seq.join(" "));
  }
  assert.deepEqual(seen, [
    "c",
    "y x a",
    "a",
    "a",
    "x a",
    "a",
    "y a",
    "y c",
    "c",
    "a",
    "a",
    "a",
    "a",
    "a",
    "a",
    "c",
  ]);
});

test("stable: a client network always lands on the same peer", () => {
  const g = abc();
  const first = ip.pick(g, req("10.0.0.1"));
  for (let i = 2; i < 255; i += 17) assert.equal(ip.pick(g, req(`10.0.0.${i}`)), first);
  assert.equal(ip.pick(g, req("unix:"))?.id, ip.pick(g, req("0.0.0.9"))?.id, "pseudo address 0.0.0");
});

test("after 20 misses: round robin, which also reaches the backup tier", () => {
  const g = new PeerGroup(
    "u",
    [server("a:80", { down: true }), server("b:80", { down: true }), server("c:80", { backup: true })],
    0,
  );
  assert.equal(ip.pick(g, req("10.0.0.1"))?.spec.host, "c");
  const single = new PeerGroup("u", [server("a:80")], 0);
  single.get("a:80")!.failed(0);
  assert.equal(
    ip.pick(single, req("10.0.0.1", new Set(), 1))?.spec.host,
    "a",
    "fewer than two peers: round robin",
  );
});

test("the tried set is respected", () => {
  const g = abc();
  const c = g.get("c:80")!;
  const next = ip.pick(g, req("192.168.1.10", new Set([c])));
  assert.equal(next?.spec.host, "b"); // 5654 % 5 = 4 is c again (tried); the third round lands on b
  assert.equal(ip.pick(g, req("192.168.1.10", new Set(g.all()))), null);
});
