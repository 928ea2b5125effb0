/**
 * The `api [write=on]` location handler (issue 6 item 2), shaped like version 9 of the NGINX Plus API
 * (https://nginx.org/en/docs/http/ngx_http_api_module.html), upstream part only. Under the location:
 *
 *   GET                 /                                      [1,...,9]
 *   GET                 /9/  and  /9/http/                     ["http"], ["upstreams"]
 *   GET                 /9/http/upstreams[/NAME]               state of every (or one) upstream and its peers
 *   GET|POST            /9/http/upstreams/NAME/servers         settings of the servers; add one (201)
 *   GET|PATCH|DELETE    /9/http/upstreams/NAME/servers/ID      settings of one; change (200); remove (200, the rest)
 *
 * ID is the peer's serial (the check_status index). Writes need `write=on` (else 405 MethodDisabled). Attribute
 * writes go where the upstream's servers come from (api-store.ts) — for a registry, the answer waits until the change
 * is back from it, 202 when that takes longer than applyWait(); `drain` is local to this instance and is only
 * cleared by `drain: false` or the server leaving. Nothing here ever leaves an upstream without a primary server.
 * Errors are NGINX Plus's error document with its codes where it has one.
 */
import type { CheckedServer } from "../check/checker.js";
import type { ServerSpec, UpstreamConf } from "../config/types.js";
import type { RegistryRunner } from "../discovery/runner.js";
import type { LogLevel } from "../lib/errors.js";
import type { ShowResponse } from "../status/upstream-show.js";
import type { Peer } from "../upstream/peer.js";
import type { Upstream } from "../upstream/upstream.js";
import { parseServerBody } from "./api-input.js";
import {
  API_VERSION,
  type ApiError,
  errorJson,
  peerConfJson,
  serverConfJson,
  upstreamJson,
  type UpstreamJson,
} from "./api-json.js";
import { memoryStore, type ServerStore } from "./api-store.js";
import { registryStore, sameAttributes } from "./api-store-registry.js";
import type { registryWriter } from "./registry-writer.js";
import { ControlError } from "./types.js";

/** What the handler reads from the request. */
export interface ApiRequest {
  /** GET for HEAD. */
  method: string;
  /** The path below the API's location (`9/http/upstreams/backend/servers`). */
  path: string;
  /** The request body (read whole before the call), or null. */
  body: Buffer | null;
  /** $request_id, echoed in error documents. */
  requestId: string;
}

/** What the API needs from the running proxy. */
export interface AdminApiOptions {
  /** The configured upstreams, in declaration order (implicit ones of `proxy_pass ADDRESS` are not shown). */
  upstreams(): readonly Upstream[];
  registry(): RegistryRunner | null;
  /** Every actively checked server. */
  health(): readonly CheckedServer[];
  now(): number;
  log(level: LogLevel, message: string): void;
  writer: typeof registryWriter;
  /** How long a registry write may take to come back before the answer is 202 (applyWait by default; tests). */
  waitMs?: (conf: UpstreamConf) => number;
}

/** The longest the API waits for its registry write to come back, ms. */
const WAIT_MAX = 10_000;

/** nginx refuses `backup` with these balancers (and syncgate's sync serves such servers as primary ones). */
const NO_BACKUP = new Set(["ip_hash", "hash", "random"]);

class Failure extends Error {
  constructor(readonly e: ApiError) {
    super(e.text);
  }
}

const fail = (status: number, code: string, text: string): Failure => new Failure({ status, code, text });

type Handler = () => Promise<{ status: number; doc: unknown }> | { status: number; doc: unknown };

/** How long to wait for a registry write to come back: two sync intervals and a second, 3 s to 10 s. */
export function applyWait(conf: UpstreamConf): number {
  const interval = conf.upsync?.interval ?? 0;
  return Math.min(WAIT_MAX, Math.max(3000, 2 * interval + 1000));
}

/** The admin API of one running configuration. */
export class AdminApi {
  readonly #opts: AdminApiOptions;
  readonly #stores = new Map<Upstream, ServerStore>();

  constructor(opts: AdminApiOptions) {
    this.#opts = opts;
  }

  /** Answers one request; never rejects for a request's fault (those are error documents). */
  async handle(write: boolean, req: ApiRequest): Promise<ShowResponse> {
    try {
      const { status, doc } = await this.#route(write, req);
      return json(status, doc);
    } catch (err) {
      if (err instanceof Failure) return json(err.e.status, errorJson(err.e, req.requestId));
      if (err instanceof ControlError) {
        const e = { status: err.status, code: err.code, text: err.message };
        return json(e.status, errorJson(e, req.requestId));
      }
      throw err;
    }
  }

  #route(write: boolean, req: ApiRequest): Promise<{ status: number; doc: unknown }> {
    const seg = req.path.split("/").filter((s) => s !== "");
    /** A document that only GET reads. */
    const read = (doc: () => unknown) => allow(req, write, { GET: () => ({ status: 200, doc: doc() }) });
    if (seg.length === 0) return read(() => Array.from({ length: API_VERSION }, (_, i) => i + 1));
    if (!/^[1-9]$/.test(seg[0]!)) throw fail(404, "UnknownVersion", "unknown version");
    if (seg.length === 1) return read(() => ["http"]);
    if (seg[1] !== "http") throw notFound();
    if (seg.length === 2) return read(() => ["upstreams"]);
    if (seg[2] !== "upstreams") throw notFound();
    if (seg.length === 3) return read(() => this.#all());
    const name = seg[3]!;
    const upstream = (): Upstream => this.#upstream(name);
    if (seg.length === 4) return read(() => this.#one(upstream()));
    if (seg[4] !== "servers" || seg.length > 6) throw notFound();
    if (seg.length === 5) {
      return allow(req, write, {
        GET: () => ({ status: 200, doc: upstream().group.all().map(peerConfJson) }),
        POST: () => this.#add(upstream(), req),
      });
    }
    const id = seg[5]!;
    return allow(req, write, {
      GET: () => ({ status: 200, doc: peerConfJson(this.#peer(upstream(), id)) }),
      PATCH: () => this.#patch(upstream(), this.#peer(upstream(), id), req),
      DELETE: () => this.#remove(upstream(), this.#peer(upstream(), id)),
    });
  }

  #all(): Record<string, UpstreamJson> {
    const out: Record<string, UpstreamJson> = {};
    for (const u of this.#opts.upstreams()) out[u.conf.name] = this.#one(u);
    return out;
  }

  #one(u: Upstream): UpstreamJson {
    const health = new Map<string, CheckedServer>();
    for (const h of this.#opts.health()) if (h.upstream === u.conf.name) health.set(h.name, h);
    return upstreamJson(u, this.#opts.now(), health);
  }

  #upstream(name: string): Upstream {
    const u = this.#opts.upstreams().find((x) => x.conf.name === name);
    if (!u) throw fail(404, "UpstreamNotFound", `upstream not found: "${name}"`);
    return u;
  }

  #peer(u: Upstream, id: string): Peer {
    if (!/^\d{1,15}$/.test(id)) throw fail(400, "UpstreamBadServerId", `invalid server id "${id}"`);
    const peer = u.group.all().find((p) => p.serial === Number(id));
    if (!peer) throw fail(404, "UpstreamServerNotFound", `server with ID "${id}" does not exist`);
    return peer;
  }

  #wait(u: Upstream): number {
    return (this.#opts.waitMs ?? applyWait)(u.conf);
  }

  /** The store of `u`; ControlError `ReadOnlySource` (409) for a catalog upstream. */
  #store(u: Upstream): ServerStore {
    let s = this.#stores.get(u);
    if (s) return s;
    const up = u.conf.upsync;
    const name = u.conf.name;
    if (up === null) s = memoryStore(u, () => this.#opts.now());
    else {
      const token = this.#opts.registry()?.token(name) ?? null;
      s = registryStore(this.#opts.writer(up, token, { upstream: name }), u, this.#wait(u));
    }
    this.#stores.set(u, s);
    return s;
  }

  async #add(u: Upstream, req: ApiRequest): Promise<{ status: number; doc: unknown }> {
    const change = parseServerBody(req.body, { kind: "post" });
    if ("code" in change) throw new Failure(change);
    const a = change.address!;
    if (change.backup) noBackup(u);
    const store = this.#store(u);
    if (await store.has(a.address)) {
      throw fail(409, "EntryExists", `server "${a.address}" exists in upstream "${u.conf.name}"`);
    }
    const d = store.defaults;
    const spec: ServerSpec = {
      address: a.address,
      host: a.host,
      port: a.port,
      weight: change.weight ?? d.weight,
      maxFails: change.maxFails ?? d.maxFails,
      failTimeout: change.failTimeout ?? d.failTimeout,
      maxConns: 0,
      backup: change.backup ?? false,
      down: change.down ?? false,
      slowStart: 0,
      origin: { file: null, line: 0 },
    };
    const outcome = await this.#write(u, store, `added server ${a.address}`, () => store.put(spec));
    const peer = u.group.get(a.address);
    if (outcome === "applied" && peer) return { status: 201, doc: peerConfJson(peer) };
    return { status: 202, doc: serverConfJson(spec, null, false) };
  }

  async #patch(u: Upstream, peer: Peer, req: ApiRequest): Promise<{ status: number; doc: unknown }> {
    const old = peer.spec;
    const change = parseServerBody(req.body, { kind: "patch", id: peer.serial, spec: old });
    if ("code" in change) throw new Failure(change);
    const spec: ServerSpec = {
      ...old,
      weight: change.weight ?? old.weight,
      maxFails: change.maxFails ?? old.maxFails,
      failTimeout: change.failTimeout ?? old.failTimeout,
      backup: change.backup ?? old.backup,
      down: change.down ?? old.down,
    };
    let status = 200;
    if (!sameAttributes(spec, old)) {
      if (spec.backup && !old.backup) {
        noBackup(u);
        lastPrimary(u, peer, "made a backup server");
      }
      const store = this.#store(u);
      const outcome = await this.#write(u, store, `changed server ${old.address}`, () => store.put(spec));
      if (outcome === "pending") status = 202;
    }
    if (change.drain !== undefined && change.drain !== peer.draining) {
      peer.setDraining(change.drain, this.#opts.now());
      this.#opts.log(
        "notice",
        `api: upstream "${u.conf.name}": server ${old.address} ${change.drain ? "drains" : "no longer drains"}`,
      );
    }
    const doc = status === 200 ? peerConfJson(peer) : serverConfJson(spec, peer.serial, peer.draining);
    return { status, doc };
  }

  async #remove(u: Upstream, peer: Peer): Promise<{ status: number; doc: unknown }> {
    lastPrimary(u, peer, "removed");
    const store = this.#store(u);
    const outcome = await this.#write(u, store, `removed server ${peer.id}`, () => store.remove(peer.id));
    const rest = outcome === "applied" ? u.group.all() : u.group.all().filter((p) => p !== peer);
    return { status: outcome === "applied" ? 200 : 202, doc: rest.map(peerConfJson) };
  }

  /** Runs one store write with its log lines: done, still pending, or failed (then rethrown). */
  async #write(u: Upstream, store: ServerStore, what: string, fn: () => Promise<"applied" | "pending">) {
    const name = u.conf.name;
    const where = store.source === "memory" ? "in memory" : `in ${store.source}`;
    try {
      const outcome = await fn();
      if (outcome === "applied") this.#opts.log("notice", `api: upstream "${name}": ${what} ${where}`);
      else {
        this.#opts.log(
          "warn",
          `api: upstream "${name}": ${what} ${where}, not back from the registry within ` +
            `${this.#wait(u)} ms: it applies when the registry's update arrives`,
        );
      }
      return outcome;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.#opts.log("error", `api: upstream "${name}": ${what} ${where} failed: ${why}`);
      throw err;
    }
  }
}

function notFound(): Failure {
  return fail(404, "PathNotFound", "path not found");
}

/** Runs the handler of the request's method: 405 MethodNotSupported when there is none, MethodDisabled for a write. */
async function allow(
  req: ApiRequest,
  write: boolean,
  handlers: Record<string, Handler>,
): Promise<{ status: number; doc: unknown }> {
  const h = handlers[req.method];
  if (!h) throw fail(405, "MethodNotSupported", `method not supported: ${req.method}`);
  if (req.method !== "GET" && !write) {
    throw fail(
      405,
      "MethodDisabled",
      `method disabled: this API is read-only ("api write=on" allows changes)`,
    );
  }
  return h();
}

/** 400 UpstreamNoBackup when the upstream's balancer takes no backup servers. */
function noBackup(u: Upstream): void {
  const m = u.conf.balancer.method;
  if (NO_BACKUP.has(m)) {
    throw fail(
      400,
      "UpstreamNoBackup",
      `upstream "${u.conf.name}" has no backup servers: balancing method "${m}" does not support them`,
    );
  }
}

/** 409 UpstreamLastServer when `peer` is the upstream's last primary server (issue 6: never empty an upstream). */
function lastPrimary(u: Upstream, peer: Peer, what: string): void {
  if (peer.spec.backup) return;
  if (u.group.all().some((p) => p !== peer && !p.spec.backup)) return;
  throw fail(
    409,
    "UpstreamLastServer",
    `server "${peer.id}" is the last primary server of upstream "${u.conf.name}" and cannot be ${what}: ` +
      `syncgate never leaves an upstream without one`,
  );
}

function json(status: number, doc: unknown): ShowResponse {
  const body = JSON.stringify(doc);
  return {
    status,
    headers: ["Content-Type", "application/json", "Content-Length", String(Buffer.byteLength(body))],
    body,
  };
}
