/**
 * Real backend servers on 127.0.0.1 for proxy tests. Each answers with its name so tests can tell which one
 * served a request, echoes what it received, and can be told to misbehave per request path.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createHash } from "node:crypto";
import type { TestContext } from "node:test";

/** What a backend saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
}

/** A running backend. */
export interface Backend {
  name: string;
  port: number;
  addr: string;
  seen: Seen[];
  server: Server;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** Starts an HTTP backend; `handler` may take over a request, otherwise it answers 200 "NAME URL". */
export async function startBackend(t: TestContext, name: string, handler?: Handler): Promise<Backend> {
  const seen: Seen[] = [];
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: body.toString(),
      });
      if (handler) {
        handler(req, res, body);
        return;
      }
      const text = `${name} ${req.method} ${req.url}`;
      res.writeHead(200, { "Content-Type": "text/plain", "X-Backend": name });
      res.end(text);
    });
  });
  // Upgrade requests: a minimal WebSocket echo (RFC 6455 handshake, unmasked text frames back).
  const upgraded = new Set<Socket>();
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
    const key = req.headers["sec-websocket-key"];
    const accept = createHash("sha1")
      .update(`${String(key)}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Backend: ${name}\r\n\r\n`,
    );
    const onFrame = (buf: Buffer): void => {
      const frames = decodeFrames(buf);
      for (const f of frames) socket.write(encodeFrame(`${name}:${f}`));
    };
    if (head.length) onFrame(head);
    socket.on("data", onFrame);
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  const b: Backend = {
    name,
    port,
    addr: `127.0.0.1:${port}`,
    seen,
    server,
    close: () =>
      new Promise<void>((r) => {
        // Upgraded sockets are no longer the HTTP server's to close, but close() still waits for them.
        for (const u of upgraded) u.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  t.after(() => b.close());
  return b;
}

/** A raw TCP backend that answers each connection with `respond` (for malformed responses and resets). */
export async function startRawBackend(
  t: TestContext,
  respond: (socket: Socket, request: string) => void,
): Promise<{ port: number; addr: string; server: NetServer; connections: number }> {
  const state = { port: 0, addr: "", server: undefined as unknown as NetServer, connections: 0 };
  const server = createNetServer((socket) => {
    state.connections++;
    let buf = "";
    socket.on("error", () => socket.destroy());
    socket.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end >= 0) {
        const req = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        respond(socket, req);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  state.port = typeof a === "object" && a ? a.port : 0;
  state.addr = `127.0.0.1:${state.port}`;
  state.server = server;
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return state;
}

/** Encodes a masked client text frame (RFC 6455 §5.2). */
export function encodeFrame(text: string, mask = false): Buffer {
  const payload = Buffer.from(text);
  const head = [0x81, (mask ? 0x80 : 0) | payload.length];
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** Decodes short text frames (masked or not) from a buffer. */
export function decodeFrames(buf: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const masked = (buf[i + 1]! & 0x80) !== 0;
    const len = buf[i + 1]! & 0x7f;
    let p = i + 2;
    let key: Buffer | null = null;
    if (masked) {
      key = buf.subarray(p, p + 4);
      p += 4;
    }
    const data = Buffer.from(buf.subarray(p, p + len));
    if (key) for (let j = 0; j < data.length; j++) data[j] = data[j]! ^ key[j % 4]!;
    out.push(data.toString());
    i = p + len;
  }
  return out;
}

/**
 * A server that resets every connection and a good one, both `max_fails=0`, behind `location /` (default
 * retries) and `location /ni/` (with `non_idempotent`): the setup of the retry tests. Returns the http block.
 */
export async function startResetThenGood(
  t: TestContext,
  port: number,
): Promise<{ good: Backend; http: string }> {
  const reset = await startRawBackend(t, (socket) => socket.resetAndDestroy());
  const good = await startBackend(t, "good");
  const http = `upstream u { server ${reset.addr} max_fails=0; server ${good.addr} max_fails=0; }
     server { listen 127.0.0.1:${port};
       location / { proxy_pass http://u; }
       location /ni/ { proxy_next_upstream error timeout non_idempotent; proxy_pass http://u; } }`;
  return { good, http };
}
