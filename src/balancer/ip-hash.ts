/**
 * `ip_hash`, as nginx's ngx_http_upstream_get_ip_hash_peer
 * (src/http/modules/ngx_http_upstream_ip_hash_module.c): the client's network (first three octets of IPv4,
 * all 16 bytes of IPv6) picks a peer by weight; an unusable pick keeps hashing, and after 20 misses the
 * request falls back to round robin.
 */
import { isIP } from "node:net";
import type { Peer, PeerGroup } from "../upstream/peer.js";
import { peerAtWeight, pickRoundRobin, totalWeight, triedIn, usable } from "./round-robin.js";
import type { Balancer, PickRequest } from "./types.js";

/** nginx hashes clients that are not IPv4/IPv6 (unix sockets) as this pseudo address. */
const PSEUDO_ADDR = [0, 0, 0];

function ipv6Groups(part: string): number[] {
  if (part === "") return [];
  return part.split(":").flatMap((g) => {
    if (!g.includes(".")) return [parseInt(g, 16)];
    const [a, b, c, d] = g.split(".").map(Number) as [number, number, number, number];
    return [(a << 8) | b, (c << 8) | d];
  });
}

/** The bytes nginx's ip_hash feeds to its hash for a client address. */
export function ipHashBytes(addr: string): number[] {
  const family = isIP(addr);
  if (family === 4) return addr.split(".").slice(0, 3).map(Number);
  if (family !== 6) return PSEUDO_ADDR;
  // As nginx, every IPv6 address uses its 16 bytes, IPv4-mapped ones (::ffff:a.b.c.d) included.
  const [head = "", tail] = addr.replace(/%.*$/, "").split("::");
  const h = ipv6Groups(head);
  const t = tail === undefined ? [] : ipv6Groups(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** `ip_hash`. */
export class IpHashBalancer implements Balancer {
  /** Picks by the client's network, primary tier only (ip_hash has no backup servers). */
  pick(group: PeerGroup, req: PickRequest): Peer | null {
    const peers = group.primary;
    const total = totalWeight(peers);
    if (peers.length < 2 || total <= 0) return pickRoundRobin(group, req);
    const bytes = ipHashBytes(req.clientAddr);
    // nginx keeps its hash and miss count across the tries of one request; re-walking from the start passes
    // once more over each peer this request already took, so those passes do not count as misses.
    const limit = 20 + triedIn(peers, req);
    let hash = 89;
    for (let tries = 0; ;) {
      for (const b of bytes) hash = (hash * 113 + b) % 6271;
      const peer = peerAtWeight(peers, hash % total);
      if (usable(peer, req)) {
        peer.selected(req.now);
        return peer;
      }
      if (++tries > limit) return pickRoundRobin(group, req);
    }
  }
}
