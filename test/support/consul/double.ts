/**
 * The Consul double itself: the HTTP server on 127.0.0.1 (ACL tokens, routing, fault injection) over the KV and
 * catalog tables, and the in-process writes and controls tests use. See ../consul-double.ts for what it covers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { BlockingQueries } from "./blocking.js";
import { CatalogTables } from "./catalog.js";
import { catalogWrite, readService } from "./catalog-http.js";
import type { CheckRegistration, ServiceRegistration } from "./catalog-types.js";
import { type Injected, inject } from "./faults.js";
import { header, type SeenRequest, text } from "./http.js";
import { type KvEntry, KvTable } from "./kv.js";
import { kvRequest } from "./kv-http.js";
import type { Raft } from "./raft.js";

/** Options of {@link startConsulDouble}. */
export interface ConsulDoubleOptions {
  /** When set, every request needs this ACL token (403 otherwise). */
  token?: string | null;
  /** Source of Consul's wait jitter; `() => 0` makes blocking queries last exactly `wait`. */
  random?: () => number;
}

/** A running Consul double. */
export class ConsulDouble {
  readonly host = "127.0.0.1";
  /** Every request received, in order (cleared by tests as they like). */
  readonly requests: SeenRequest[] = [];
  #port = 0;
  readonly #raft: Raft = { index: 1 };
  readonly #blocking: BlockingQueries;
  readonly #kv: KvTable;
  readonly #catalog: CatalogTables;
  readonly #sockets = new Set<Socket>();
  readonly #token: string | null;
  #inject: ((req: SeenRequest) => Injected | Promise<Injected>) | null = null;
  #server: Server | null = null;

  constructor(opts: ConsulDoubleOptions = {}) {
    this.#token = opts.token ?? null;
    this.#blocking = new BlockingQueries(opts.random ?? Math.random);
    const wake = this.#blocking.wake.bind(this.#blocking);
    this.#kv = new KvTable(this.#raft, wake);
    this.#catalog = new CatalogTables(this.#raft, wake);
  }

  /** The listening port (kept across stop()/start()). */
  get port(): number {
    return this.#port;
  }
  /** `127.0.0.1:PORT`, as written in an `upsync` line. */
  get address(): string {
    return `${this.host}:${this.#port}`;
  }
  /** The current raft index (the index of the last write). */
  get index(): number {
    return this.#raft.index;
  }
  /** Blocking queries held open right now. */
  waiting(): number {
    return this.#blocking.size;
  }
  /** A stored entry, or undefined. */
  get(key: string): KvEntry | undefined {
    return this.#kv.get(key);
  }

  /** Listens on 127.0.0.1 (the same port again after stop()). */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => this.#onRequest(req, res));
    server.on("connection", (s: Socket) => {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, this.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const a = server.address();
    if (typeof a === "object" && a) this.#port = a.port;
    this.#server = server;
  }

  /** The registry goes down: the port stops listening and every connection (held queries too) is reset. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    this.#blocking.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  /** Every following request goes to `fn` first; it answers or hangs, or returns undefined to pass. */
  respondWith(fn: ((req: SeenRequest) => Injected | Promise<Injected>) | null): void {
    this.#inject = fn;
  }

  /** `PUT /v1/kv/KEY` in-process; returns the write's index. */
  put(key: string, value: string | Buffer | null = null, flags = 0): number {
    return this.#kv.put(key, value, flags);
  }

  /** `DELETE /v1/kv/KEY` (`recurse`: every key under the prefix) in-process; returns the index after it. */
  delete(key: string, recurse = false): number {
    return this.#kv.delete(key, recurse);
  }

  /**
   * Moves the raft index back to `n`, as a restored snapshot does: entries (KV and catalog) keep their data with
   * indexes capped at `n`, tombstones are gone. Held queries keep waiting (their `index` is now ahead), as in Consul.
   */
  setIndex(n: number): void {
    this.#raft.index = n;
    this.#kv.capAt(n);
    this.#catalog.capAt(n);
  }

  /** Drops the tombstones, as Consul's graveyard reaping does: a list whose newest write was a delete goes back. */
  reapTombstones(): void {
    this.#kv.reapTombstones();
  }

  /**
   * Registers (or updates) a service instance and its node, as `PUT /v1/catalog/register` does; returns the
   * write's index, or the current index when nothing changed (Consul skips identical registrations).
   */
  registerService(s: ServiceRegistration): number {
    return this.#catalog.registerService(s);
  }

  /** Removes one service instance and its checks (`PUT /v1/catalog/deregister` with ServiceID). */
  deregisterService(node: string, id: string): number {
    return this.#catalog.deregister(node, id, "");
  }

  /** Removes a node with all its services and checks (`PUT /v1/catalog/deregister` with only Node). */
  deregisterNode(node: string): number {
    return this.#catalog.deregister(node, "", "");
  }

  /**
   * Creates or updates a check of a registered node (and instance, with `serviceId`); throws ConsulWriteError
   * with Consul's words when the node or the instance is not registered.
   */
  setCheck(c: CheckRegistration): number {
    return this.#catalog.setCheck(c);
  }

  /** Removes one check (`PUT /v1/catalog/deregister` with CheckID). */
  deregisterCheck(node: string, id: string): number {
    return this.#catalog.deregister(node, "", id);
  }

  /**
   * The X-Consul-Index of `GET /v1/catalog/service/<name>` (`health`: of `/v1/health/service/<name>`), as
   * Consul's state store computes it (see CatalogTables.serviceIndex() in ./catalog.ts).
   */
  serviceIndex(name: string, health = false): number {
    return this.#catalog.serviceIndex(name, health);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const seen: SeenRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      this.requests.push(seen);
      void this.#dispatch(seen, req, res).catch((err: unknown) => {
        if (!res.headersSent) text(res, 500, String(err));
      });
    });
  }

  async #dispatch(seen: SeenRequest, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const injected = this.#inject ? await this.#inject(seen) : undefined;
    if (injected !== undefined) return inject(injected, req, res);
    const url = new URL(seen.url, "http://consul");
    const q = url.searchParams;
    if (this.#token !== null) {
      const bearer = /^Bearer\s+(.+)$/i.exec(header(req, "authorization"))?.[1];
      const token = q.get("token") ?? (header(req, "x-consul-token") || bearer || null);
      // Consul: no token → the anonymous token, which lacks key:read; an unknown secret → "ACL not found".
      if (token === null) return text(res, 403, "Permission denied");
      if (token !== this.#token) return text(res, 403, "ACL not found");
    }
    const path = url.pathname;
    for (const [prefix, kind] of [
      ["/v1/catalog/service/", "catalog"],
      ["/v1/health/service/", "health"],
    ] as const) {
      if (!path.startsWith(prefix)) continue;
      if (seen.method !== "GET") return void res.writeHead(405, { Allow: "GET" }).end();
      const name = decodeURIComponent(path.slice(prefix.length));
      return readService(this.#catalog, this.#blocking, kind, name, q, res);
    }
    if (path === "/v1/catalog/register" || path === "/v1/catalog/deregister") {
      if (seen.method !== "PUT") return void res.writeHead(405, { Allow: "PUT" }).end();
      return catalogWrite(this.#catalog, path.endsWith("/register"), seen.body, res);
    }
    if (!path.startsWith("/v1/kv")) return text(res, 404, "");
    const key = decodeURIComponent(url.pathname.slice("/v1/kv".length).replace(/^\//, ""));
    kvRequest(this.#kv, this.#blocking, seen.method, key, q, seen.body, res);
  }
}

/** Starts a Consul double on 127.0.0.1, port 0. */
export async function startConsulDouble(opts: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
  const c = new ConsulDouble(opts);
  await c.start();
  return c;
}
