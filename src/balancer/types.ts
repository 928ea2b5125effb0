/** The load-balancing extension point: one small interface, one implementation per file (STYLE habit 1). */
import type { Peer, PeerGroup } from "../upstream/peer.js";

/** What a balancer needs to know about the request being placed. */
export interface PickRequest {
  /** Client address as text (IPv4 or IPv6 literal; anything else, e.g. "unix:", hashes as nginx's pseudo address). */
  clientAddr: string;
  /** Value of the hash key for `hash` (already evaluated; "" falls back to round robin, as nginx). */
  hashKey: string;
  /** Peers this request already tried (nginx's per-request `tried` bitmap). */
  tried: ReadonlySet<Peer>;
  /** Current time in milliseconds (injected so tests are exact). */
  now: number;
}

/**
 * One balancing policy. Returns null when no server is available ("no live upstreams"). pick() updates the
 * peers' balancing state (weights, failure window) as nginx's get-peer functions do, but does not acquire():
 * the caller acquires the peer before it next yields to the event loop.
 */
export interface Balancer {
  /** Chooses the peer for one attempt of a request. */
  pick(group: PeerGroup, req: PickRequest): Peer | null;
}
