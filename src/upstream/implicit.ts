/**
 * Implicit upstreams, as nginx makes them: `proxy_pass` to an address or host name gets an upstream of its own
 * with nginx's server defaults, and so does an address picked at run time (`proxy_pass http://$host`). The run-time
 * ones are kept (with their keep-alive pools) for reuse, but at most RUNTIME_UPSTREAMS of them, least recently
 * used dropped first: the address may come from the client, and an unbounded table would be a way to exhaust
 * memory and sockets.
 */
import { parseHostPort } from "../config/address.js";
import { defaultUpstream } from "../config/defaults.js";
import type { ServerSpec } from "../config/types.js";
import { implicitServer, Upstream } from "./upstream.js";

/** Most implicit upstreams of run-time addresses kept at once. */
const RUNTIME_UPSTREAMS = 256;

/** The implicit upstream named `name` ("host:port") of `specs`. */
export function implicitUpstream(
  name: string,
  specs: ServerSpec[],
  now: number,
  random?: () => number,
): Upstream {
  return new Upstream(defaultUpstream(name, { file: null, line: 0 }, specs), specs, now, random);
}

/** The bounded table of run-time implicit upstreams. */
export class RuntimeUpstreams {
  readonly #table = new Map<string, Upstream>();

  constructor(
    private readonly now: () => number,
    private readonly random: (() => number) | undefined,
  ) {}

  /** The upstream of `authority` ("host[:port]", an IP address), or null when it is not one. */
  get(authority: string): Upstream | null {
    const hp = parseHostPort(authority);
    if ("error" in hp || !/^[\d.]+$|:/.test(hp.host)) return null;
    const key = `${hp.host}:${hp.port ?? 80}`;
    let u = this.#table.get(key);
    if (u) this.#table.delete(key);
    else {
      u = implicitUpstream(key, [implicitServer(hp.host, hp.port ?? 80)], this.now(), this.random);
      if (this.#table.size >= RUNTIME_UPSTREAMS) {
        const [oldest, dropped] = this.#table.entries().next().value!;
        this.#table.delete(oldest);
        dropped.close();
      }
    }
    this.#table.set(key, u);
    return u;
  }

  /** Closes every pool. */
  close(): void {
    for (const u of this.#table.values()) u.close();
  }
}
