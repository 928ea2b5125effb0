/**
 * What a cluster's primary and workers say to each other over the IPC channel (advanced serialization, so
 * configurations, server specs and buffers travel as they are), and the two payloads they compute: an upstream's
 * membership and health state (primary → workers, versioned by configuration generation) and a worker's traffic
 * counters (worker → primary, summed there so every status page shows all workers).
 */
import type { Config, LocationHandlerConf, ServerSpec } from "../config/types.js";
import type { ApiRequest } from "../control/api.js";
import type { ShowRequest, ShowResponse } from "../status/upstream-show.js";
import type { Upstream } from "../upstream/upstream.js";

/** One upstream's servers as the primary sees them: specs in order, and who is down by check or draining. */
export interface UpstreamState {
  name: string;
  servers: ServerSpec[];
  /** Addresses active health checks hold down. */
  down: string[];
  /** Addresses the admin API drains. */
  draining: string[];
}

/** One server's counters in one worker: address, in flight, tries, failures, unavail, latency sum and buckets. */
export type PeerCounters = [string, number, number, number, number, number, number[]];

/** One upstream's counters in one worker. */
export interface UpstreamCounters {
  name: string;
  idle: number;
  zombies: number;
  peers: PeerCounters[];
}

export type ToWorker =
  | { t: "config"; gen: number; config: Config }
  | { t: "state"; gen: number; upstreams: UpstreamState[] }
  | { t: "reload"; gen: number; config: Config; upstreams: UpstreamState[] }
  | { t: "answer"; id: number; response: ShowResponse }
  | { t: "counters?"; id: number }
  | { t: "reopen" }
  | { t: "stop"; graceful: boolean; timeoutMs: number | null };

export type ToPrimary =
  | { t: "hello" }
  | { t: "ready"; gen: number }
  | { t: "failed"; gen: number; message: string }
  | { t: "show"; id: number; handler: LocationHandlerConf; req: ShowRequest }
  | { t: "api"; id: number; write: boolean; req: ApiRequest }
  | { t: "counters"; id: number; upstreams: UpstreamCounters[] };

/** The state the primary sends for `u`. */
export function upstreamState(u: Upstream): UpstreamState {
  const peers = u.group.all();
  return {
    name: u.conf.name,
    servers: peers.map((p) => p.spec),
    down: peers.filter((p) => !p.healthy).map((p) => p.id),
    draining: peers.filter((p) => p.draining).map((p) => p.id),
  };
}

/** Applies the primary's state to a worker's upstream: membership first, then each server's verdicts. */
export function applyState(u: Upstream, s: UpstreamState, now: number): void {
  u.apply(s.servers, now);
  const down = new Set(s.down);
  const draining = new Set(s.draining);
  for (const p of u.group.all()) {
    p.setHealthy(!down.has(p.id), now);
    p.setDraining(draining.has(p.id), now);
  }
}

/** A worker's counters for `u`. */
export function upstreamCounters(u: Upstream): UpstreamCounters {
  return {
    name: u.conf.name,
    idle: u.idleConnections(),
    zombies: u.zombies(),
    peers: u.group
      .all()
      .map((p) => [
        p.id,
        p.active,
        p.traffic.requests,
        p.traffic.failures,
        p.traffic.unavail,
        p.traffic.latencySum,
        [...p.traffic.latencyCounts],
      ]),
  };
}

/**
 * Writes the sum of every worker's counters into the primary's upstreams (the primary serves no traffic, so its
 * own counters are only ever these sums).
 */
export function sumCounters(upstreams: ReadonlyMap<string, Upstream>, reports: UpstreamCounters[][]): void {
  for (const u of upstreams.values()) {
    u.reported = { idle: 0, zombies: 0 };
    for (const p of u.group.all()) {
      p.active = 0;
      const t = p.traffic;
      t.requests = t.failures = t.unavail = t.latencySum = 0;
      t.latencyCounts.fill(0);
    }
  }
  for (const report of reports) {
    for (const c of report) {
      const u = upstreams.get(c.name);
      if (!u?.reported) continue;
      u.reported.idle += c.idle;
      u.reported.zombies += c.zombies;
      for (const [id, active, requests, failures, unavail, latencySum, counts] of c.peers) {
        const p = u.group.get(id);
        if (!p) continue;
        p.active += active;
        const t = p.traffic;
        t.requests += requests;
        t.failures += failures;
        t.unavail += unavail;
        t.latencySum += latencySum;
        counts.forEach((n, i) => {
          if (i < t.latencyCounts.length) t.latencyCounts[i]! += n;
        });
      }
    }
  }
}
