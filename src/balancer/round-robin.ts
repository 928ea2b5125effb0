/**
 * Smooth weighted round robin, as nginx's ngx_http_upstream_get_round_robin_peer / ngx_http_upstream_get_peer
 * (src/http/ngx_http_upstream_round_robin.c): weights 5,1,1 give a a b a c a a. Every other policy falls back
 * to it, as nginx's do, so the shared rules (usable, tiers, give up) live here.
 */
import type { Peer, PeerGroup } from "../upstream/peer.js";
import type { Balancer, PickRequest } from "./types.js";

/** Whether this request may use the peer now: not tried yet, and available. */
export function usable(peer: Peer, req: PickRequest, single = false): boolean {
  return !req.tried.has(peer) && peer.available(req.now, single);
}

/** How many peers of a tier this request already tried. */
export function triedIn(peers: readonly Peer[], req: PickRequest): number {
  let n = 0;
  for (const peer of peers) if (req.tried.has(peer)) n++;
  return n;
}

/** Sum of the configured weights of a tier (nginx's `total_weight`, down peers included). */
export function totalWeight(peers: readonly Peer[]): number {
  let total = 0;
  for (const peer of peers) total += peer.spec.weight;
  return total;
}

/** nginx's weight walk: the peer whose slice of [0, total_weight) holds w. */
export function peerAtWeight(peers: readonly Peer[], w: number): Peer {
  let i = 0;
  while (i < peers.length - 1 && w >= peers[i]!.spec.weight) w -= peers[i++]!.spec.weight;
  return peers[i]!;
}

/**
 * One smooth weighted round robin step over one tier (nginx's ngx_http_upstream_get_peer): every usable peer
 * gains its effective weight, the largest wins (first on ties) and pays back the total. Slow start caps the
 * weight gained while a peer ramps up.
 */
export function smoothPick(peers: readonly Peer[], req: PickRequest): Peer | null {
  let best: Peer | null = null;
  let total = 0;
  for (const peer of peers) {
    if (!usable(peer, req)) continue;
    const w = Math.min(peer.effectiveWeight, peer.weightAt(req.now));
    peer.currentWeight += w;
    total += w;
    if (peer.effectiveWeight < peer.spec.weight) peer.effectiveWeight++;
    if (best === null || peer.currentWeight > best.currentWeight) best = peer;
  }
  if (best === null) return null;
  best.currentWeight -= total;
  best.selected(req.now);
  return best;
}

/**
 * No peer of either tier can take the request: "no live upstreams". Current nginx (checked against 1.22.1)
 * keeps the failure counts, so failed servers stay out until their fail_timeout passes; old versions reset
 * them here ("mark them as live for quick recovery"), which let a dead group be hammered on every request.
 */
export function giveUp(_group: PeerGroup): null {
  return null;
}

/** The whole of nginx's round robin get: the single-server rule, the primary tier, then the backup tier. */
export function pickRoundRobin(group: PeerGroup, req: PickRequest): Peer | null {
  if (group.single) {
    // nginx takes the only server without weights or failure accounting (but down and max_conns count).
    const only = group.primary[0]!;
    return usable(only, req, true) ? only : giveUp(group);
  }
  return smoothPick(group.primary, req) ?? smoothPick(group.backup, req) ?? giveUp(group);
}

/** `round_robin` (nginx's default method). */
export class RoundRobinBalancer implements Balancer {
  /** Picks by smooth weighted round robin. */
  pick(group: PeerGroup, req: PickRequest): Peer | null {
    return pickRoundRobin(group, req);
  }
}
