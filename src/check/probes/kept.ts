/**
 * The probe session of one checked server: `close()` aborts its probe in flight (a plain callback: an AbortSignal
 * listener per probe costs ~20 µs of CPU, a tenth of a probe). With `check_keepalive_requests` > 1 (spec §1.3) it
 * also holds the kept connection between two probes: unref'd, so it never keeps the process alive, and watched. A
 * close or an error while idle drops it quietly (the next probe connects afresh: a server's keep-alive timeout is
 * no failure); bytes that arrive while idle drop it too, and the next probe reports them as its failure (they
 * would have been read as its answer, Tengine #384). The checker owns one per server and closes it when the
 * server leaves or checking stops.
 */
import type { Socket } from "node:net";

const ignore = (): void => undefined;

/** What a probe finds when it asks for the kept connection. */
export type Kept =
  /** An idle connection, and how many probes it carried. */
  | { socket: Socket; uses: number }
  /** Bytes came on the idle connection, which was closed: this probe fails. */
  | { junk: number }
  /** Nothing kept: connect. */
  | null;

/** One server's probe session: the probe in flight, and the idle kept connection between probes. */
export class ProbeConnection {
  #socket: Socket | null = null;
  #key = "";
  #uses = 0;
  #junk = 0;
  #closed = false;
  /** Aborts the probe in flight (cheaper than an AbortSignal listener per probe). */
  #inflight: (() => void) | null = null;

  readonly #onData = (chunk: Buffer): void => {
    this.#junk += chunk.length;
    this.#drop();
  };
  readonly #onGone = (): void => this.#drop();

  /** Whether an idle connection is held now. */
  get idle(): boolean {
    return this.#socket !== null;
  }

  /** Whether `close()` was called: nothing is kept any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Takes the idle connection to `key` (host:port) out for a probe, which owns it from then on; or the bytes that
   * came while it was idle; or null.
   */
  take(key: string): Kept {
    if (this.#junk > 0) {
      const junk = this.#junk;
      this.#junk = 0;
      return { junk };
    }
    const socket = this.#socket;
    if (socket === null) return null;
    if (key !== this.#key || socket.destroyed || !socket.readable || !socket.writable) {
      this.#drop();
      return null;
    }
    this.#socket = null;
    this.#unwatch(socket);
    socket.ref();
    return { socket, uses: this.#uses };
  }

  /** Keeps `socket` (to `key`, after `uses` probes) for the next probe; closes it instead once `close()` was called. */
  park(socket: Socket, key: string, uses: number): void {
    if (this.#closed || socket.destroyed) {
      socket.on("error", ignore);
      socket.destroy();
      return;
    }
    this.#drop();
    this.#socket = socket;
    this.#key = key;
    this.#uses = uses;
    socket.on("data", this.#onData);
    socket.on("end", this.#onGone);
    socket.on("close", this.#onGone);
    socket.on("error", this.#onGone);
    socket.unref();
  }

  /** Has `abort` called by `close()` while a probe runs; `done` (its return) forgets it again. */
  inflight(abort: () => void): () => void {
    this.#inflight = abort;
    return () => {
      if (this.#inflight === abort) this.#inflight = null;
    };
  }

  /**
   * Aborts the probe in flight and closes the idle connection, and every one given back later (the server left,
   * or checking stopped).
   */
  close(): void {
    this.#closed = true;
    this.#junk = 0;
    this.#drop();
    const abort = this.#inflight;
    this.#inflight = null;
    abort?.();
  }

  #unwatch(socket: Socket): void {
    socket.off("data", this.#onData);
    socket.off("end", this.#onGone);
    socket.off("close", this.#onGone);
    socket.off("error", this.#onGone);
  }

  #drop(): void {
    const socket = this.#socket;
    if (socket === null) return;
    this.#socket = null;
    this.#unwatch(socket);
    socket.on("error", ignore);
    socket.destroy();
  }
}
