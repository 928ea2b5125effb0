/**
 * The probe session of one checked server: `close()` aborts its probe in flight (a plain callback: an AbortSignal
 * listener per probe costs ~20 µs of CPU, a tenth of a probe). With `check_keepalive_requests` > 1 (spec §1.3) it
 * also holds the kept connection between two probes: unref'd, so it never keeps the process alive, and watched. A
 * close or an error while idle drops it quietly (the next probe connects afresh: a server's keep-alive timeout is
 * no failure); bytes that arrive while idle drop it too, and the next probe reports them as its failure (they
 * would have been read as its answer, Tengine #384). The checker owns one per server and closes it when the
 * server leaves or checking stops.
 *
 * The session's socket listeners stay on the kept connection for its whole life: while a probe borrows it (`take`)
 * they hand its events to that probe's `ProbeEvents`, while it is idle they watch it. Moving four listeners on and
 * off the socket twice per probe cost more CPU than the probe's own parsing.
 */
import { connect, type Socket } from "node:net";
import type { CheckConf } from "../../config/types.js";
import type { AnswerReader } from "./types.js";

const ignore = (): void => undefined;

/** What a probe finds when it asks for the kept connection. */
export type Kept =
  /** An idle connection, and how many probes it carried. */
  | { socket: Socket; uses: number }
  /** Bytes came on the idle connection, which was closed: this probe fails. */
  | { junk: number }
  /** Nothing kept: connect. */
  | null;

/** A probe in flight, as the session sees it. */
export interface Abortable {
  /** Ends the probe at once, as a failure the checker does not count. */
  abort(): void;
  /** Ends the probe as its timeout would (`expire()`, when the session's owner keeps the deadlines). */
  timedOut(): void;
}

/**
 * Where the bytes read on a probe socket go: to the probe that opened it, then to the session that keeps it. Every
 * probe socket reads into one shared buffer (`onread`), so a read makes no buffer and goes through no stream
 * machinery; a handler that keeps bytes past its call keeps a copy.
 */
export interface ReadRoute {
  onBytes: (chunk: Buffer) => void;
}

// The size Node reads with when it allocates: one answer of a health page nearly always fits.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Connects a probe socket whose reads go to `route` (no `data` events). */
export function connectProbe(host: string, port: number, route: ReadRoute): Socket {
  return connect({
    host,
    port,
    noDelay: true,
    onread: {
      buffer: READ_BUFFER,
      callback: (n) => {
        route.onBytes(READ_BUFFER.subarray(0, n));
        return true;
      },
    },
  });
}

/** A probe's handlers of its socket's events (`socket` is the one that emitted). */
export interface ProbeEvents {
  /** Bytes read; `chunk` is only valid during the call (the shared read buffer). */
  onData(socket: Socket, chunk: Buffer): void;
  /** The end of the stream or the close of the socket. */
  onEnd(socket: Socket): void;
  onError(socket: Socket, err: Error): void;
}

/** One server's probe session: the probe in flight, and the kept connection, idle or lent to the probe. */
export class ProbeConnection {
  /** The kept connection, idle or lent to a probe (then `#lent` is its handlers); always watched by the session. */
  #socket: Socket | null = null;
  #lent: ProbeEvents | null = null;
  #host = "";
  #port = 0;
  #uses = 0;
  #junk = 0;
  #closed = false;
  /** The probe in flight, which `close()` aborts (cheaper than an AbortSignal listener per probe). */
  #inflight: Abortable | null = null;
  /** The answer reader of the server's probes, made for `#readerConf`, and whether a probe has it now. */
  #reader: AnswerReader | null = null;
  #readerConf: CheckConf | null = null;
  #readerBusy = false;

  /**
   * @param timedByOwner the session's owner ends a probe that outlives its timeout with `expire()` (the checker
   *   keeps every deadline in one list and one timer); the probe then sets no timer of its own.
   */
  constructor(readonly timedByOwner = false) {}

  readonly #onData = (chunk: Buffer): void => {
    const lent = this.#lent;
    if (lent !== null) return lent.onData(this.#socket!, chunk);
    this.#junk += chunk.length;
    this.#drop();
  };
  readonly #onGone = (): void => {
    const lent = this.#lent;
    if (lent !== null) return lent.onEnd(this.#socket!);
    this.#drop();
  };
  readonly #onError = (err: Error): void => {
    const lent = this.#lent;
    if (lent !== null) return lent.onError(this.#socket!, err);
    this.#drop();
  };

  /** Whether an idle connection is held now. */
  get idle(): boolean {
    return this.#socket !== null && this.#lent === null;
  }

  /** Whether `close()` was called: nothing is kept any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Lends the idle connection to `host`:`port` to a probe, whose `events` get the socket's events until it gives
   * the socket back (`park`) or lets it go (`release`); or the bytes that came while it was idle; or null.
   */
  take(host: string, port: number, events: ProbeEvents): Kept {
    if (this.#junk > 0) {
      const junk = this.#junk;
      this.#junk = 0;
      return { junk };
    }
    const socket = this.#socket;
    if (socket === null || this.#lent !== null) return null;
    if (
      host !== this.#host ||
      port !== this.#port ||
      socket.destroyed ||
      !socket.readable ||
      !socket.writable
    ) {
      this.#drop();
      return null;
    }
    // Left unref'd: the probe's deadline (its own timer, or its owner's) keeps the process alive meanwhile.
    this.#lent = events;
    return { socket, uses: this.#uses };
  }

  /**
   * Keeps `socket` (to `host`:`port`, after `uses` probes) for the next probe: the lent one back, or a new one
   * that its probe stopped watching, whose reads `route` then brings here; closes it instead once `close()` was
   * called.
   */
  park(socket: Socket, host: string, port: number, uses: number, route: ReadRoute | null): void {
    // Closed, or a second probe's connection while the first one's is still lent (the checker runs one at a time).
    if (this.#closed || socket.destroyed || (this.#lent !== null && socket !== this.#socket)) {
      this.release(socket);
      socket.on("error", ignore);
      socket.destroy();
      return;
    }
    if (socket !== this.#socket) {
      this.#drop();
      this.#socket = socket;
      if (route !== null) route.onBytes = this.#onData;
      // Unref'd once, when first kept; a lent one stays so (its probe's deadline keeps the process alive).
      socket.unref();
      socket.on("end", this.#onGone);
      socket.on("close", this.#onGone);
      socket.on("error", this.#onError);
    }
    this.#lent = null;
    this.#host = host;
    this.#port = port;
    this.#uses = uses;
  }

  /** Forgets `socket` if it is the lent one: its probe closes it (a failure, or the last of its N probes). */
  release(socket: Socket): void {
    if (socket !== this.#socket) return;
    this.#lent = null;
    this.#unwatch(socket);
    this.#socket = null;
  }

  /**
   * The answer reader for a probe with `conf` (`make` builds one): the server's own one, reset, unless another
   * probe has it; `readerDone` gives it back.
   */
  reader(conf: CheckConf, make: (conf: CheckConf) => AnswerReader | null): AnswerReader | null {
    if (this.#readerBusy) return make(conf);
    if (this.#readerConf !== conf) {
      this.#reader = make(conf);
      this.#readerConf = conf;
    } else {
      this.#reader?.reset();
    }
    this.#readerBusy = this.#reader !== null;
    return this.#reader;
  }

  /** The probe that took `reader` (from `reader()`) is done with it. */
  readerDone(reader: AnswerReader | null): void {
    if (reader !== null && reader === this.#reader) this.#readerBusy = false;
  }

  /** Has `probe` aborted by `close()` while it runs; `done()` forgets it again. */
  inflight(probe: Abortable): void {
    this.#inflight = probe;
  }

  /** Ends the probe in flight as a timeout (`timedByOwner`: its owner saw the deadline pass). */
  expire(): void {
    this.#inflight?.timedOut();
  }

  /** The probe that called `inflight(probe)` is over. */
  done(probe: Abortable): void {
    if (this.#inflight === probe) this.#inflight = null;
  }

  /**
   * Aborts the probe in flight and closes the idle connection, and every one given back later (the server left,
   * or checking stopped).
   */
  close(): void {
    this.#closed = true;
    this.#junk = 0;
    const probe = this.#inflight;
    this.#inflight = null;
    probe?.abort();
    this.#drop();
  }

  #unwatch(socket: Socket): void {
    socket.off("end", this.#onGone);
    socket.off("close", this.#onGone);
    socket.off("error", this.#onError);
  }

  #drop(): void {
    const socket = this.#socket;
    if (socket === null) return;
    this.#socket = null;
    this.#lent = null;
    this.#unwatch(socket);
    socket.on("error", ignore);
    socket.destroy();
  }
}
