/**
 * `hash KEY [consistent]`, as nginx's src/http/modules/ngx_http_upstream_hash_module.c. Plain: the
 * Cache::Memcached formula picks a peer by weight and rehashes on a miss. Consistent: a ketama ring
 * (Cache::Memcached::Fast points), so adding or removing a server moves only the keys it gains or held.
 * Both fall back to round robin after 20 misses, for an empty key, or when there is nothing to hash over.
 */
import { crc32 } from "../lib/crc32.js";
import type { Peer, PeerGroup } from "../upstream/peer.js";
import { peerAtWeight, pickRoundRobin, totalWeight, triedIn, usable } from "./round-robin.js";
import type { Balancer, PickRequest } from "./types.js";

/** `hash KEY`: nginx's ngx_http_upstream_get_hash_peer. */
export class HashBalancer implements Balancer {
  /** Picks by the key's Cache::Memcached hash, primary tier only. */
  pick(group: PeerGroup, req: PickRequest): Peer | null {
    const peers = group.primary;
    const total = totalWeight(peers);
    const key = req.hashKey;
    if (peers.length < 2 || key === "" || total <= 0) return pickRoundRobin(group, req);
    // As in ip_hash: re-walking passes once more over each peer this request already took; not a miss.
    const limit = 20 + triedIn(peers, req);
    let hash = 0;
    for (let rehash = 0, tries = 0; ; rehash++) {
      // ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH, with REHASH omitted at the first iteration.
      const crc = crc32(rehash > 0 ? `${rehash}${key}` : key);
      hash = (hash + ((crc >>> 16) & 0x7fff)) >>> 0;
      const peer = peerAtWeight(peers, hash % total);
      if (usable(peer, req)) {
        peer.selected(req.now);
        return peer;
      }
      if (++tries > limit) return pickRoundRobin(group, req);
    }
  }
}

/** One point of the ketama ring. */
export interface RingPoint {
  hash: number;
  peer: Peer;
}

/** nginx splits the server name into host and port: a trailing ":digits" is the port, "unix:" has none. */
export function ketamaHostPort(name: string): [string, string] {
  if (name.slice(0, 5).toLowerCase() === "unix:") return [name.slice(5), ""];
  const m = /:(\d*)$/.exec(name);
  return m ? [name.slice(0, m.index), m[1]!] : [name, ""];
}

/** Builds the ring: weight × 160 points per peer, crc32(HOST \0 PORT PREV_HASH), sorted, duplicates dropped. */
export function buildRing(peers: readonly Peer[]): RingPoint[] {
  const points: RingPoint[] = [];
  const prev = Buffer.alloc(4);
  for (const peer of peers) {
    const [host, port] = ketamaHostPort(peer.spec.address);
    const base = crc32(port, crc32("\0", crc32(host)));
    prev.writeUInt32LE(0);
    for (let j = 0; j < peer.spec.weight * 160; j++) {
      // nginx feeds the previous point's hash as its 4 little-endian bytes.
      const hash = crc32(prev, base);
      points.push({ hash, peer });
      prev.writeUInt32LE(hash);
    }
  }
  // A stable sort keeps, on a (rare) collision, the point of the server listed first.
  points.sort((a, b) => a.hash - b.hash);
  return points.filter((p, i) => i === 0 || p.hash !== points[i - 1]!.hash);
}

/** Index of the first point whose hash is >= hash (points.length when none: the ring wraps). */
export function findPoint(points: readonly RingPoint[], hash: number): number {
  let i = 0;
  let j = points.length;
  while (i < j) {
    const k = (i + j) >>> 1;
    const h = points[k]!.hash;
    if (hash > h) i = k + 1;
    else if (hash < h) j = k;
    else return k;
  }
  return i;
}

/** `hash KEY consistent`: nginx's ngx_http_upstream_get_chash_peer. */
export class ConsistentHashBalancer implements Balancer {
  readonly #rings = new WeakMap<PeerGroup, { version: number; points: RingPoint[] }>();

  /** The ring of a group, rebuilt only when its membership changed. */
  ring(group: PeerGroup): RingPoint[] {
    let cached = this.#rings.get(group);
    if (cached?.version !== group.version) {
      cached = { version: group.version, points: buildRing(group.primary) };
      this.#rings.set(group, cached);
    }
    return cached.points;
  }

  /** Picks the peer of the first usable point at or after crc32(key), primary tier only. */
  pick(group: PeerGroup, req: PickRequest): Peer | null {
    const key = req.hashKey;
    if (group.single || key === "" || group.primary.length === 0) return pickRoundRobin(group, req);
    const points = this.ring(group);
    let index = findPoint(points, crc32(key));
    for (let tries = 0; ;) {
      const peer = points[index % points.length]!.peer;
      if (usable(peer, req)) {
        // nginx runs smooth round robin among the peers that share the point's server name; a name is one
        // peer here, so of that only the effective weight's recovery remains.
        if (peer.effectiveWeight < peer.spec.weight) peer.effectiveWeight++;
        peer.selected(req.now);
        return peer;
      }
      index++;
      if (++tries > 20) return pickRoundRobin(group, req);
    }
  }
}
