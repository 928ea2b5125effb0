/**
 * Keep-alive connections to one upstream server. Idle connections are reused most recent first (the warmest
 * socket, and the others age out), closed after `keepalive_timeout` idle or `keepalive_requests` uses, and
 * at most `keepalive` are kept. An idle connection that the server closes or writes to is dropped.
 */
import { type Socket, connect } from "node:net";

/** A connection to an upstream server, reusable when the last exchange ended cleanly. */
export interface UpstreamSocket {
  socket: Socket;
  /** Requests sent on it so far. */
  requests: number;
  /** Whether it came from the idle pool (a stale keep-alive connection may fail at once). */
  reused: boolean;
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
  onGone: () => void;
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
    entry.conn.socket.removeListener("close", entry.onGone);
    entry.conn.socket.removeListener("data", entry.onGone);
    entry.conn.socket.removeListener("error", entry.onGone);
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
      } else done(null, { socket, requests: 0, reused: false });
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
    if (this.idle.length >= this.limits.maxIdle) this.idle.shift()!.conn.socket.destroy();
    const entry: Idle = {
      conn,
      timer: setTimeout(() => this.drop(entry), this.limits.idleTimeout),
      // Data or a close on an idle connection means the server gave up on it.
      onGone: () => this.drop(entry),
    };
    entry.timer.unref();
    s.on("close", entry.onGone);
    s.on("data", entry.onGone);
    s.on("error", entry.onGone);
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

  private drop(entry: Idle): void {
    const i = this.idle.indexOf(entry);
    if (i >= 0) this.idle.splice(i, 1);
    clearTimeout(entry.timer);
    entry.conn.socket.destroy();
  }
}
