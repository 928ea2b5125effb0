/**
 * The listening sockets of one configuration, by the address:port they bind. A reload keeps the sockets both
 * configurations have and hands them on (no socket is closed and reopened, so no connection attempt is refused);
 * each socket gives its new connections to the configuration that owns it now.
 */
import { createServer, type ListenOptions, type Server, type Socket } from "node:net";
import type { Listener as ListenSpec } from "../router/servers.js";
import { errnoText, SyncgateError } from "../lib/errors.js";
import type { ErrorLog } from "../log/error-log.js";

/** What serves a listener's connections. */
export interface Acceptor {
  accept(socket: Socket): void;
  readonly errorLog: ErrorLog;
}

interface Bound {
  readonly key: string;
  readonly server: Server;
  owner: Acceptor;
}

/** One configuration's listeners. */
export class ListenerSet {
  readonly #bound = new Map<string, Bound>();

  constructor(
    private readonly owner: Acceptor,
    /** Bind with SO_REUSEPORT in this process (a cluster worker where Node.js offers it). */
    private readonly reusePort: boolean,
  ) {}

  /**
   * Binds every address of `specs` that neither this set nor `previous` holds; fails with nginx's bind() message,
   * leaving nothing of its own bound.
   */
  async bind(specs: readonly ListenSpec[], previous: ListenerSet | null): Promise<void> {
    const fresh: Bound[] = [];
    try {
      for (const l of specs) {
        const key = l.key;
        if (this.#bound.has(key) || (previous !== null && previous.#bound.has(key))) continue;
        const b = await this.#bindOne(l, key);
        fresh.push(b);
        this.#bound.set(key, b);
      }
    } catch (err) {
      for (const b of fresh) {
        b.server.close();
        this.#bound.delete(b.key);
      }
      throw err;
    }
  }

  /** Takes the listeners of `previous` that `specs` has too; they serve this set's owner from now on. */
  takeFrom(previous: ListenerSet, specs: readonly ListenSpec[]): void {
    for (const l of specs) {
      const key = l.key;
      const old = previous.#bound.get(key);
      if (!old || this.#bound.has(key)) continue;
      previous.#bound.delete(key);
      old.owner = this.owner;
      this.#bound.set(key, old);
    }
  }

  /** Stops accepting on every listener held. */
  closeAll(): void {
    for (const b of this.#bound.values()) b.server.close();
    this.#bound.clear();
  }

  /** Bound addresses (host, port), in the order of `specs`. */
  addresses(specs: readonly ListenSpec[]): { host: string; port: number }[] {
    const out: { host: string; port: number }[] = [];
    for (const l of specs) {
      const a = this.#bound.get(l.key)?.server.address();
      if (typeof a === "object" && a) out.push({ host: a.address, port: a.port });
    }
    return out;
  }

  async #bindOne(l: ListenSpec, key: string): Promise<Bound> {
    const server = createServer({ noDelay: true }, (socket: Socket) => b.owner.accept(socket));
    const b: Bound = { key, server, owner: this.owner };
    await listenOn(server, l, {
      ...(l.backlog ? { backlog: l.backlog } : {}),
      // Node.js 22.12+: a socket of this worker's own, the kernel balancing connections over the workers.
      ...(this.reusePort ? { reusePort: true, exclusive: true } : {}),
    });
    server.on("error", (err) => b.owner.errorLog.log("alert", `listener error: ${String(err)}`));
    return b;
  }
}

/** Has `server` listen on `l` (with `extra` options); fails with nginx's bind() message. */
export function listenOn(server: Server, l: ListenSpec, extra: ListenOptions = {}): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void =>
      reject(new SyncgateError("SG_ERR_IO", `bind() to ${l.key} failed ${errnoText(err)}`));
    server.once("error", failed);
    server.listen({ host: l.host, port: l.port, ipv6Only: l.ipv6 && l.ipv6only, ...extra }, () => {
      server.off("error", failed);
      resolve();
    });
  });
}
