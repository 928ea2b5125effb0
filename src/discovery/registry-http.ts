/**
 * One bounded GET or POST to a registry (issue 4 items 2 and 5): a whole-request timeout (`upsync_timeout`), a body
 * cap (16 MiB, checked on Content-Length and while reading), and an abort signal that ends it at once, even in the
 * middle of a blocking query. Also one open-ended stream (etcd v3's watch through its JSON gateway): a timeout on
 * the answer's head only, lines capped at 16 MiB, more request lines sent while it runs. node:http by default —
 * not the global fetch, whose undici dispatcher gives up on headers after 300 s while a Consul blocking query may
 * legitimately last up to 10 min. One connection per request (as the module did): a long poll gains nothing
 * from keep-alive, and a reused socket the registry closed meanwhile would show up as a false registry failure.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { UpsyncAddress } from "../config/types.js";

/** Idle time before TCP keep-alive probes on a registry connection. */
const KEEPALIVE_PROBE_MS = 30_000;

/** Registry bodies are read whole up to this size (issue 4 item 2). */
export const MAX_REGISTRY_BODY = 16 * 1024 * 1024;

/** `host:port` as error messages name a registry address (IPv6 in brackets). */
export function registryWhere(addr: UpsyncAddress): string {
  return addr.host.includes(":") ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

/** `scheme://host:port` of a registry address, for URLs (IPv6 in brackets). */
export function registryOrigin(scheme: string, addr: UpsyncAddress): string {
  return `${scheme}://${registryWhere(addr)}`;
}

/** A registry answer: status, headers (by lower-case name) and the whole body. */
export interface RegistryResponse {
  status: number;
  header(name: string): string | null;
  body: Buffer;
}

/** How to make one request. */
export interface RegistryGetOptions {
  /** Request headers (secrets allowed: nothing here logs them). */
  headers: Record<string, string>;
  /** Ends the request at once; it then rejects with a RegistryError whose message says so. */
  signal: AbortSignal;
  /** The whole request (connect, headers, body) must finish within this many ms. */
  timeout: number;
  /** Body cap in bytes (MAX_REGISTRY_BODY by default). */
  limit?: number;
  /** Use this fetch instead of node:http (tests, or a caller with its own dispatcher). */
  fetch?: typeof fetch;
}

/**
 * The kind of a registry failure, for callers that treat one as normal (an etcd v2 wait that ran out of time):
 * `connect` (refused, or no connection within the timeout), `timeout` (connected, no answer's head in time),
 * `idle` (the head came, the body did not end in time: a long poll that saw nothing, for a registry that sends the
 * head at once), `recv` (the connection broke), `aborted`, `too_large`, `other`.
 */
export type RegistryFailure = "connect" | "timeout" | "idle" | "recv" | "aborted" | "too_large" | "other";

/** How far a request got, for naming a timeout. */
interface Progress {
  connected: boolean;
  head: boolean;
}

/** Why a registry request failed, in words fit for the error log: names the address, never the URL or headers. */
export class RegistryError extends Error {
  override name = "RegistryError";
  /** What kind of failure this is (the message is for people). */
  readonly reason: RegistryFailure;

  constructor(message: string, reason: RegistryFailure = "other") {
    super(message);
    this.reason = reason;
  }
}

/**
 * The error of an answer with an unexpected status: `upsync_server HOST:PORT answered http_status: 500 (first line
 * of the body)`, the first line cut at 200 bytes.
 */
export function statusError(res: RegistryResponse, where: string): string {
  const said = res.body.toString("utf8", 0, 200).split(/\r?\n/)[0]?.trim() ?? "";
  return `upsync_server ${where} answered http_status: ${res.status}${said ? ` (${said})` : ""}`;
}

/** A timeout's error: its reason says how far the request got (connection, answer's head). */
function timedOut(where: string, got: Progress): RegistryError {
  return new RegistryError(
    `upsync_timeout: timed out reading upsync_server: ${where}`,
    got.head ? "idle" : got.connected ? "timeout" : "connect",
  );
}

/** One request of registryRequest: its method, and a body with its type (JSON unless said). */
export interface RequestLine {
  method: "GET" | "POST" | "PUT" | "DELETE";
  body: string | null;
  /** Content-Type of `body`; application/json by default. */
  type?: string;
}

/** GETs `url`; `where` (host:port) names the registry in error messages, because the URL may carry a token. */
export function registryGet(url: URL, where: string, opts: RegistryGetOptions): Promise<RegistryResponse> {
  return registryRequest({ method: "GET", body: null }, url, where, opts);
}

/** POSTs the JSON text `body` to `url` (etcd v3's gateway), bounded like registryGet. */
export function registryPost(
  url: URL,
  where: string,
  body: string,
  opts: RegistryGetOptions,
): Promise<RegistryResponse> {
  return registryRequest({ method: "POST", body }, url, where, opts);
}

/** One request as viaHttp and viaFetch make it. */
interface Call {
  line: RequestLine;
  url: URL;
  where: string;
  headers: Record<string, string>;
  /** Aborts the request: the caller's abort, or our timeout (the signal's reason says which). */
  signal: AbortSignal;
  limit: number;
  /** Filled in as the request gets on, for naming a timeout. */
  got: Progress;
}

/**
 * One bounded request of any method (the control writers' PUT and DELETE too), with registryGet's timeout, cap
 * and messages.
 */
export function registryRequest(
  line: RequestLine,
  url: URL,
  where: string,
  opts: RegistryGetOptions,
): Promise<RegistryResponse> {
  const ac = new AbortController();
  // fetch does not tell when it connected: a timeout there is at least "timeout".
  const got: Progress = { connected: opts.fetch !== undefined, head: false };
  const stop = (reason: RegistryError): void => ac.abort(reason);
  const timer = setTimeout(() => stop(timedOut(where, got)), opts.timeout);
  const onAbort = (): void => stop(new RegistryError(`request to upsync_server ${where} aborted`, "aborted"));
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener("abort", onAbort, { once: true });
  const call = { line, url, where, signal: ac.signal, limit: opts.limit ?? MAX_REGISTRY_BODY, got };
  const run = opts.fetch
    ? viaFetch(opts.fetch, { ...call, headers: withBodyHeaders(opts.headers, line, false) })
    : viaHttp({ ...call, headers: withBodyHeaders(opts.headers, line, true) });
  return run.finally(() => {
    clearTimeout(timer);
    opts.signal.removeEventListener("abort", onAbort);
  });
}

/** The caller's headers, plus Content-Type (and Content-Length, which fetch sets itself) when there is a body. */
function withBodyHeaders(
  headers: Record<string, string>,
  line: RequestLine,
  length: boolean,
): Record<string, string> {
  const body = line.body;
  if (body === null) return headers;
  const out = { ...headers, "Content-Type": line.type ?? "application/json" };
  return length ? { ...out, "Content-Length": String(Buffer.byteLength(body)) } : out;
}

function reasonOf(signal: AbortSignal, fallback: RegistryError): RegistryError {
  return signal.reason instanceof RegistryError ? signal.reason : fallback;
}

/** A socket error in the module's words: before the connection was up it is a connect error, else a recv error. */
function failure(err: unknown, where: string, connected: boolean): RegistryError {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? e.message ?? String(err);
  return connected
    ? new RegistryError(`recv error from upsync_server ${where} (${code})`, "recv")
    : new RegistryError(`cannot connect to upsync_server ${where} (${code})`, "connect");
}

function tooLarge(call: Call): RegistryError {
  return new RegistryError(
    `upsync_server ${call.where} sent a body over ${call.limit} bytes, not read`,
    "too_large",
  );
}

function viaHttp(call: Call): Promise<RegistryResponse> {
  const { line, url, where, headers, signal, limit, got } = call;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err: RegistryError | null, res?: RegistryResponse): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(res!);
    };
    const onAbort = (): void =>
      settle(reasonOf(signal, new RegistryError(`request to ${where} aborted`, "aborted")));
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, { method: line.method, headers, agent: false });
    // A long poll idles for minutes: TCP keep-alive finds a connection a NAT or firewall dropped silently.
    req.on("socket", (sock) => sock.setKeepAlive(true, KEEPALIVE_PROBE_MS));
    req.once("socket", (s) => s.once("connect", () => (got.connected = true)));
    req.on("error", (err) => settle(failure(err, where, got.connected)));
    req.on("response", (res: IncomingMessage) => {
      got.head = true;
      const declared = Number(res.headers["content-length"] ?? 0);
      if (declared > limit) return settle(tooLarge(call));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > limit) return settle(tooLarge(call));
        chunks.push(c);
      });
      res.on("error", (err) => settle(failure(err, where, true)));
      res.on("aborted", () => settle(failure({ code: "ECONNRESET" }, where, true)));
      res.on("end", () =>
        settle(null, {
          status: res.statusCode ?? 0,
          header: (name) => {
            const v = res.headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
          },
          body: Buffer.concat(chunks, size),
        }),
      );
    });
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    req.end(line.body ?? undefined);
  });
}

async function viaFetch(fetchFn: typeof fetch, call: Call): Promise<RegistryResponse> {
  const { line, url, where, headers, signal, limit, got } = call;
  try {
    const res = await fetchFn(url, {
      method: line.method,
      headers,
      signal,
      redirect: "manual",
      ...(line.body === null ? {} : { body: line.body }),
    });
    got.head = true;
    if (Number(res.headers.get("content-length") ?? 0) > limit) {
      await res.body?.cancel();
      throw tooLarge(call);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = (res.body as ReadableStream<Uint8Array> | null)?.getReader();
    for (;;) {
      if (!reader) break;
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel();
        throw tooLarge(call);
      }
      chunks.push(value);
    }
    return {
      status: res.status,
      header: (name) => res.headers.get(name),
      body: Buffer.concat(chunks, size),
    };
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    if (signal.aborted) throw reasonOf(signal, new RegistryError(`request to ${where} aborted`, "aborted"));
    throw failure(err, where, got.head);
  }
}

/** An open registry stream: the answer's head, then its lines as they come; more request lines can be sent. */
export interface RegistryStream {
  status: number;
  header(name: string): string | null;
  /**
   * The next line of the answer, without its line end (blank lines skipped); null once the registry ended the
   * answer. Rejects with a RegistryError when the connection breaks, the stream is aborted or closed, or a line
   * passes the cap. One call at a time.
   */
  next(): Promise<string | null>;
  /** Sends more of the request body (etcd's gateway reads one JSON request per line). */
  send(text: string): void;
  /** Ends the stream and its connection at once; idempotent. */
  close(): void;
}

/** How to open one stream: like a request, but `timeout` bounds only the connection and the answer's head. */
export type RegistryStreamOptions = Omit<RegistryGetOptions, "fetch">;

/**
 * POSTs `first` (a JSON text) to `url` with a request body left open and resolves with the answer's head; the body
 * is then read line by line for as long as the registry keeps it open (no whole-request timeout: a watch may stay
 * silent for hours). node:http only: a long-lived duplex exchange is what fetch handles worst.
 */
export function registryStream(
  url: URL,
  where: string,
  first: string,
  opts: RegistryStreamOptions,
): Promise<RegistryStream> {
  const limit = opts.limit ?? MAX_REGISTRY_BODY;
  return new Promise((resolve, reject) => {
    const got: Progress = { connected: false, head: false };
    let failed: RegistryError | null = null;
    let ended = false;
    let partial: Buffer[] = [];
    let partialSize = 0;
    const lines: string[] = [];
    let waiter: { resolve: (l: string | null) => void; reject: (e: RegistryError) => void } | null = null;

    const wake = (): void => {
      const w = waiter;
      if (!w) return;
      if (lines.length > 0) {
        waiter = null;
        w.resolve(lines.shift()!);
      } else if (failed) {
        waiter = null;
        w.reject(failed);
      } else if (ended) {
        waiter = null;
        w.resolve(null);
      }
    };
    const fail = (err: RegistryError): void => {
      clearTimeout(timer);
      opts.signal.removeEventListener("abort", onAbort);
      if (failed || ended) return;
      failed = err;
      req.destroy();
      if (!got.head) reject(err);
      wake();
    };
    const onAbort = (): void =>
      fail(new RegistryError(`request to upsync_server ${where} aborted`, "aborted"));
    const timer = setTimeout(() => fail(timedOut(where, got)), opts.timeout);

    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const headers = { ...opts.headers, "Content-Type": "application/json" };
    const req = send(url, { method: "POST", headers, agent: false });
    // A long poll idles for minutes: TCP keep-alive finds a connection a NAT or firewall dropped silently.
    req.on("socket", (sock) => sock.setKeepAlive(true, KEEPALIVE_PROBE_MS));
    req.once("socket", (s) => s.once("connect", () => (got.connected = true)));
    req.on("error", (err) => fail(failure(err, where, got.connected)));
    req.on("response", (res: IncomingMessage) => {
      got.head = true;
      clearTimeout(timer);
      const tooLong = (): void =>
        fail(
          new RegistryError(`upsync_server ${where} sent a line over ${limit} bytes, not read`, "too_large"),
        );
      /** Splits a chunk at line ends; a line (with what came before of it) over the cap fails the stream. */
      const take = (chunk: Buffer): void => {
        let from = 0;
        for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
          if (partialSize + nl - from > limit) return tooLong();
          partial.push(chunk.subarray(from, nl));
          const text = Buffer.concat(partial).toString("utf8").trim();
          partial = [];
          partialSize = 0;
          if (text !== "") lines.push(text);
          from = nl + 1;
        }
        const rest = chunk.subarray(from);
        partialSize += rest.length;
        if (partialSize > limit) return tooLong();
        if (rest.length > 0) partial.push(rest);
      };
      res.on("data", (c: Buffer) => {
        if (failed) return;
        take(c);
        wake();
      });
      res.on("error", (err) => fail(failure(err, where, true)));
      res.on("aborted", () => fail(failure({ code: "ECONNRESET" }, where, true)));
      res.on("end", () => {
        if (failed) return;
        const text = Buffer.concat(partial).toString("utf8").trim();
        if (text !== "") lines.push(text);
        ended = true;
        opts.signal.removeEventListener("abort", onAbort);
        req.destroy();
        wake();
      });
      resolve({
        status: res.statusCode ?? 0,
        header: (name) => {
          const v = res.headers[name.toLowerCase()];
          return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
        },
        next: () =>
          new Promise<string | null>((ok, ko) => {
            waiter = { resolve: ok, reject: ko };
            wake();
          }),
        send: (text) => {
          if (!failed && !ended && !req.destroyed) req.write(text);
        },
        close: () => {
          if (!ended) fail(new RegistryError(`stream from upsync_server ${where} closed`, "aborted"));
        },
      });
    });
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener("abort", onAbort, { once: true });
    if (!failed) req.write(first);
  });
}
