/** Server specs and upstream blocks for balancer and upstream tests, with nginx's defaults. */
import type { ServerSpec, UpstreamConf } from "../../src/config/types.js";

/** A server "host:port" with nginx's defaults, overridden by `extra`. */
export function server(address: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  const i = address.lastIndexOf(":");
  return {
    address,
    host: address.slice(0, i),
    port: Number(address.slice(i + 1)),
    weight: 1,
    maxFails: 1,
    failTimeout: 10_000,
    maxConns: 0,
    backup: false,
    down: false,
    slowStart: 0,
    origin: { file: null, line: 1 },
    ...extra,
  };
}

/**
 * An `upstream NAME { ... }` block of `servers`: round robin, the default keep-alive pool, no zone, no registry, no
 * dump, no checks, unless `extra` says otherwise.
 */
export function upstreamConf(
  name: string,
  servers: ServerSpec[],
  extra: Partial<UpstreamConf> = {},
): UpstreamConf {
  return {
    name,
    origin: { file: null, line: 0 },
    servers,
    balancer: { method: "round_robin" },
    keepalive: null,
    keepaliveTimeout: 60_000,
    keepaliveRequests: 1000,
    zone: null,
    upsync: null,
    dumpPath: null,
    check: null,
    ...extra,
  };
}
