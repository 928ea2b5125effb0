/** What the double's HTTP layer shares: the request record tests assert on, and the ways it answers. */
import type { IncomingMessage, ServerResponse } from "node:http";

/** A request as the double received it (what tests assert on: URL, headers, body). */
export interface SeenRequest {
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** The head of every read that supports blocking. */
export function consulHead(index: number): Record<string, string> {
  return {
    "X-Consul-Index": String(index),
    "X-Consul-Knownleader": "true",
    "X-Consul-Lastcontact": "0",
  };
}

export function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? (v[0] ?? "") : (v ?? "");
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  head: Record<string, string> = {},
): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...head, "Content-Type": "application/json", "Content-Length": bytes.length });
  res.end(bytes);
}

export function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}
