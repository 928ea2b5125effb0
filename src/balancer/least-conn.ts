/**
 * `least_conn`, as nginx's ngx_http_upstream_get_least_conn_peer
 * (src/http/modules/ngx_http_upstream_least_conn_module.c): the usable peer with the fewest requests in flight
 * relative to its weight; peers tied on that ratio are chosen among by smooth weighted round robin.
 */
import type { Peer, PeerGroup } from "../upstream/peer.js";
import { giveUp, pickRoundRobin, usable } from "./round-robin.js";
import type { Balancer, PickRequest } from "./types.js";

/** One tier: nginx's two passes, the least loaded first, then round robin among the ties. */
function leastConnPick(peers: readonly Peer[], req: PickRequest): Peer | null {
  const now = req.now;
  let ref: Peer | null = null;
  let refIndex = 0;
  let many = false;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i]!;
    if (!usable(peer, req)) continue;
    // Cross-multiplied (active/weight) so no division: nginx compares conns * other weight.
    const mine = ref === null ? 0 : peer.active * ref.weightAt(now);
    const theirs = ref === null ? 0 : ref.active * peer.weightAt(now);
    if (ref === null || mine < theirs) {
      ref = peer;
      refIndex = i;
      many = false;
    } else if (mine === theirs) {
      many = true;
    }
  }
  if (ref === null) return null;
  let best = ref;
  if (many) {
    let total = 0;
    for (let i = refIndex; i < peers.length; i++) {
      const peer = peers[i]!;
      if (!usable(peer, req)) continue;
      if (peer.active * ref.weightAt(now) !== ref.active * peer.weightAt(now)) continue;
      const w = Math.min(peer.effectiveWeight, peer.weightAt(now));
      peer.currentWeight += w;
      total += w;
      if (peer.effectiveWeight < peer.spec.weight) peer.effectiveWeight++;
      if (peer.currentWeight > best.currentWeight) best = peer;
    }
    best.currentWeight -= total;
  }
  best.selected(now);
  return best;
}

/** `least_conn`. */
export class LeastConnBalancer implements Balancer {
  /** Picks the least loaded usable peer, primary tier first. */
  pick(group: PeerGroup, req: PickRequest): Peer | null {
    // nginx hands a single-server group to plain round robin (its single-server rule).
    if (group.single) return pickRoundRobin(group, req);
    return leastConnPick(group.primary, req) ?? leastConnPick(group.backup, req) ?? giveUp(group);
  }
}
