/**
 * One bounded GET to a registry (issue 4 items 2 and 5): a whole-request timeout (`upsync_timeout`), a body cap
 * (16 MiB, checked on Content-Length and while reading), and an abort signal that ends it at once, even in the
 * middle of a blocking query. node:http by default — not the global fetch, whose undici dispatcher gives up on
 * headers after 300 s while a Consul blocking query may legitimately last up to 10 min. One connection per
 * request (as the module did): a long poll gains nothing from keep-alive, and a reused socket the registry
 * closed meanwhile would show up as a false registry failure.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

/** Registry bodies are read whole up to this size (issue 4 item 2). */
export const MAX_REGISTRY_BODY = 16 * 1024 * 1024;

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

/** Why a registry request failed, in words fit for the error log: names the address, never the URL or headers. */
export class RegistryError extends Error {
  override name = "RegistryError";
}

/** GETs `url`; `where` (host:port) names the registry in error messages, because the URL may carry a token. */
export function registryGet(url: URL, where: string, opts: RegistryGetOptions): Promise<RegistryResponse> {
  const limit = opts.limit ?? MAX_REGISTRY_BODY;
  const ac = new AbortController();
  const stop = (reason: RegistryError): void => ac.abort(reason);
  const timer = setTimeout(
    () => stop(new RegistryError(`upsync_timeout: timed out reading upsync_server: ${where}`)),
    opts.timeout,
  );
  const onAbort = (): void => stop(new RegistryError(`request to upsync_server ${where} aborted`));
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener("abort", onAbort, { once: true });
  const tooLarge = (): RegistryError =>
    new RegistryError(`upsync_server ${where} sent a body over ${limit} bytes, not read`);
  const run = opts.fetch
    ? viaFetch(opts.fetch, url, where, opts.headers, ac.signal, limit, tooLarge)
    : viaHttp(url, where, opts.headers, ac.signal, limit, tooLarge);
  return run.finally(() => {
    clearTimeout(timer);
    opts.signal.removeEventListener("abort", onAbort);
  });
}

function reasonOf(signal: AbortSignal, fallback: RegistryError): RegistryError {
  return signal.reason instanceof RegistryError ? signal.reason : fallback;
}

/** A socket error in the module's words: before the connection was up it is a connect error, else a recv error. */
function failure(err: unknown, where: string, connected: boolean): RegistryError {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? e.message ?? String(err);
  return new RegistryError(
    connected
      ? `recv error from upsync_server ${where} (${code})`
      : `cannot connect to upsync_server ${where} (${code})`,
  );
}

function viaHttp(
  url: URL,
  where: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  limit: number,
  tooLarge: () => RegistryError,
): Promise<RegistryResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let connected = false;
    const settle = (err: RegistryError | null, res?: RegistryResponse): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(res!);
    };
    const onAbort = (): void => settle(reasonOf(signal, new RegistryError(`request to ${where} aborted`)));
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, { method: "GET", headers, agent: false });
    req.once("socket", (s) => s.once("connect", () => (connected = true)));
    req.on("error", (err) => settle(failure(err, where, connected)));
    req.on("response", (res: IncomingMessage) => {
      const declared = Number(res.headers["content-length"] ?? 0);
      if (declared > limit) return settle(tooLarge());
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > limit) return settle(tooLarge());
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
    req.end();
  });
}

async function viaFetch(
  fetchFn: typeof fetch,
  url: URL,
  where: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  limit: number,
  tooLarge: () => RegistryError,
): Promise<RegistryResponse> {
  let reading = false;
  try {
    const res = await fetchFn(url, { headers, signal, redirect: "manual" });
    reading = true;
    if (Number(res.headers.get("content-length") ?? 0) > limit) {
      await res.body?.cancel();
      throw tooLarge();
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
        throw tooLarge();
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
    if (signal.aborted) throw reasonOf(signal, new RegistryError(`request to ${where} aborted`));
    throw failure(err, where, reading);
  }
}
