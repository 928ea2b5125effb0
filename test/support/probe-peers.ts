/**
 * Peers for health-probe tests, on 127.0.0.1 port 0: a raw TCP server driven per connection, a TLS server with
 * the committed self-signed certificate, a FastCGI responder, a closed port, and a `CheckConf` with the
 * module's defaults. Every server and accepted socket is destroyed when the test ends.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { TestContext } from "node:test";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import type { CheckConf, CheckType } from "../../src/config/types.js";

/** A `CheckConf` with the `check` directive's defaults (spec §1.2) and a short timeout, overridden by `extra`. */
export function checkConf(type: CheckType, extra: Partial<CheckConf> = {}): CheckConf {
  return {
    type,
    interval: 30_000,
    fall: 5,
    rise: 2,
    timeout: 2000,
    defaultDown: true,
    port: 0,
    send: null,
    expectAlive: null,
    keepaliveRequests: 1,
    fastcgiParams: [],
    origin: { file: null, line: 1 },
    ...extra,
  };
}

/** A listening server, its port, and what it saw of connections. */
export interface Peer {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections closed so far. */
  closed: number;
  /** Bytes received on each connection, in accept order. */
  received: Buffer[];
}

/** Listens on 127.0.0.1:0, tracks connections, and closes everything after the test. */
async function listen(t: TestContext, server: Server, event = "connection"): Promise<Peer> {
  const peer: Peer = { port: 0, accepted: 0, closed: 0, received: [] };
  const sockets = new Set<Socket>();
  server.on(event, (socket: Socket) => {
    const i = peer.accepted++;
    peer.received.push(Buffer.alloc(0));
    sockets.add(socket);
    socket.on("data", (d: Buffer) => (peer.received[i] = Buffer.concat([peer.received[i]!, d])));
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      peer.closed++;
    });
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const a = server.address();
  peer.port = typeof a === "object" && a ? a.port : 0;
  return peer;
}

/** A TCP server that hands each accepted socket to `onSocket` (which may write, wait for bytes, or close). */
export function rawPeer(t: TestContext, onSocket: (socket: Socket) => void): Promise<Peer> {
  const server = createServer({ allowHalfOpen: false }, onSocket);
  return listen(t, server);
}

/** A TCP server that answers `answer` once it has received `after` bytes (0: at once), then keeps or closes. */
export function answeringPeer(
  t: TestContext,
  answer: Buffer | string,
  opts: { after?: number; close?: boolean } = {},
): Promise<Peer> {
  const bytes = typeof answer === "string" ? Buffer.from(answer, "latin1") : answer;
  return rawPeer(t, (socket) => {
    let got = 0;
    let sent = false;
    const send = (): void => {
      if (sent) return;
      sent = true;
      if (opts.close) socket.end(bytes);
      else socket.write(bytes);
    };
    if (!opts.after) send();
    socket.on("data", (d: Buffer) => {
      got += d.length;
      if (got >= (opts.after ?? 0)) send();
    });
  });
}

const FIXTURES = new URL("../../../test/fixtures/tls/", import.meta.url);

/**
 * A node:tls server (Node's defaults unless `options` says otherwise) with the committed self-signed
 * certificate; it writes "ok" and closes after each completed handshake.
 */
export function tlsPeer(t: TestContext, options: TlsOptions = {}): Promise<Peer> {
  const key = readFileSync(new URL("key.pem", FIXTURES));
  const cert = readFileSync(new URL("cert.pem", FIXTURES));
  const server = createTlsServer({ key, cert, ...options }, (s) => s.end("ok"));
  server.on("tlsClientError", () => {});
  // Tracks the raw TCP connections, so that a probe that never finishes a handshake is counted too.
  return listen(t, server);
}

/** A port on 127.0.0.1 where nothing listens (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One FastCGI record for request id 1, padded to 8 bytes unless `padding` says otherwise. */
export function fcgiRecord(type: number, content: Buffer | string, padding?: number): Buffer {
  const body = typeof content === "string" ? Buffer.from(content, "latin1") : content;
  const pad = padding ?? (8 - (body.length % 8)) % 8;
  return Buffer.concat([
    Buffer.from([1, type, 0, 1, body.length >> 8, body.length & 0xff, pad, 0]),
    body,
    Buffer.alloc(pad),
  ]);
}

/** END_REQUEST, status 0, FCGI_REQUEST_COMPLETE. */
export const FCGI_END = fcgiRecord(3, Buffer.alloc(8));

/**
 * A FastCGI responder: waits for the request's empty STDIN record (`01 05 00 01 00 00 00 00`), then writes
 * `answer` and closes, as php-fpm does without FCGI_KEEP_CONN.
 */
export function fastcgiPeer(t: TestContext, answer: Buffer): Promise<Peer> {
  const endOfStdin = Buffer.from("0105000100000000", "hex");
  return rawPeer(t, (socket) => {
    let got = Buffer.alloc(0);
    socket.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.subarray(-8).equals(endOfStdin)) socket.end(answer);
    });
  });
}
