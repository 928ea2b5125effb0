/**
 * One control request to a registry, and the turn over its addresses. Requests are registry-http.ts's bounded ones
 * (whole-request timeout, body cap, messages that name `host:port`, never a URL or a header); every address of the
 * `upsync` line is tried in turn before a call fails with a ControlError (issue 6: `RegistryUnreachable`, 502).
 */
import type { UpsyncAddress, UpsyncConf } from "../config/types.js";
import {
  RegistryError,
  registryRequest,
  type RegistryResponse,
  registryWhere,
} from "../discovery/registry-http.js";
import { ControlError } from "./types.js";

/** The longest one control request takes by default, ms: a write is quick, unlike a blocking query. */
export const CONTROL_TIMEOUT = 10_000;

/** How control requests are made. */
export interface SendOptions {
  headers: Record<string, string>;
  /** The whole request must finish within this many ms. */
  timeout: number;
  /** Ends the request at once (an API client that went away). */
  signal?: AbortSignal;
}

/** A request body and its Content-Type. */
export interface SendBody {
  type: string;
  text: string;
}

const never = new AbortController().signal;

/** One bounded request (registry-http.ts's: whole-request timeout, body cap, messages naming host:port). */
export function registrySend(
  method: "GET" | "POST" | "PUT" | "DELETE",
  url: URL,
  where: string,
  body: SendBody | null,
  opts: SendOptions,
): Promise<RegistryResponse> {
  const line = body === null ? { method, body: null } : { method, body: body.text, type: body.type };
  return registryRequest(line, url, where, {
    headers: opts.headers,
    signal: opts.signal ?? never,
    timeout: opts.timeout,
  });
}

/**
 * A registry answer a control call cannot use: tried again on the next address, unless `denied` (the registry
 * refused the credentials: every member of a cluster would, so the call fails at once with `RegistryDenied`).
 */
export class BadAnswer extends Error {
  override name = "BadAnswer";
  constructor(
    message: string,
    readonly denied = false,
  ) {
    super(message);
  }
}

/**
 * The addresses of one `upsync` line, tried in turn from the one that answered last. `source` starts every
 * message (`consul 127.0.0.1:8500/v1/kv/upstreams/x/: ...`).
 */
export class AddressTurn {
  #at = 0;

  constructor(
    private readonly upsync: UpsyncConf,
    private readonly source: string,
    private readonly signal?: AbortSignal,
  ) {}

  /**
   * Runs `attempt` on each address until one succeeds. A RegistryError or BadAnswer moves on to the next address;
   * when all failed: ControlError `RegistryUnreachable` (502) with every address's reason. A denied BadAnswer is
   * `RegistryDenied` (502) at once. Other errors pass through.
   */
  async run<T>(attempt: (addr: UpsyncAddress, where: string) => Promise<T>): Promise<T> {
    const list = this.upsync.addresses;
    const reasons: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const n = (this.#at + i) % list.length;
      const addr = list[n]!;
      try {
        const out = await attempt(addr, registryWhere(addr));
        this.#at = n;
        return out;
      } catch (err) {
        if (err instanceof BadAnswer && err.denied) {
          throw new ControlError("RegistryDenied", `${this.source}: ${err.message}`, 502);
        }
        if (!(err instanceof RegistryError) && !(err instanceof BadAnswer)) throw err;
        reasons.push(err.message);
        if (this.signal?.aborted) break;
      }
    }
    if (list.length === 0) reasons.push("no registry address");
    throw new ControlError("RegistryUnreachable", `${this.source}: ${reasons.join("; ")}`, 502);
  }
}

/** The JSON of an answer, or undefined when it is not JSON. */
export function answerJson(res: RegistryResponse): unknown {
  try {
    return JSON.parse(res.body.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}
