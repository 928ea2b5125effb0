/**
 * Socket-level tools for keep-alive and timeout tests: a raw client that keeps its connection and notes when the
 * server closes it, connection counting on a backend, and loopback ports that never complete a connect().
 */
import { spawn } from "node:child_process";
import type { IncomingMessage, Server as HttpServer } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { TestContext } from "node:test";

/** A client connection kept open by the test. */
export interface RawClient {
  socket: Socket;
  /** Everything received so far, as latin1. */
  text(): string;
  /** Bytes received so far. */
  received(): number;
  /** When the server ended the connection (Date.now()), or null while it is open. */
  closedAt(): number | null;
  write(bytes: string | Buffer): void;
  /** Waits until `cond(text)` holds; rejects after `ms` with what was received. */
  waitFor(cond: (text: string) => boolean, ms?: number): Promise<void>;
  /** Waits until the server ends the connection; rejects after `ms`. Resolves with Date.now() at the close. */
  waitClosed(ms?: number): Promise<number>;
}

/** Opens a connection to `host:port` (127.0.0.1 by default) and keeps every byte it receives. */
export async function openClient(t: TestContext, port: number, host = "127.0.0.1"): Promise<RawClient> {
  const socket = connect(port, host);
  t.after(() => socket.destroy());
  const chunks: Buffer[] = [];
  let size = 0;
  let closed: number | null = null;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of waiters) w();
  };
  socket.on("data", (d: Buffer) => {
    chunks.push(d);
    size += d.length;
    wake();
  });
  const onGone = (): void => {
    closed ??= Date.now();
    wake();
  };
  socket.on("end", onGone);
  socket.on("close", onGone);
  socket.on("error", onGone);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const text = (): string => Buffer.concat(chunks).toString("latin1");
  const wait = (check: () => boolean, ms: number, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(done);
        reject(
          new Error(`${what} not seen within ${ms} ms; received ${JSON.stringify(text().slice(0, 300))}`),
        );
      }, ms);
      waiters.add(done);
      done();
    });
  return {
    socket,
    text,
    received: () => size,
    closedAt: () => closed,
    write: (bytes) => socket.write(bytes),
    waitFor: (cond, ms = 5000) => wait(() => cond(text()), ms, "expected bytes"),
    waitClosed: async (ms = 5000) => {
      await wait(() => closed !== null, ms, "close");
      return closed!;
    },
  };
}

/** What a backend saw of its TCP connections. */
export interface ConnectionLog {
  /** Connections accepted so far. */
  opened: number;
  /** Connections closed so far (by either side). */
  closed: number;
  /** Date.now() of each close, in order. */
  closedAt: number[];
  /** Requests carried by each connection, in accept order (HTTP servers only). */
  requests: number[];
}

/** Counts the connections `server` accepts and closes, and the requests each one carries. */
export function trackConnections(server: Server | HttpServer): ConnectionLog {
  const log: ConnectionLog = { opened: 0, closed: 0, closedAt: [], requests: [] };
  const index = new Map<Socket, number>();
  server.on("connection", (socket: Socket) => {
    index.set(socket, log.opened);
    log.opened++;
    log.requests.push(0);
    socket.on("close", () => {
      log.closed++;
      log.closedAt.push(Date.now());
    });
  });
  server.on("request", (req: IncomingMessage) => {
    const i = index.get(req.socket);
    if (i !== undefined) log.requests[i]!++;
  });
  return log;
}

/** A free TCP port on ::1, or null when this machine cannot bind ::1. */
export function freePort6(): Promise<number | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(null));
    s.listen({ port: 0, host: "::1", ipv6Only: true }, () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

// A listener with a backlog of 1 in a child process that blocks its event loop as soon as it listens (before
// libuv ever polls the socket), so it never accepts. Writes to a pipe are synchronous on Linux.
const NEVER_ACCEPTS = `
const s = require("node:net").createServer();
s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
  process.stdout.write(s.address().port + "\\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
});`;

/**
 * A loopback port where connect() hangs: a listener that never accepts, with its accept queue filled. Linux
 * drops a SYN that finds the accept queue full (net.ipv4.tcp_abort_on_overflow = 0), so the client stays in
 * SYN-SENT, retransmitting. Returns null when this machine completes or refuses the connect anyway.
 */
export async function hangingPort(t: TestContext): Promise<number | null> {
  const child = spawn(process.execPath, ["-e", NEVER_ACCEPTS], { stdio: ["ignore", "pipe", "ignore"] });
  t.after(() => child.kill("SIGKILL"));
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  // A backlog of 1 holds two established connections (Linux admits backlog + 1).
  for (let i = 0; i < 2; i++) {
    const filler = connect(port, "127.0.0.1");
    t.after(() => filler.destroy());
    filler.on("error", () => {});
    await new Promise<void>((resolve) => {
      filler.once("connect", resolve);
      filler.once("error", resolve);
    });
  }
  const probe = connect(port, "127.0.0.1");
  probe.on("error", () => {});
  const hangs = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(true), 300);
    probe.once("connect", () => {
      clearTimeout(timer);
      resolve(false);
    });
    probe.once("error", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  probe.destroy();
  return hangs ? port : null;
}
