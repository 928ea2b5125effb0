/**
 * Virtual servers: which `server` block a request belongs to, from the address it arrived on, then its Host
 * (https://nginx.org/en/docs/http/request_processing.html, https://nginx.org/en/docs/http/server_names.html;
 * ngx_http_find_virtual_server in src/http/ngx_http_request.c, ngx_http_add_addresses in ngx_http.c).
 */
import { listenKey } from "../config/directives/server.js";
import type { ListenConf, ServerConf } from "../config/types.js";
import { capturesOf, namedOf } from "./locations.js";
import { parseHost, toBytes } from "./uri.js";

/** The server a Host selected, and the captures of the server_name regex that chose it. Read-only. */
export interface ServerMatch {
  server: ServerConf;
  /** $0..$n of the matching server_name regex, unmatched groups as ""; empty for other matches. */
  captures: string[];
  /** Named captures of that regex (nginx sets them as variables); empty for other matches. */
  named: Record<string, string>;
}

const EMPTY = Object.freeze([]) as unknown as string[];
const NO_NAMES = Object.freeze({}) as Record<string, string>;
const plain = (server: ServerConf): ServerMatch =>
  Object.freeze({ server, captures: EMPTY, named: NO_NAMES });

/** The name table of one listen address: nginx keeps one per address:port, with its own default server. */
export class VirtualHosts {
  /** Answers names nobody claims: the `default_server`, else the first server listening here. */
  readonly defaultServer: ServerConf;
  private readonly fallback: ServerMatch;
  private readonly exact = new Map<string, ServerMatch>();
  /** `*.example.com` as ".example.com", longest first. */
  private readonly heads: [string, ServerMatch][] = [];
  /** `www.example.*` as "www.example.", longest first. */
  private readonly tails: [string, ServerMatch][] = [];
  private readonly regexes: [RegExp, ServerMatch][] = [];

  /** Builds the table of `key` from its servers in config order. */
  constructor(
    readonly key: string,
    readonly servers: readonly ServerConf[],
    defaultServer: ServerConf,
  ) {
    this.defaultServer = defaultServer;
    this.fallback = plain(defaultServer);
    const heads = new Set<string>();
    const tails = new Set<string>();
    for (const server of servers) {
      const match = plain(server);
      for (const n of server.serverNames) {
        const name = toBytes(n.name);
        // A name claimed twice on one address keeps its first server (nginx: "conflicting server name").
        if (n.kind === "exact") {
          if (!this.exact.has(name)) this.exact.set(name, match);
        } else if (n.kind === "wildcard_prefix") {
          if (!heads.has(name)) this.heads.push([name.slice(1), match]);
          heads.add(name);
        } else if (n.kind === "wildcard_suffix") {
          if (!tails.has(name)) this.tails.push([name.slice(0, -1), match]);
          tails.add(name);
        } else {
          // ngx_http_core_server_name: a regex is caseless when it contains an upper-case letter.
          const source = toBytes(n.pattern).replace(/\(\?P</g, "(?<");
          this.regexes.push([new RegExp(source, /[A-Z]/.test(n.pattern) ? "i" : ""), match]);
        }
      }
    }
    this.heads.sort((a, b) => b[0].length - a[0].length);
    this.tails.sort((a, b) => b[0].length - a[0].length);
  }

  /**
   * The server for a Host header value (null: none sent): exact name, longest `*.` wildcard, longest `.*`
   * wildcard, first matching regex in config order, else the default server. Without Host, a server named ""
   * (one without server_name) if there is one. An invalid Host ({@link parseHost} null, which nginx answers
   * with 400) selects the default server, whose settings that 400 uses.
   */
  select(host: string | null): ServerMatch {
    const name = host === null ? "" : parseHost(host);
    if (name === null) return this.fallback;
    const exact = this.exact.get(name);
    if (exact) return exact;
    if (name === "") return this.fallback;
    for (const [suffix, match] of this.heads) if (name.endsWith(suffix)) return match;
    for (const [prefix, match] of this.tails) if (name.startsWith(prefix)) return match;
    for (const [re, match] of this.regexes) {
      const m = re.exec(name);
      if (!m) continue;
      if (m.length === 1) return match;
      return {
        server: match.server,
        captures: capturesOf(m),
        named: m.groups ? namedOf(m.groups) : NO_NAMES,
      };
    }
    return this.fallback;
  }
}

/** A socket to bind: an address and the listen options given for it. */
export interface Listener {
  /** As {@link listenKey}: "0.0.0.0:80", "[::1]:8080". */
  key: string;
  /** Address to bind: "0.0.0.0", "::", a literal or a name; IPv6 without brackets. */
  host: string;
  port: number;
  ipv6: boolean;
  ipv6only: boolean;
  backlog: number | null;
  reuseport: boolean;
}

// IPv6 literals in one spelling ("0:0::1" and "::1" are one address); others unchanged.
function canonicalHost(host: string, ipv6: boolean): string {
  if (!ipv6) return host === "*" ? "0.0.0.0" : host;
  try {
    return new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host;
  }
}

const keyOf = (l: ListenConf): string => listenKey({ ...l, host: canonicalHost(l.host, l.ipv6) });
const wildcardKey = (ipv6: boolean, port: number): string => (ipv6 ? `[::]:${port}` : `0.0.0.0:${port}`);

/** One name table per listen address, keyed as {@link listenKey} (IPv6 canonical), in config order. */
export function buildVirtualHosts(servers: ServerConf[]): Map<string, VirtualHosts> {
  const groups = new Map<string, { servers: ServerConf[]; defaultServer: ServerConf | null }>();
  for (const server of servers) {
    for (const l of server.listen) {
      const key = keyOf(l);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { servers: [], defaultServer: null }));
      if (!g.servers.includes(server)) g.servers.push(server);
      if (l.defaultServer) g.defaultServer ??= server;
    }
  }
  const out = new Map<string, VirtualHosts>();
  for (const [key, g] of groups)
    out.set(key, new VirtualHosts(key, g.servers, g.defaultServer ?? g.servers[0]!));
  return out;
}

/**
 * The table for a connection, by the local address and port it arrived on (Node's socket.localAddress): that
 * address's own table, else the wildcard of its port. As in nginx, a server on `*:80` is not reachable
 * through an address that has a table of its own (`127.0.0.1:80`). A v4-mapped address ("::ffff:127.0.0.1")
 * on a dual-stack socket looks in the IPv6 tables first, as nginx's getsockname() does, then in IPv4 ones.
 */
export function hostsFor(
  table: ReadonlyMap<string, VirtualHosts>,
  localAddress: string,
  localPort: number,
): VirtualHosts | null {
  if (!localAddress.includes(":")) {
    return table.get(`${localAddress}:${localPort}`) ?? table.get(wildcardKey(false, localPort)) ?? null;
  }
  const found =
    table.get(`[${localAddress}]:${localPort}`) ??
    table.get(`[${canonicalHost(localAddress, true)}]:${localPort}`) ??
    table.get(wildcardKey(true, localPort));
  if (found) return found;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(localAddress)?.[1];
  return v4 ? hostsFor(table, v4, localPort) : null;
}

/**
 * The sockets to bind, in config order, one per address with its options merged. As nginx
 * (ngx_http_init_listening), an address that shares its port with a wildcard (`*:80`, `[::]:80`) is served by
 * the wildcard socket, looked up with {@link hostsFor}, unless it sets `backlog=` or `reuseport` (which nginx
 * binds separately).
 */
export function listenersOf(servers: ServerConf[]): Listener[] {
  const byKey = new Map<string, Listener>();
  for (const server of servers) {
    for (const l of server.listen) {
      const key = keyOf(l);
      const seen = byKey.get(key);
      if (seen) {
        seen.backlog ??= l.backlog;
        seen.reuseport ||= l.reuseport;
        continue;
      }
      const { port, ipv6, ipv6only, backlog, reuseport } = l;
      byKey.set(key, { key, host: canonicalHost(l.host, ipv6), port, ipv6, ipv6only, backlog, reuseport });
    }
  }
  return [...byKey.values()].filter(
    (x) =>
      x.key === wildcardKey(x.ipv6, x.port) ||
      !byKey.has(wildcardKey(x.ipv6, x.port)) ||
      x.backlog !== null ||
      x.reuseport,
  );
}
