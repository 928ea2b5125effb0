/**
 * Keep-alive connections to one upstream server. Idle connections are reused most recent first (the warmest
 * socket, and the others age out), closed after `keepalive_timeout` idle or `keepalive_requests` uses, and
 * at most `keepalive` are kept. An idle connection that the server closes or writes to is dropped.
 */
import { type Socket, connect } from "node:net";

/** Who reads an upstream connection while it is in use. */
export interface UpstreamHandler {
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: NodeJS.ErrnoException): void;
  onTimeout(): void;
}

/**
 * A connection to an upstream server, reusable when the last exchange ended cleanly. Its socket listeners are
 * installed once and dispatch to `handler` (the exchange using it) or, while idle, to the pool: adding and
 * removing listeners per request costs more than the request's own parsing.
 */
export interface UpstreamSocket {
  socket: Socket;
  /** Requests sent on it so far. */
  requests: number;
  /** Whether it came from the idle pool (a stale keep-alive connection may fail at once). */
  reused: boolean;
  handler: UpstreamHandler | null;
  /** The socket's inactivity timeout now (ms); kept between requests, since re-arming it costs a timer. */
  timeoutMs: number;
}

/** Sets the inactivity timeout of an upstream connection, only when it changes. */
export function setConnTimeout(conn: UpstreamSocket, ms: number): void {
  if (conn.timeoutMs === ms) return;
  conn.timeoutMs = ms;
  conn.socket.setTimeout(ms);
}

/** Pool limits, from the upstream block. */
export interface PoolLimits {
  maxIdle: number;
  idleTimeout: number;
  maxRequests: number;
  noDelay: boolean;
}

interface Idle {
  conn: UpstreamSocket;
  timer: NodeJS.Timeout;
}

/** The idle connections to one server. */
export class PeerPool {
  private readonly idle: Idle[] = [];
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly limits: PoolLimits,
  ) {}

  /** An idle connection, or null. */
  take(): UpstreamSocket | null {
    const entry = this.idle.pop();
    if (!entry) return null;
    clearTimeout(entry.timer);
    entry.conn.reused = true;
    return entry.conn;
  }

  /** Opens a new connection; `done` gets the socket once connected, or the error (timeout: code ETIMEDOUT). */
  open(
    timeoutMs: number,
    done: (err: NodeJS.ErrnoException | null, conn: UpstreamSocket | null) => void,
  ): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: this.limits.noDelay });
    let finished = false;
    const finish = (err: NodeJS.ErrnoException | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.removeListener("error", onError);
      socket.removeListener("connect", onConnect);
      if (err) {
        socket.destroy();
        done(err, null);
        return;
      }
      const conn: UpstreamSocket = { socket, requests: 0, reused: false, handler: null, timeoutMs: 0 };
      // Data, a close or an error on an idle connection means the server gave up on it: drop it.
      const gone = (): void => this.drop(conn);
      socket.on("data", (d: Buffer) => (conn.handler ? conn.handler.onData(d) : gone()));
      socket.on("end", () => (conn.handler ? conn.handler.onEnd() : gone()));
      socket.on("close", () => (conn.handler ? conn.handler.onEnd() : gone()));
      socket.on("error", (e: NodeJS.ErrnoException) => (conn.handler ? conn.handler.onError(e) : gone()));
      socket.on("timeout", () => conn.handler?.onTimeout());
      done(null, conn);
    };
    const onError = (err: Error): void => finish(err);
    const onConnect = (): void => finish(null);
    const timer = setTimeout(() => {
      const err: NodeJS.ErrnoException = new Error("connect timed out");
      err.code = "ETIMEDOUT";
      finish(err);
    }, timeoutMs);
    socket.once("error", onError);
    socket.once("connect", onConnect);
    return socket;
  }

  /** Gives a connection back after a clean exchange; it is closed when it may not be kept. */
  release(conn: UpstreamSocket): void {
    const s = conn.socket;
    // The inactivity timeout stays armed: a timeout while idle reaches no handler and is ignored.
    conn.handler = null;
    if (
      this.closed ||
      s.destroyed ||
      !s.writable ||
      this.limits.maxIdle <= 0 ||
      conn.requests >= this.limits.maxRequests
    ) {
      s.destroy();
      return;
    }
    if (this.idle.length >= this.limits.maxIdle) {
      const oldest = this.idle.shift()!;
      clearTimeout(oldest.timer);
      oldest.conn.socket.destroy();
    }
    const entry: Idle = { conn, timer: setTimeout(() => this.drop(conn), this.limits.idleTimeout) };
    entry.timer.unref();
    s.resume();
    this.idle.push(entry);
  }

  /** Idle connections now. */
  get idleCount(): number {
    return this.idle.length;
  }

  /** Closes every idle connection and refuses new ones. */
  close(): void {
    this.closed = true;
    while (this.idle.length) {
      const e = this.idle.pop()!;
      clearTimeout(e.timer);
      e.conn.socket.destroy();
    }
  }

  private drop(conn: UpstreamSocket): void {
    const i = this.idle.findIndex((e) => e.conn === conn);
    if (i >= 0) {
      clearTimeout(this.idle[i]!.timer);
      this.idle.splice(i, 1);
    }
    conn.socket.destroy();
  }
}
