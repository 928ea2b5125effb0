/** Fault injection: what respondWith() answers instead of Consul's API. */
import type { IncomingMessage, ServerResponse } from "node:http";

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

export function inject(what: Exclude<Injected, undefined>, req: IncomingMessage, res: ServerResponse): void {
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
