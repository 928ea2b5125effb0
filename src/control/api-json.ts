/**
 * The admin API's documents, shaped as version 9 of the NGINX Plus API (ngx_http_api_module, "HTTP Upstream",
 * "HTTP Upstream Peer", "HTTP Upstream Server", "Error"): the fields syncgate knows, none it would have to
 * invent (no `responses`, `sent`, `received`, `downtime`, `selected`, `header_time`). Pure.
 */
import type { CheckedServer } from "../check/checker.js";
import type { ServerSpec } from "../config/types.js";
import type { Peer } from "../upstream/peer.js";
import type { Upstream } from "../upstream/upstream.js";

/** The API version syncgate speaks; older version numbers get the same documents. */
export const API_VERSION = 9;
/** Where the error documents point, as NGINX's do. */
export const API_HREF = "https://nginx.org/en/docs/http/ngx_http_api_module.html";

/** An API failure: HTTP status, NGINX Plus error code (`UpstreamNotFound`, ...) and its text. */
export interface ApiError {
  status: number;
  code: string;
  text: string;
}

/** The error document: `{"error":{"status","text","code"},"request_id","href"}`. */
export function errorJson(e: ApiError, requestId: string): unknown {
  return { error: { status: e.status, text: e.text, code: e.code }, request_id: requestId, href: API_HREF };
}

/** A time as nginx prints one: whole seconds as `10s`, anything else in `ms`. */
export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** States of an "HTTP Upstream Peer". */
export type PeerState = "up" | "draining" | "down" | "unavail" | "checking" | "unhealthy";

/** A server's state now: configuration first (down, drain), then active checks, then passive failures. */
export function peerState(
  peer: Peer,
  now: number,
  single: boolean,
  health: CheckedServer | undefined,
): PeerState {
  if (peer.spec.down) return "down";
  if (peer.draining) return "draining";
  if (health && !health.up) return health.probed ? "unhealthy" : "checking";
  if (peer.failedOut(now, single)) return "unavail";
  return "up";
}

/** "HTTP Upstream Server": a server's settings (GET/POST/PATCH of `/http/upstreams/NAME/servers`). */
export interface ServerConfJson {
  /** Absent only in a 202 answer for a server the registry has not sent back yet. */
  id?: number;
  server: string;
  weight: number;
  max_conns: number;
  max_fails: number;
  fail_timeout: string;
  slow_start: string;
  route: string;
  backup: boolean;
  down: boolean;
  /** Present (true) only while the server is drained, as NGINX shows it. */
  drain?: true;
}

/** A server's settings document; `id` null leaves it out. */
export function serverConfJson(spec: ServerSpec, id: number | null, draining: boolean): ServerConfJson {
  return {
    ...(id === null ? {} : { id }),
    server: spec.address,
    weight: spec.weight,
    max_conns: spec.maxConns,
    max_fails: spec.maxFails,
    fail_timeout: formatDuration(spec.failTimeout),
    slow_start: formatDuration(spec.slowStart),
    route: "",
    backup: spec.backup,
    down: spec.down,
    ...(draining ? { drain: true as const } : {}),
  };
}

/** A peer's settings document. */
export function peerConfJson(peer: Peer): ServerConfJson {
  return serverConfJson(peer.spec, peer.serial, peer.draining);
}

/** "HTTP Upstream Peer": a server's state and counters. */
export interface PeerJson {
  id: number;
  server: string;
  name: string;
  backup: boolean;
  weight: number;
  state: PeerState;
  active: number;
  max_conns?: number;
  requests: number;
  fails: number;
  unavail: number;
  health_checks?: { checks: number; fails: number; unhealthy: number; last_passed?: boolean };
  /** Average time of a try, ms (NGINX: of the full response). */
  response_time?: number;
}

/** A peer's state document; `health` is its active-check state when the upstream has `check`. */
export function peerJson(
  peer: Peer,
  now: number,
  single: boolean,
  health: CheckedServer | undefined,
): PeerJson {
  const t = peer.traffic;
  return {
    id: peer.serial,
    server: peer.spec.address,
    name: peer.spec.address,
    backup: peer.spec.backup,
    weight: peer.spec.weight,
    state: peerState(peer, now, single, health),
    active: peer.active,
    ...(peer.spec.maxConns > 0 ? { max_conns: peer.spec.maxConns } : {}),
    requests: t.requests,
    fails: t.failures,
    unavail: t.unavail,
    ...(health
      ? {
          health_checks: {
            checks: health.checks,
            fails: health.failedChecks,
            unhealthy: health.unhealthy,
            ...(health.lastPassed === null ? {} : { last_passed: health.lastPassed }),
          },
        }
      : {}),
    ...(t.requests > 0 ? { response_time: Math.round((t.latencySum * 1000) / t.requests) } : {}),
  };
}

/** "HTTP Upstream": its peers, idle keep-alive connections and zombies. */
export interface UpstreamJson {
  peers: PeerJson[];
  keepalive: number;
  zombies: number;
  zone?: string;
}

/** One upstream's document; `health` maps addresses to their check state (empty without `check`). */
export function upstreamJson(
  u: Upstream,
  now: number,
  health: ReadonlyMap<string, CheckedServer>,
): UpstreamJson {
  const single = u.group.single;
  return {
    peers: u.group.all().map((p) => peerJson(p, now, single, health.get(p.id))),
    keepalive: u.idleConnections(),
    zombies: u.zombies(),
    ...(u.conf.zone ? { zone: u.conf.zone.name } : {}),
  };
}
