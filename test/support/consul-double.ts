/**
 * A Consul agent double for tests (DESIGN §5): the KV, catalog and health parts of Consul's documented HTTP API, on
 * 127.0.0.1, port 0.
 * KV follows https://developer.hashicorp.com/consul/api-docs/kv and .../features/blocking: keys sorted, base64 `Value`
 * (null when empty), 404 with `X-Consul-Index` when nothing matches, `?recurse`, `?keys` (+ `separator`), `?raw`,
 * blocking queries (`index`, `wait` up to 10 min, default 5 min, plus up to wait/16 of jitter), one raft-like index
 * raised by every write, tombstones for deleted keys (so a list's index never drops until they are reaped), and
 * ACL tokens (`X-Consul-Token`, `Authorization: Bearer`, `?token=`).
 * The catalog follows .../api-docs/catalog and .../api-docs/health: `GET /v1/catalog/service/:service` and
 * `GET /v1/health/service/:service` (`?tag=`, `?passing`, blocking, 200 `[]` for an unknown service, Consul's
 * per-service index — see serviceIndex()), `PUT /v1/catalog/register` and `PUT /v1/catalog/deregister`, and the
 * same writes in-process: registerService(), deregisterService(), deregisterNode(), setCheck(), deregisterCheck().
 * Test controls: stop()/start() on the same port, setIndex() and reapTombstones() to move the index backwards,
 * respondWith() to inject faults.
 * Production code must never import this file.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** One stored key, as Consul's DirEntry. */
export interface KvEntry {
  key: string;
  value: Buffer | null;
  flags: number;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
}

/** A health check status Consul stores (`maintenance` is a critical check with a reserved ID). */
export type CheckStatus = "passing" | "warning" | "critical";

/** One service instance for registerService(): Consul's catalog registration of a node and a service, flattened. */
export interface ServiceRegistration {
  /** Node name. */
  node: string;
  /** The node's address (`Address` of the catalog entry). */
  nodeAddress: string;
  /** Service ID, unique per node; the name by default (as Consul). */
  id?: string;
  /** Service name. */
  name: string;
  /** The service's own address (`ServiceAddress`); "" (the default) means the node's. */
  address?: string;
  port: number;
  /** null or absent: none (Consul stores nil; the catalog endpoint shows `[]`, the health one `null`). */
  tags?: string[] | null;
  meta?: Record<string, string>;
}

/** A check for setCheck(): a node check (no `serviceId`, e.g. `serfHealth`) or a check of one service instance. */
export interface CheckRegistration {
  node: string;
  /** CheckID, unique per node. */
  id: string;
  status: CheckStatus;
  /** The instance checked; absent for a node check, which concerns every service of the node. */
  serviceId?: string;
  /** The check's name; its ID by default. */
  name?: string;
  output?: string;
}

/** A request as the double received it (what tests assert on: URL, headers, body). */
export interface SeenRequest {
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** What a fault injector answers instead of the KV API; `undefined` lets the request through. */
export type Injected =
  | undefined
  | {
      status?: number;
      headers?: Record<string, string>;
      /** The whole body (sent with Content-Length). */
      body?: string | Buffer;
      /** A body streamed chunked, without Content-Length: `chunk` written `count` times. */
      stream?: { chunk: Buffer; count: number };
    }
  /** Never answers; the connection stays open until the client gives up or stop() is called. */
  | { hang: true }
  /** Resets the connection without an answer. */
  | { destroy: true };

/** Options of {@link startConsulDouble}. */
export interface ConsulDoubleOptions {
  /** When set, every request needs this ACL token (403 otherwise). */
  token?: string | null;
  /** Source of Consul's wait jitter; `() => 0` makes blocking queries last exactly `wait`. */
  random?: () => number;
}

const MAX_WAIT = 10 * 60_000;
const DEFAULT_WAIT = 5 * 60_000;
const MAX_VALUE = 512 * 1024;
const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration (what Consul uses for `wait`), in ms; null when invalid. */
export function parseGoDuration(text: string): number | null {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return null;
    ms += Number(m[1]) * (UNITS[m[2] ?? ""] ?? 0);
    at = re.lastIndex;
  }
  return at === 0 ? null : ms;
}

/** A catalog node (Consul's structs.Node). */
interface NodeRow {
  id: string;
  node: string;
  address: string;
  taggedAddresses: Record<string, string> | null;
  meta: Record<string, string>;
  createIndex: number;
  modifyIndex: number;
}

/** A service instance on a node (Consul's structs.ServiceNode, minus the node's fields). */
interface ServiceRow {
  node: string;
  id: string;
  service: string;
  tags: string[] | null;
  address: string;
  port: number;
  meta: Record<string, string>;
  createIndex: number;
  modifyIndex: number;
}

/** A health check (Consul's structs.HealthCheck); `serviceId` "" for a node check. */
interface CheckRow {
  node: string;
  checkId: string;
  name: string;
  status: string;
  notes: string;
  output: string;
  serviceId: string;
  createIndex: number;
  modifyIndex: number;
}

/** What `PUT /v1/catalog/register` carries (Consul's structs.RegisterRequest), decoded. */
interface Registration {
  node: string;
  address: string;
  id: string;
  taggedAddresses: Record<string, string> | null;
  meta: Record<string, string>;
  skipNodeUpdate: boolean;
  service: Omit<ServiceRow, "node" | "createIndex" | "modifyIndex"> | null;
  checks: Omit<CheckRow, "createIndex" | "modifyIndex">[];
}

/** One write in progress: its index, the tables it changed, the (lower-case) services whose data it changed. */
interface Tx {
  idx: number;
  tables: Set<"nodes" | "services" | "checks">;
  touched: Set<string>;
}

/** A write Consul refuses (its RPC layer answers these with HTTP 500 and the message). */
export class ConsulWriteError extends Error {
  override name = "ConsulWriteError";
}

interface Waiter {
  /** Whether a write to `key` of `table` (a KV key, or a lower-case service name) concerns this query. */
  concerns(table: "kv" | "service", key: string): boolean;
  /** Answers now if the query's index moved past its `index`. */
  recheck(): void;
}

/** A running Consul double. */
export class ConsulDouble {
  readonly host = "127.0.0.1";
  /** Every request received, in order (cleared by tests as they like). */
  readonly requests: SeenRequest[] = [];
  #port = 0;
  #index = 1;
  /** Consul's KV table index (kvs + tombstones): the index of the last KV write; catalog writes leave it. */
  #kvIndex = 1;
  readonly #kv = new Map<string, KvEntry>();
  /** Deleted keys → the index of their deletion (Consul's KV graveyard). */
  readonly #tombstones = new Map<string, number>();
  readonly #nodes = new Map<string, NodeRow>();
  /** Service instances by rowKey(node, service ID). */
  readonly #services = new Map<string, ServiceRow>();
  /** Checks by rowKey(node, check ID). */
  readonly #checks = new Map<string, CheckRow>();
  /** Consul's `service.<name>` entries of its index table: lower-case name → index of the last write to it. */
  readonly #serviceIndexes = new Map<string, number>();
  /** Consul's `service_last_extinction`: the index at which the last instance of some service went away. */
  #extinction = 0;
  /** Consul's table indexes: the index of the last write to each catalog table. */
  readonly #tableIndexes = { nodes: 0, services: 0, checks: 0 };
  readonly #waiters = new Set<Waiter>();
  readonly #sockets = new Set<Socket>();
  readonly #token: string | null;
  readonly #random: () => number;
  #inject: ((req: SeenRequest) => Injected | Promise<Injected>) | null = null;
  #server: Server | null = null;

  constructor(opts: ConsulDoubleOptions = {}) {
    this.#token = opts.token ?? null;
    this.#random = opts.random ?? Math.random;
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
    return this.#index;
  }
  /** Blocking queries held open right now. */
  waiting(): number {
    return this.#waiters.size;
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
    this.#waiters.clear();
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
    const index = ++this.#index;
    this.#kvIndex = index;
    const old = this.#kv.get(key);
    const v = value === null || value.length === 0 ? null : Buffer.from(value);
    this.#kv.set(key, {
      key,
      value: v,
      flags,
      createIndex: old?.createIndex ?? index,
      modifyIndex: index,
      lockIndex: old?.lockIndex ?? 0,
    });
    this.#tombstones.delete(key);
    this.#wake("kv", key);
    return index;
  }

  /** `DELETE /v1/kv/KEY` (`recurse`: every key under the prefix) in-process; returns the index after it. */
  delete(key: string, recurse = false): number {
    const gone = recurse ? [...this.#kv.keys()].filter((k) => k.startsWith(key)) : [key];
    if (!gone.some((k) => this.#kv.has(k))) return this.#index; // Consul: no table change, no new KV index
    const index = ++this.#index;
    this.#kvIndex = index;
    for (const k of gone) {
      if (!this.#kv.delete(k)) continue;
      this.#tombstones.set(k, index);
      this.#wake("kv", k);
    }
    return index;
  }

  /**
   * Moves the raft index back to `n`, as a restored snapshot does: entries (KV and catalog) keep their data with
   * indexes capped at `n`, tombstones are gone. Held queries keep waiting (their `index` is now ahead), as in Consul.
   */
  setIndex(n: number): void {
    this.#index = n;
    this.#kvIndex = Math.min(this.#kvIndex, n);
    const rows = [
      ...this.#kv.values(),
      ...this.#nodes.values(),
      ...this.#services.values(),
      ...this.#checks.values(),
    ];
    for (const e of rows) {
      e.createIndex = Math.min(e.createIndex, n);
      e.modifyIndex = Math.min(e.modifyIndex, n);
    }
    this.#tombstones.clear();
    for (const [k, i] of this.#serviceIndexes) this.#serviceIndexes.set(k, Math.min(i, n));
    this.#extinction = Math.min(this.#extinction, n);
    for (const t of ["nodes", "services", "checks"] as const)
      this.#tableIndexes[t] = Math.min(this.#tableIndexes[t], n);
  }

  /**
   * Registers (or updates) a service instance and its node, as `PUT /v1/catalog/register` does; returns the
   * write's index, or the current index when nothing changed (Consul skips identical registrations).
   */
  registerService(s: ServiceRegistration): number {
    return this.#register({
      node: s.node,
      address: s.nodeAddress,
      id: "",
      taggedAddresses: null,
      meta: {},
      skipNodeUpdate: false,
      service: {
        id: s.id ?? s.name,
        service: s.name,
        tags: s.tags ?? null,
        address: s.address ?? "",
        port: s.port,
        meta: s.meta ?? {},
      },
      checks: [],
    });
  }

  /** Removes one service instance and its checks (`PUT /v1/catalog/deregister` with ServiceID). */
  deregisterService(node: string, id: string): number {
    return this.#deregister(node, id, "");
  }

  /** Removes a node with all its services and checks (`PUT /v1/catalog/deregister` with only Node). */
  deregisterNode(node: string): number {
    return this.#deregister(node, "", "");
  }

  /**
   * Creates or updates a check of a registered node (and instance, with `serviceId`); throws ConsulWriteError
   * with Consul's words when the node or the instance is not registered.
   */
  setCheck(c: CheckRegistration): number {
    const node = this.#nodes.get(c.node);
    return this.#register({
      node: c.node,
      address: node?.address ?? "",
      id: "",
      taggedAddresses: null,
      meta: {},
      skipNodeUpdate: true,
      service: null,
      checks: [
        {
          node: c.node,
          checkId: c.id,
          name: c.name ?? c.id,
          status: c.status,
          notes: "",
          output: c.output ?? "",
          serviceId: c.serviceId ?? "",
        },
      ],
    });
  }

  /** Removes one check (`PUT /v1/catalog/deregister` with CheckID). */
  deregisterCheck(node: string, id: string): number {
    return this.#deregister(node, "", id);
  }

  /**
   * The X-Consul-Index of `GET /v1/catalog/service/<name>` (`health`: of `/v1/health/service/<name>`), as
   * Consul's state store computes it (agent/consul/state/catalog.go, maxIndexAndWatchChForService): not the
   * newest ModifyIndex among the entries — deregistering one of three instances or a check going critical must
   * move it, and no remaining entry carries that write's index — but a per-service entry of the index table,
   * raised by every write that changes an instance of the service, its checks, or its node (node checks
   * included), and dropped when the last instance goes. A service without instances answers at the index the
   * last instance of any service went away (`service_last_extinction`), else at the newest write to the
   * catalog tables (nodes, services, plus checks for health), at least 1. So the catalog endpoint also wakes
   * up for a check change, with the same body: "a blocking query's return is no guarantee of a change".
   */
  serviceIndex(name: string, health = false): number {
    const own = this.#serviceIndexes.get(name.toLowerCase());
    if (own !== undefined) return own;
    if (this.#extinction > 0) return this.#extinction;
    const t = this.#tableIndexes;
    return Math.max(1, t.nodes, t.services, health ? t.checks : 0);
  }

  /** The instances of a service (name compared without case, as Consul's index), in Consul's node, ID order. */
  #instances(lower: string): ServiceRow[] {
    return [...this.#services.values()]
      .filter((s) => s.service.toLowerCase() === lower)
      .sort((a, b) => compare(a.node, b.node) || compare(a.id, b.id));
  }

  /** Checks of an instance as the health endpoint lists them: the node's checks, then the instance's. */
  #checksOf(s: ServiceRow): CheckRow[] {
    const mine = [...this.#checks.values()].filter((c) => c.node === s.node);
    const byId = (a: CheckRow, b: CheckRow): number => compare(a.checkId, b.checkId);
    return [
      ...mine.filter((c) => c.serviceId === "").sort(byId),
      ...mine.filter((c) => c.serviceId === s.id).sort(byId),
    ];
  }

  #touchNode(tx: Tx, node: string): void {
    for (const s of this.#services.values()) if (s.node === node) tx.touched.add(s.service.toLowerCase());
  }

  /** Ends a write: a changed one takes its index, raises its tables' and services' indexes, wakes their queries. */
  #commit(tx: Tx): number {
    if (tx.tables.size === 0) return this.#index; // nothing changed: no new index (as KV's delete of nothing)
    this.#index = tx.idx;
    for (const t of tx.tables) this.#tableIndexes[t] = tx.idx;
    for (const name of tx.touched) {
      if (this.#instances(name).length > 0) this.#serviceIndexes.set(name, tx.idx);
      else if (this.#serviceIndexes.delete(name)) this.#extinction = tx.idx;
    }
    for (const name of tx.touched) this.#wake("service", name);
    return tx.idx;
  }

  /** Consul's catalog Register: node, service, checks, in one write, all refused when one part is invalid. */
  #register(reg: Registration): number {
    if (reg.node === "") throw new ConsulWriteError("Must provide node");
    if (reg.address === "" && !reg.skipNodeUpdate)
      throw new ConsulWriteError("Must provide address if SkipNodeUpdate is not set");
    if (reg.id !== "" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(reg.id))
      throw new ConsulWriteError(`Bad node ID: ${reg.id}`);
    if (reg.service && reg.service.service === "") throw new ConsulWriteError("Must provide service name");
    const nodeThere = !reg.skipNodeUpdate || this.#nodes.has(reg.node);
    if ((reg.service || reg.checks.length > 0) && !nodeThere)
      throw new ConsulWriteError("Missing node registration");
    for (const c of reg.checks) {
      if (c.checkId === "") throw new ConsulWriteError("Missing check ID");
      if (c.node !== reg.node) throw new ConsulWriteError(`Node mismatch: ${c.node} != ${reg.node}`);
      const known = reg.service?.id === c.serviceId || this.#services.has(rowKey(reg.node, c.serviceId));
      if (c.serviceId !== "" && !known) throw new ConsulWriteError("Missing service registration");
    }
    const tx: Tx = { idx: this.#index + 1, tables: new Set(), touched: new Set() };
    const old = this.#nodes.get(reg.node);
    if (!reg.skipNodeUpdate) {
      const id = reg.id || old?.id || nodeId(reg.node);
      const same =
        old &&
        old.id === id &&
        old.address === reg.address &&
        sameJson(old.taggedAddresses, reg.taggedAddresses) &&
        sameJson(old.meta, reg.meta);
      if (!same) {
        const { node, address, taggedAddresses, meta } = reg;
        const createIndex = old?.createIndex ?? tx.idx;
        this.#nodes.set(node, { id, node, address, taggedAddresses, meta, createIndex, modifyIndex: tx.idx });
        tx.tables.add("nodes");
        this.#touchNode(tx, node); // a node change concerns every service on it
      }
    }
    if (reg.service) {
      const key = rowKey(reg.node, reg.service.id);
      const was = this.#services.get(key);
      const next = { ...reg.service, node: reg.node };
      const fields = (r: typeof next): unknown[] => [r.service, r.tags, r.address, r.port, r.meta];
      if (!was || !sameJson(fields(was), fields(next))) {
        this.#services.set(key, { ...next, createIndex: was?.createIndex ?? tx.idx, modifyIndex: tx.idx });
        tx.tables.add("services");
        tx.touched.add(next.service.toLowerCase());
        if (was) tx.touched.add(was.service.toLowerCase());
      }
    }
    for (const c of reg.checks) {
      const key = rowKey(c.node, c.checkId);
      const was = this.#checks.get(key);
      const next = { ...c, status: c.status || "critical" }; // Consul's default status
      const same =
        was && (["name", "status", "notes", "output", "serviceId"] as const).every((f) => was[f] === next[f]);
      if (same) continue;
      this.#checks.set(key, { ...next, createIndex: was?.createIndex ?? tx.idx, modifyIndex: tx.idx });
      tx.tables.add("checks");
      // A check moved from one instance to another (or to the node) concerns both.
      if (was && was.serviceId !== next.serviceId) this.#touchCheck(tx, c.node, was.serviceId);
      this.#touchCheck(tx, c.node, next.serviceId);
    }
    return this.#commit(tx);
  }

  /** A check change concerns its service, or every service of the node for a node check. */
  #touchCheck(tx: Tx, node: string, serviceId: string): void {
    if (serviceId === "") return this.#touchNode(tx, node);
    const s = this.#services.get(rowKey(node, serviceId));
    if (s) tx.touched.add(s.service.toLowerCase());
  }

  /** Consul's catalog Deregister: a service (with its checks) when `serviceId`, else a check, else the node. */
  #deregister(node: string, serviceId: string, checkId: string): number {
    if (node === "") throw new ConsulWriteError("Must provide node");
    const tx: Tx = { idx: this.#index + 1, tables: new Set(), touched: new Set() };
    if (serviceId !== "") this.#dropService(tx, node, serviceId);
    else if (checkId !== "") {
      const c = this.#checks.get(rowKey(node, checkId));
      if (c) {
        this.#touchCheck(tx, node, c.serviceId);
        this.#checks.delete(rowKey(node, checkId));
        tx.tables.add("checks");
      }
    } else if (this.#nodes.has(node)) {
      for (const s of [...this.#services.values()]) if (s.node === node) this.#dropService(tx, node, s.id);
      for (const [k, c] of this.#checks)
        if (c.node === node) {
          this.#checks.delete(k);
          tx.tables.add("checks");
        }
      this.#nodes.delete(node);
      tx.tables.add("nodes");
    }
    return this.#commit(tx);
  }

  #dropService(tx: Tx, node: string, id: string): void {
    const s = this.#services.get(rowKey(node, id));
    if (!s) return; // Consul: deleting what is not there changes nothing
    this.#services.delete(rowKey(node, id));
    for (const [k, c] of this.#checks)
      if (c.node === node && c.serviceId === id) {
        this.#checks.delete(k);
        tx.tables.add("checks");
      }
    tx.tables.add("services");
    tx.touched.add(s.service.toLowerCase());
  }

  /** Drops the tombstones, as Consul's graveyard reaping does: a list whose newest write was a delete goes back. */
  reapTombstones(): void {
    this.#tombstones.clear();
  }

  /** Index of a list under `prefix`: newest entry or tombstone there, else the KV table's (Consul's kvsList). */
  #listIndex(prefix: string): number {
    let idx = 0;
    for (const e of this.#kv.values()) if (e.key.startsWith(prefix)) idx = Math.max(idx, e.modifyIndex);
    for (const [k, i] of this.#tombstones) if (k.startsWith(prefix)) idx = Math.max(idx, i);
    return idx === 0 ? this.#kvIndex : idx;
  }

  #wake(table: "kv" | "service", key: string): void {
    for (const w of [...this.#waiters]) if (w.concerns(table, key)) w.recheck();
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
      return this.#readService(kind, decodeURIComponent(path.slice(prefix.length)), q, res);
    }
    if (path === "/v1/catalog/register" || path === "/v1/catalog/deregister") {
      if (seen.method !== "PUT") return void res.writeHead(405, { Allow: "PUT" }).end();
      return this.#catalogWrite(path.endsWith("/register"), seen.body, res);
    }
    if (!path.startsWith("/v1/kv")) return text(res, 404, "");
    const key = decodeURIComponent(url.pathname.slice("/v1/kv".length).replace(/^\//, ""));
    if (seen.method === "PUT") return this.#put(key, q, seen.body, res);
    if (seen.method === "DELETE") return this.#delete(key, q, res);
    if (seen.method === "GET") return this.#read(key, q, res);
    res.writeHead(405, { Allow: "GET, PUT, DELETE" }).end();
  }

  #put(key: string, q: URLSearchParams, body: Buffer, res: ServerResponse): void {
    if (key === "") return text(res, 400, "Missing key name");
    if (body.length > MAX_VALUE)
      return text(res, 413, `Request body(${body.length} bytes) too large, max size: ${MAX_VALUE} bytes`);
    const cas = q.get("cas");
    if (cas !== null && Number(cas) !== (this.#kv.get(key)?.modifyIndex ?? 0)) return json(res, 200, false);
    this.put(key, body, Number(q.get("flags") ?? 0));
    json(res, 200, true);
  }

  #delete(key: string, q: URLSearchParams, res: ServerResponse): void {
    const recurse = q.has("recurse");
    if (key === "" && !recurse) return text(res, 400, "Missing key name");
    const cas = q.get("cas");
    if (cas !== null && !recurse && Number(cas) !== (this.#kv.get(key)?.modifyIndex ?? 0))
      return json(res, 200, false);
    this.delete(key, recurse);
    json(res, 200, true);
  }

  #read(key: string, q: URLSearchParams, res: ServerResponse): void {
    const keys = q.has("keys");
    const recurse = q.has("recurse") || keys;
    if (key === "" && !recurse) return text(res, 400, "Missing key name");
    const blocking = this.#blockingParams(q, res);
    if (!blocking) return;
    // A single key reads at the KV table index (Consul's kvsGet); lists at their prefix's index.
    const indexNow = (): number => (recurse ? this.#listIndex(key) : this.#kvIndex);
    const answer = (): void => {
      const idx = Math.max(indexNow(), 1);
      const found = [...this.#kv.values()]
        .filter((e) => (recurse ? e.key.startsWith(key) : e.key === key))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const head = consulHead(idx);
      if (keys) {
        const sep = q.get("separator") ?? q.get("seperator") ?? "";
        const list = new Set<string>();
        for (const e of found) {
          const at = sep === "" ? -1 : e.key.indexOf(sep, key.length);
          list.add(at < 0 ? e.key : e.key.slice(0, at + sep.length));
        }
        // Consul answers 404 for an empty key list, except at the root (an empty array there).
        if (list.size === 0 && key !== "") return void res.writeHead(404, head).end();
        return json(res, 200, [...list], head);
      }
      if (found.length === 0) return void res.writeHead(404, head).end();
      if (!recurse && q.has("raw")) return void res.writeHead(200, head).end(found[0]?.value ?? "");
      json(res, 200, found.map(dirEntry), head);
    };
    const concerns = (table: string, k: string): boolean =>
      table === "kv" && (recurse ? k.startsWith(key) : k === key);
    this.#hold(blocking, res, concerns, indexNow, answer);
  }

  /** `index` and `wait` of a query (Consul's parseWait), or null after answering 400. */
  #blockingParams(q: URLSearchParams, res: ServerResponse): { minIndex: number; wait: number } | null {
    const minIndex = q.has("index") ? Number(q.get("index")) : 0;
    if (!Number.isSafeInteger(minIndex) || minIndex < 0) {
      text(res, 400, "Invalid index");
      return null;
    }
    let wait = DEFAULT_WAIT;
    if (q.has("wait")) {
      const w = parseGoDuration(q.get("wait") ?? "");
      if (w === null) {
        text(res, 400, "Invalid wait time");
        return null;
      }
      wait = Math.min(w, MAX_WAIT);
    }
    return { minIndex, wait };
  }

  /**
   * A blocking query: answers at once when `minIndex` is 0 (never block on 0) or the resource's index already
   * moved past it; else holds the request until a write that `concerns` it moves the index past `minIndex`, or
   * until `wait` plus up to wait/16 of jitter runs out, and then answers at the index of that moment.
   */
  #hold(
    p: { minIndex: number; wait: number },
    res: ServerResponse,
    concerns: Waiter["concerns"],
    indexNow: () => number,
    answer: () => void,
  ): void {
    if (p.minIndex === 0 || indexNow() > p.minIndex) return answer();
    const waiter: Waiter = {
      concerns,
      recheck: () => {
        if (indexNow() > p.minIndex) done();
      },
    };
    const timer = setTimeout(() => done(), p.wait + Math.floor(this.#random() * (p.wait / 16)));
    const done = (): void => {
      clearTimeout(timer);
      if (!this.#waiters.delete(waiter)) return;
      answer();
    };
    this.#waiters.add(waiter);
    res.on("close", () => {
      clearTimeout(timer);
      this.#waiters.delete(waiter);
    });
  }

  /**
   * `GET /v1/catalog/service/:service` and `GET /v1/health/service/:service`: every instance (a tag filter
   * `?tag=` per tag, ANDed, case-insensitive; health's `?passing` drops instances with a non-passing check), an
   * unknown service is 200 `[]`; X-Consul-Index is serviceIndex(). A held query wakes only for writes to its
   * service (Consul may also return early on unrelated writes — allowed by its blocking contract — the double
   * never does, so tests stay exact).
   */
  #readService(kind: "catalog" | "health", name: string, q: URLSearchParams, res: ServerResponse): void {
    const blocking = this.#blockingParams(q, res);
    if (!blocking) return;
    const passingText = q.get("passing");
    const passing = kind === "health" && passingText !== null && goBool(passingText || "true");
    if (passing === null) return text(res, 400, "Invalid value for ?passing");
    if (name === "") return text(res, 400, "Missing service name");
    const lower = name.toLowerCase();
    const tags = q.getAll("tag").map((t) => t.toLowerCase());
    const indexNow = (): number => this.serviceIndex(lower, kind === "health");
    const answer = (): void => {
      const rows = this.#instances(lower).filter((s) =>
        tags.every((t) => (s.tags ?? []).some((x) => x.toLowerCase() === t)),
      );
      const head = consulHead(indexNow());
      if (kind === "catalog")
        return json(
          res,
          200,
          rows.map((s) => catalogEntry(this.#node(s), s)),
          head,
        );
      let entries = rows.map((s) => ({ s, checks: this.#checksOf(s) }));
      if (passing) entries = onlyPassing(entries);
      const body = entries.map(({ s, checks }) => healthEntry(this.#node(s), s, checks));
      json(res, 200, body, head);
    };
    const concerns = (table: string, k: string): boolean => table === "service" && k === lower;
    this.#hold(blocking, res, concerns, indexNow, answer);
  }

  #node(s: ServiceRow): NodeRow {
    const n = this.#nodes.get(s.node);
    if (!n) throw new Error(`consul double: service ${s.id} on a missing node ${s.node}`);
    return n;
  }

  /** `PUT /v1/catalog/register` and `PUT /v1/catalog/deregister`: `true`, 400 for bad JSON, 500 when refused. */
  #catalogWrite(register: boolean, body: Buffer, res: ServerResponse): void {
    let root: unknown;
    try {
      root = JSON.parse(body.toString("utf8"));
    } catch (err) {
      return text(res, 400, `Request decode failed: ${String(err)}`);
    }
    try {
      const o = asObject(root);
      if (register) this.#register(registration(o));
      else this.#deregister(str(o, "Node"), str(o, "ServiceID"), str(o, "CheckID"));
    } catch (err) {
      if (err instanceof DecodeError) return text(res, 400, `Request decode failed: ${err.message}`);
      if (err instanceof ConsulWriteError) return text(res, 500, err.message);
      throw err;
    }
    json(res, 200, true);
  }
}

/** Starts a Consul double on 127.0.0.1, port 0. */
export async function startConsulDouble(opts: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
  const c = new ConsulDouble(opts);
  await c.start();
  return c;
}

function dirEntry(e: KvEntry): Record<string, unknown> {
  return {
    LockIndex: e.lockIndex,
    Key: e.key,
    Flags: e.flags,
    Value: e.value === null ? null : e.value.toString("base64"),
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex,
  };
}

/** The head of every read that supports blocking. */
function consulHead(index: number): Record<string, string> {
  return {
    "X-Consul-Index": String(index),
    "X-Consul-Knownleader": "true",
    "X-Consul-Lastcontact": "0",
  };
}

const DC = "dc1";
const rowKey = (node: string, id: string): string => `${node}\u0000${id}`;
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** A node ID made from its name (a registration without ID gets a stable one, so answers are exact). */
function nodeId(node: string): string {
  const h = createHash("sha256").update(node).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Go's strconv.ParseBool (what Consul reads `?passing=` with); null when invalid. */
function goBool(v: string): boolean | null {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  return null;
}

/**
 * Consul's filterNonPassing (agent/health_endpoint.go): an instance with any non-passing check is swapped with
 * the last one kept, so the order of the rest can change, as in Consul.
 */
function onlyPassing<T extends { checks: CheckRow[] }>(entries: T[]): T[] {
  const out = [...entries];
  let n = out.length;
  for (let i = 0; i < n; i++) {
    if (out[i]!.checks.every((c) => c.status === "passing")) continue;
    out[i] = out[n - 1]!;
    n--;
    i--;
  }
  return out.slice(0, n);
}

/** One element of `GET /v1/catalog/service/:service` (Consul's api.CatalogService). */
function catalogEntry(n: NodeRow, s: ServiceRow): Record<string, unknown> {
  return {
    ID: n.id,
    Node: n.node,
    Address: n.address,
    Datacenter: DC,
    TaggedAddresses: n.taggedAddresses,
    NodeMeta: n.meta,
    ServiceKind: "",
    ServiceID: s.id,
    ServiceName: s.service,
    ServiceTags: s.tags ?? [], // the catalog endpoint turns nil tags into []
    ServiceAddress: s.address,
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceMeta: s.meta,
    ServicePort: s.port,
    ServiceEnableTagOverride: false,
    ServiceProxy: { MeshGateway: {}, Expose: {} },
    ServiceConnect: {},
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  };
}

/** One element of `GET /v1/health/service/:service` (Consul's api.ServiceEntry); Checks is never null. */
function healthEntry(n: NodeRow, s: ServiceRow, checks: CheckRow[]): Record<string, unknown> {
  return {
    Node: {
      ID: n.id,
      Node: n.node,
      Address: n.address,
      Datacenter: DC,
      TaggedAddresses: n.taggedAddresses,
      Meta: n.meta,
      CreateIndex: n.createIndex,
      ModifyIndex: n.modifyIndex,
    },
    Service: {
      ID: s.id,
      Service: s.service,
      Tags: s.tags,
      Address: s.address,
      Meta: s.meta,
      Port: s.port,
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
      Proxy: { MeshGateway: {}, Expose: {} },
      Connect: {},
      CreateIndex: s.createIndex,
      ModifyIndex: s.modifyIndex,
    },
    Checks: checks.map((c) => ({
      Node: c.node,
      CheckID: c.checkId,
      Name: c.name,
      Status: c.status,
      Notes: c.notes,
      Output: c.output,
      ServiceID: c.serviceId,
      ServiceName: c.serviceId === "" ? "" : s.service,
      ServiceTags: c.serviceId === "" ? [] : (s.tags ?? []),
      Type: "",
      Definition: {},
      CreateIndex: c.createIndex,
      ModifyIndex: c.modifyIndex,
    })),
  };
}

/** A JSON body Go's decoder refuses (a field of the wrong type): Consul's 400 "Request decode failed". */
class DecodeError extends Error {}

function asObject(v: unknown): Record<string, unknown> {
  if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new DecodeError("json: cannot unmarshal into an object");
}

/** A member as Go's encoding/json finds it: the exact name, else one that differs only in case. */
function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  const k = Object.keys(o).find((x) => x.toLowerCase() === lower);
  return k === undefined ? undefined : o[k];
}

function str(o: Record<string, unknown>, name: string): string {
  const v = field(o, name);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string")
    throw new DecodeError(`json: cannot unmarshal into field ${name} of type string`);
  return v;
}

function strMap(v: unknown, name: string): Record<string, string> | null {
  if (v === undefined || v === null) return null;
  const o = asObject(v);
  for (const x of Object.values(o))
    if (typeof x !== "string")
      throw new DecodeError(`json: cannot unmarshal into field ${name} of type string`);
  return o as Record<string, string>;
}

/** `PUT /v1/catalog/register`'s body (Consul's RegisterRequest): Check and Checks are one list. */
function registration(o: Record<string, unknown>): Registration {
  const node = str(o, "Node");
  const raw = field(o, "Service");
  let service: Registration["service"] = null;
  if (raw !== undefined && raw !== null) {
    const svc = asObject(raw);
    const name = str(svc, "Service");
    const port = field(svc, "Port") ?? 0;
    const tags = field(svc, "Tags") ?? null;
    if (typeof port !== "number" || !Number.isInteger(port))
      throw new DecodeError("json: cannot unmarshal into field Service.Port of type int");
    if (tags !== null && !(Array.isArray(tags) && tags.every((t) => typeof t === "string")))
      throw new DecodeError("json: cannot unmarshal into field Service.Tags of type []string");
    service = {
      id: str(svc, "ID") || name, // Consul: the ID defaults to the name
      service: name,
      tags,
      address: str(svc, "Address"),
      port,
      meta: strMap(field(svc, "Meta"), "Service.Meta") ?? {},
    };
  }
  const list = field(o, "Checks") ?? [];
  if (!Array.isArray(list)) throw new DecodeError("json: cannot unmarshal into field Checks of type []");
  const one = field(o, "Check");
  const checks = [...(one === undefined || one === null ? [] : [one]), ...(list as unknown[])].map((v) => {
    const c = asObject(v);
    const name = str(c, "Name");
    return {
      node: str(c, "Node") || node,
      checkId: str(c, "CheckID") || name, // Consul: the ID defaults to the name
      name,
      status: str(c, "Status"),
      notes: str(c, "Notes"),
      output: str(c, "Output"),
      serviceId: str(c, "ServiceID"),
    };
  });
  return {
    node,
    address: str(o, "Address"),
    id: str(o, "ID"),
    taggedAddresses: strMap(field(o, "TaggedAddresses"), "TaggedAddresses"),
    meta: strMap(field(o, "NodeMeta"), "NodeMeta") ?? {},
    skipNodeUpdate: field(o, "SkipNodeUpdate") === true,
    service,
    checks,
  };
}

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? (v[0] ?? "") : (v ?? "");
}

function json(res: ServerResponse, status: number, body: unknown, head: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...head, "Content-Type": "application/json", "Content-Length": bytes.length });
  res.end(bytes);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

function inject(what: Exclude<Injected, undefined>, req: IncomingMessage, res: ServerResponse): void {
  if ("hang" in what) return;
  if ("destroy" in what) return void req.socket.destroy();
  const head: Record<string, string | number> = { ...what.headers };
  if (what.stream) {
    res.writeHead(what.status ?? 200, head);
    const { chunk, count } = what.stream;
    let left = count;
    const pump = (): void => {
      while (left > 0 && !res.destroyed) {
        left--;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      if (left === 0) res.end();
    };
    return pump();
  }
  const body = what.body === undefined ? Buffer.alloc(0) : Buffer.from(what.body);
  res.writeHead(what.status ?? 200, { ...head, "Content-Length": body.length });
  res.end(body);
}
