/** Server specs and upstream blocks for balancer and upstream tests, with nginx's defaults. */
import { defaultServer, defaultUpstream } from "../../src/config/defaults.js";
import type { ServerSpec, UpstreamConf } from "../../src/config/types.js";

/** A server "host:port" with nginx's defaults, overridden by `extra`. */
export function server(address: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[|\]$/g, "");
  return { ...defaultServer(host, Number(address.slice(i + 1)), { file: null, line: 1 }), address, ...extra };
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
  return { ...defaultUpstream(name, { file: null, line: 0 }, servers), ...extra };
}
