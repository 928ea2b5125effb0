/**
 * An upstream at run time: its peers (state kept across membership updates), its balancer and one keep-alive
 * pool per peer. `proxy_pass` to a literal address gets an implicit upstream of its own, as in nginx.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { defaultServer } from "../config/defaults.js";
import type { ServerSpec, UpstreamConf } from "../config/types.js";
import { createBalancer } from "../balancer/index.js";
import type { Balancer, PickRequest } from "../balancer/types.js";
import { PeerPool } from "../proxy/pool.js";
import { type Peer, PeerGroup } from "./peer.js";

/** Idle upstream connections kept per server when the upstream has no `keepalive` line. */
export const DEFAULT_KEEPALIVE = 128;

/** An upstream group in service. */
export class Upstream {
  readonly group: PeerGroup;
  readonly balancer: Balancer;
  private readonly pools = new Map<Peer, PeerPool>();
  private readonly observers: (() => void)[] = [];
  /**
   * A cluster primary serves no traffic: the sums of its workers' idle connections and zombies, which the admin API
   * shows instead of this process's own (runtime/messages.ts sets them).
   */
  reported: { idle: number; zombies: number } | null = null;
  /** Removed peers that still had requests in flight (NGINX's "zombies"); pruned when asked. */
  private readonly removed = new Set<Peer>();

  constructor(
    readonly conf: UpstreamConf,
    specs: ServerSpec[],
    now: number,
    random?: () => number,
  ) {
    this.group = new PeerGroup(conf.name, specs, now);
    this.balancer = createBalancer(conf.balancer, random ? { random } : {});
  }

  /** The next server for a request, or null when none is available. */
  pick(req: PickRequest): Peer | null {
    return this.balancer.pick(this.group, req);
  }

  /** The keep-alive pool of `peer`. */
  pool(peer: Peer, noDelay: boolean): PeerPool {
    let p = this.pools.get(peer);
    if (!p) {
      p = new PeerPool(peer.spec.host, peer.spec.port, {
        maxIdle: this.conf.keepalive ?? DEFAULT_KEEPALIVE,
        idleTimeout: this.conf.keepaliveTimeout,
        maxRequests: this.conf.keepaliveRequests,
        noDelay,
      });
      this.pools.set(peer, p);
    }
    return p;
  }

  /**
   * Replaces the member list (registry updates): state of peers that stay is kept, removed peers' idle
   * connections are closed (their in-flight requests finish on their own sockets).
   */
  apply(specs: ServerSpec[], now: number): void {
    const { removed } = this.group.apply(specs, now);
    for (const peer of removed) {
      this.pools.get(peer)?.close();
      this.pools.delete(peer);
      if (peer.active > 0) this.removed.add(peer);
    }
    for (const fn of this.observers) fn();
  }

  /** Calls `fn` after every membership change (active health checks follow the servers this way). */
  onMembership(fn: () => void): void {
    this.observers.push(fn);
  }

  /** Idle keep-alive connections to the servers now (the admin API's `keepalive`). */
  idleConnections(): number {
    if (this.reported) return this.reported.idle;
    let n = 0;
    for (const p of this.pools.values()) n += p.idleCount;
    return n;
  }

  /** Removed servers that still have requests in flight (the admin API's `zombies`). */
  zombies(): number {
    if (this.reported) return this.reported.zombies;
    for (const peer of this.removed) if (peer.active === 0) this.removed.delete(peer);
    return this.removed.size;
  }

  /** Closes every idle connection. */
  close(): void {
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
  }
}

/** Resolves servers given by host name to one server per address, as nginx does at load. */
export async function resolveServers(specs: readonly ServerSpec[]): Promise<ServerSpec[]> {
  const out: ServerSpec[] = [];
  for (const s of specs) {
    if (isIP(s.host)) {
      out.push(s);
      continue;
    }
    let addrs: { address: string; family: number }[];
    try {
      addrs = await lookup(s.host, { all: true });
    } catch {
      throw new Error(`host not found in upstream "${s.address}"`);
    }
    for (const a of addrs) {
      const address = a.family === 6 ? `[${a.address}]:${s.port}` : `${a.address}:${s.port}`;
      out.push({ ...s, host: a.address, address });
    }
  }
  return out;
}

/** The server spec of an implicit upstream (`proxy_pass http://127.0.0.1:8080`), with nginx's defaults. */
export function implicitServer(host: string, port: number): ServerSpec {
  return defaultServer(host, port, { file: null, line: 0 });
}
