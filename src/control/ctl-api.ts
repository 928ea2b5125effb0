/**
 * `syncgate ctl`'s client of a running syncgate's admin API (the `api` location handler, shaped like version 9
 * of the NGINX Plus API: https://nginx.org/en/docs/http/ngx_http_api_module.html). Every request is bounded in
 * time; every failure is a ControlError whose message names the API by its URL (never carrying credentials) and
 * never the credentials themselves.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { errnoText } from "../lib/errors.js";
import { ControlError } from "./types.js";

/** The API version ctl speaks (NGINX Plus API v9). */
export const API_VERSION = 9;

/** Health-check counters of a peer (NGINX Plus `health_checks`). */
export interface ApiHealthChecks {
  checks?: number;
  fails?: number;
  unhealthy?: number;
  last_passed?: boolean;
}

/** One peer of `GET /9/http/upstreams`: the live state of a server in the running instance. */
export interface ApiPeer {
  id: number;
  server: string;
  state: string;
  active: number;
  requests?: number;
  fails?: number;
  weight?: number;
  backup?: boolean;
  health_checks?: ApiHealthChecks;
}

/** One upstream of `GET /9/http/upstreams`. */
export interface ApiUpstream {
  peers: ApiPeer[];
}

/** One server of `GET /9/http/upstreams/NAME/servers` (its configuration, not its state). */
export interface ApiServer {
  id: number;
  server: string;
  weight?: number;
  max_fails?: number;
  /** Seconds, or NGINX Plus's time text (`"10s"`). */
  fail_timeout?: number | string;
  backup?: boolean;
  down?: boolean;
  drain?: boolean;
}

/** Attributes a POST or PATCH sends (`drain` only in a PATCH). */
export type ApiServerPatch = Partial<Omit<ApiServer, "id" | "server">>;

/** How to reach the API. */
export interface ApiClientOptions {
  /** `user:password` for basic auth, or null; asked at the first request. Sent in a header, never printed. */
  auth: () => string | null;
  /** Bound on one request, ms. */
  timeoutMs: number;
  /** How to make one request (tests); node:http by default, which (unlike fetch) takes any port. */
  request?: ApiCall;
}

/** One HTTP request: status and body text; rejects on a network failure (ETIMEDOUT after `timeoutMs`). */
export type ApiCall = (
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | null,
  timeoutMs: number,
) => Promise<{ status: number; text: string }>;

/** Largest API answer read, bytes (a status document of thousands of servers fits). */
const MAX_ANSWER = 16 * 1024 * 1024;

/** ApiCall over node:http / node:https, the whole exchange bounded by `timeoutMs`. */
export const httpCall: ApiCall = (url, method, headers, body, timeoutMs) =>
  new Promise((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER) req.destroy(Object.assign(new Error("answer too large"), { code: "EFBIG" }));
        else chunks.push(c);
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", reject);
    });
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })),
      timeoutMs,
    );
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body ?? undefined);
  });

/** A running syncgate's admin API at one base URL (the `api` location: `http://127.0.0.1:8080/api/`). */
export class ApiClient {
  readonly base: string;
  readonly #opts: ApiClientOptions;

  constructor(base: string, opts: ApiClientOptions) {
    this.base = base.endsWith("/") ? base : `${base}/`;
    this.#opts = opts;
  }

  /** `GET /9/http/upstreams`: every upstream with its peers' live state. */
  async upstreams(): Promise<Record<string, ApiUpstream>> {
    const body = await this.#call("GET", `${API_VERSION}/http/upstreams`);
    if (!isRecord(body)) throw this.#bad("GET", "upstreams");
    const out: Record<string, ApiUpstream> = {};
    for (const [name, u] of Object.entries(body)) {
      out[name] = { peers: isRecord(u) && Array.isArray(u.peers) ? (u.peers as ApiPeer[]) : [] };
    }
    return out;
  }

  /** `GET /9/http/upstreams/NAME/servers`. */
  async servers(upstream: string): Promise<ApiServer[]> {
    const body = await this.#call("GET", serversPath(upstream));
    if (!Array.isArray(body)) throw this.#bad("GET", "servers");
    return body as ApiServer[];
  }

  /** `POST /9/http/upstreams/NAME/servers`: adds a server. */
  async add(upstream: string, server: string, attrs: ApiServerPatch): Promise<void> {
    await this.#call("POST", serversPath(upstream), { server, ...attrs });
  }

  /** `PATCH /9/http/upstreams/NAME/servers/ID`. */
  async patch(upstream: string, id: number, attrs: ApiServerPatch): Promise<void> {
    await this.#call("PATCH", `${serversPath(upstream)}/${id}`, attrs);
  }

  /** `DELETE /9/http/upstreams/NAME/servers/ID`. */
  async remove(upstream: string, id: number): Promise<void> {
    await this.#call("DELETE", `${serversPath(upstream)}/${id}`);
  }

  /** The server `address` of `upstream` as the API lists it; ServerNotFound when it is not there. */
  async find(upstream: string, address: string): Promise<ApiServer> {
    const found = (await this.servers(upstream)).find((s) => s.server === address);
    if (!found) {
      throw new ControlError(
        "ServerNotFound",
        `server ${address} is not in upstream "${upstream}" of the running syncgate (${this.base})`,
        404,
      );
    }
    return found;
  }

  async #call(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const auth = this.#opts.auth();
    if (auth !== null) headers.Authorization = `Basic ${Buffer.from(auth, "utf8").toString("base64")}`;
    const text = body === undefined ? null : JSON.stringify(body);
    if (text !== null) headers["Content-Type"] = "application/json";
    let res: { status: number; text: string };
    try {
      res = await (this.#opts.request ?? httpCall)(
        new URL(path, this.base),
        method,
        headers,
        text,
        this.#opts.timeoutMs,
      );
    } catch (err) {
      throw this.#unreachable(err);
    }
    const json = parseJson(res.text);
    if (res.status >= 200 && res.status < 300) return json;
    throw this.#refused(method, res.status, json);
  }

  #unreachable(err: unknown): ControlError {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ETIMEDOUT" ? `no answer within ${this.#opts.timeoutMs / 1000} s` : errnoText(e);
    return new ControlError(
      "ApiUnreachable",
      `API ${this.base} unreachable (${why.replace(/^\((.*)\)$/, "$1")})`,
      502,
    );
  }

  #refused(method: string, status: number, json: unknown): ControlError {
    const e = isRecord(json) && isRecord(json.error) ? json.error : null;
    const said = e && typeof e.text === "string" ? e.text : null;
    const code = e && typeof e.code === "string" ? e.code : null;
    if (status === 401) {
      const how =
        this.#opts.auth() === null ? "give --auth-file FILE or SYNCGATE_API_AUTH" : "check the --auth-file";
      return new ControlError(
        "ApiUnauthorized",
        `API ${this.base} needs valid credentials (401): ${how}`,
        401,
      );
    }
    if (status === 403)
      return new ControlError("ApiForbidden", `API ${this.base} forbids this client (403)`, 403);
    if (status === 405 && method !== "GET" && (said === null || code === "MethodDisabled")) {
      return new ControlError(
        "ApiReadOnly",
        `API ${this.base} does not allow writes (405: "api write=on" is needed)`,
        405,
      );
    }
    if (said !== null) return new ControlError(code ?? "ApiError", said, status);
    return new ControlError(
      "ApiError",
      `API ${this.base} answered ${method} with status ${status}, not an API error`,
      status,
    );
  }

  #bad(method: string, what: string): ControlError {
    return new ControlError(
      "ApiError",
      `API ${this.base} answered ${method} ${what} with unexpected JSON`,
      502,
    );
  }
}

function serversPath(upstream: string): string {
  return `${API_VERSION}/http/upstreams/${encodeURIComponent(upstream)}/servers`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** True for a plain JSON object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A `fail_timeout` of the API in seconds: a number, or NGINX Plus's time text (`10s`, `1m`, `500ms`). */
export function apiSeconds(v: unknown): number | null {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return null;
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const scale: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  return Math.floor(n * (scale[unit] ?? 1));
}
