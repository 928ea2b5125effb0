/**
 * nginx's defaults for a `server` line and an `upstream` block, in one place: the config adapters start from
 * them, and so do the implicit upstreams of `proxy_pass ADDRESS`.
 */
import { isIP } from "node:net";
import type { Origin, ServerSpec, UpstreamConf } from "./types.js";

/** `server HOST:PORT;` with nginx's defaults (weight=1 max_fails=1 fail_timeout=10s). */
export function defaultServer(host: string, port: number, origin: Origin): ServerSpec {
  return {
    address: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`,
    host,
    port,
    weight: 1,
    maxFails: 1,
    failTimeout: 10_000,
    maxConns: 0,
    backup: false,
    down: false,
    slowStart: 0,
    origin,
  };
}

/** `upstream NAME { ... }` with nginx's defaults: round robin, no keepalive line, no zone, registry or checks. */
export function defaultUpstream(name: string, origin: Origin, servers: ServerSpec[] = []): UpstreamConf {
  return {
    name,
    origin,
    servers,
    balancer: { method: "round_robin" },
    keepalive: null,
    keepaliveTimeout: 60_000,
    keepaliveRequests: 1000,
    zone: null,
    upsync: null,
    dumpPath: null,
    check: null,
  };
}
