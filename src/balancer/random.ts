/**
 * `random [two [least_conn]]`, as nginx's src/http/modules/ngx_http_upstream_random_module.c: a weighted random
 * peer; with `two`, two distinct weighted random peers and the less loaded wins. Misses (unusable peers) draw
 * again; after 20 the request falls back to round robin. Unlike nginx's module we also skip peers that active
 * health checks or a drain took out, through the shared usable().
 */
import type { Peer, PeerGroup } from "../upstream/peer.js";
import { pickRoundRobin, usable } from "./round-robin.js";
import type { Balancer, PickRequest } from "./types.js";

/** A source of numbers in [0, 1), like Math.random (injected so tests assert exact orders). */
export type RandomSource = () => number;

/** `random`, optionally `two [least_conn]`. */
export class RandomBalancer implements Balancer {
  readonly #two: boolean;
  readonly #random: RandomSource;

  constructor(two: boolean, random: RandomSource = Math.random) {
    this.#two = two;
    this.#random = random;
  }

  /** nginx's ngx_http_upstream_peek_random_peer: x in [0, total_weight), binary search over the ranges. */
  #peek(peers: readonly Peer[], starts: readonly number[], total: number): Peer {
    const x = Math.min(Math.floor(this.#random() * total), total - 1);
    let i = 0;
    let j = peers.length;
    while (j - i > 1) {
      const k = (i + j) >>> 1;
      if (x < starts[k]!) j = k;
      else i = k;
    }
    return peers[i]!;
  }

  /** Picks a weighted random usable peer (or the better of two), primary tier only. */
  pick(group: PeerGroup, req: PickRequest): Peer | null {
    const peers = group.primary;
    const starts: number[] = [];
    let total = 0;
    for (const peer of peers) {
      starts.push(total);
      total += peer.spec.weight;
    }
    if (peers.length < 2 || total <= 0) return pickRoundRobin(group, req);
    let prev: Peer | null = null;
    for (let tries = 0; ;) {
      const peer = this.#peek(peers, starts, total);
      if (peer !== prev && usable(peer, req)) {
        if (!this.#two) return this.#chosen(peer, req);
        if (prev !== null) {
          // least_conn between the two: fewer requests in flight per unit of weight; a tie keeps the second.
          const worse = peer.active * prev.spec.weight > prev.active * peer.spec.weight;
          return this.#chosen(worse ? prev : peer, req);
        }
        prev = peer;
      }
      if (++tries > 20) return pickRoundRobin(group, req);
    }
  }

  #chosen(peer: Peer, req: PickRequest): Peer {
    peer.selected(req.now);
    return peer;
  }
}
