/** Server specs for balancer and upstream tests: nginx's defaults for an upstream `server` line. */
import type { ServerSpec } from "../../src/config/types.js";

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
