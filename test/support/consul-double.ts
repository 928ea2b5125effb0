/**
 * A Consul agent double for tests (DESIGN §5): the KV part of Consul's documented HTTP API, on 127.0.0.1, port 0.
 * Follows https://developer.hashicorp.com/consul/api-docs/kv and .../features/blocking: keys sorted, base64 `Value`
 * (null when empty), 404 with `X-Consul-Index` when nothing matches, `?recurse`, `?keys` (+ `separator`), `?raw`,
 * blocking queries (`index`, `wait` up to 10 min, default 5 min, plus up to wait/16 of jitter), one raft-like index
 * raised by every write, tombstones for deleted keys (so a list's index never drops until they are reaped), and
 * ACL tokens (`X-Consul-Token`, `Authorization: Bearer`, `?token=`). Test controls: stop()/start() on the same port,
 * setIndex() and reapTombstones() to move the index backwards, respondWith() to inject faults.
 * Production code must never import this file.
 */
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

interface Waiter {
  /** Whether a write to `key` concerns this query. */
  concerns(key: string): boolean;
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
  readonly #kv = new Map<string, KvEntry>();
  /** Deleted keys → the index of their deletion (Consul's KV graveyard). */
  readonly #tombstones = new Map<string, number>();
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
    this.#wake(key);
    return index;
  }

  /** `DELETE /v1/kv/KEY` (`recurse`: every key under the prefix) in-process; returns the index after it. */
  delete(key: string, recurse = false): number {
    const gone = recurse ? [...this.#kv.keys()].filter((k) => k.startsWith(key)) : [key];
    if (!gone.some((k) => this.#kv.has(k))) return this.#index; // Consul: no table change, no new KV index
    const index = ++this.#index;
    for (const k of gone) {
      if (!this.#kv.delete(k)) continue;
      this.#tombstones.set(k, index);
      this.#wake(k);
    }
    return index;
  }

  /**
   * Moves the raft index back to `n`, as a restored snapshot does: entries keep their data with indexes capped at
   * `n`, tombstones are gone. Held queries keep waiting (their `index` is now ahead), as in Consul.
   */
  setIndex(n: number): void {
    this.#index = n;
    for (const e of this.#kv.values()) {
      e.createIndex = Math.min(e.createIndex, n);
      e.modifyIndex = Math.min(e.modifyIndex, n);
    }
    this.#tombstones.clear();
  }

  /** Drops the tombstones, as Consul's graveyard reaping does: a list whose newest write was a delete goes back. */
  reapTombstones(): void {
    this.#tombstones.clear();
  }

  /** Index of a list under `prefix`: newest entry or tombstone there, else the whole table's (Consul's kvsList). */
  #listIndex(prefix: string): number {
    let idx = 0;
    for (const e of this.#kv.values()) if (e.key.startsWith(prefix)) idx = Math.max(idx, e.modifyIndex);
    for (const [k, i] of this.#tombstones) if (k.startsWith(prefix)) idx = Math.max(idx, i);
    return idx === 0 ? this.#index : idx;
  }

  #wake(key: string): void {
    for (const w of [...this.#waiters]) if (w.concerns(key)) w.recheck();
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
    if (!url.pathname.startsWith("/v1/kv")) return text(res, 404, "");
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
    const minIndex = q.has("index") ? Number(q.get("index")) : 0;
    if (!Number.isSafeInteger(minIndex) || minIndex < 0) return text(res, 400, "Invalid index");
    let wait = DEFAULT_WAIT;
    if (q.has("wait")) {
      const w = parseGoDuration(q.get("wait") ?? "");
      if (w === null) return text(res, 400, "Invalid wait time");
      wait = Math.min(w, MAX_WAIT);
    }
    // A single key reads at the table index (Consul's kvsGet); lists at their prefix's index.
    const indexNow = (): number => (recurse ? this.#listIndex(key) : this.#index);
    const answer = (): void => {
      const idx = Math.max(indexNow(), 1);
      const found = [...this.#kv.values()]
        .filter((e) => (recurse ? e.key.startsWith(key) : e.key === key))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const head = {
        "X-Consul-Index": String(idx),
        "X-Consul-Knownleader": "true",
        "X-Consul-Lastcontact": "0",
      };
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
    // Blocking only when `index` > 0; it returns at once when the index already moved past it.
    if (minIndex === 0 || indexNow() > minIndex) return answer();
    const waiter: Waiter = {
      concerns: (k) => (recurse ? k.startsWith(key) : k === key),
      recheck: () => {
        if (indexNow() > minIndex) done();
      },
    };
    const timer = setTimeout(() => done(), wait + Math.floor(this.#random() * (wait / 16)));
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
