/**
 * One probe over a real socket (check spec §2.1): connect, send the type's bytes, feed what comes back to its
 * parser, and settle once on the verdict, a close, an error, the `timeout` (one timer for connect + send +
 * receive) or an abort. By default every probe opens a fresh connection and closes it when judged, for every
 * type: the module kept tcp connections by mistake, which stalled probing (yao #90, #144), and a fresh connection
 * also proves the listener still accepts. With `check_keepalive_requests N` > 1, an http probe given the server's
 * `ProbeConnection` reads the whole answer and, when it passed on a connection the server keeps open, leaves it
 * there for the next probe, up to N probes per connection (Tengine's semantics, spec §1.3 and §9). The socket and
 * both timers are gone (or kept, unref'd) when the promise resolves; it never rejects.
 */
import type { Socket } from "node:net";
import type { CheckConf } from "../../config/types.js";
import { errnoText } from "../../lib/errors.js";
import {
  connectProbe,
  type Abortable,
  type ProbeConnection,
  type ProbeEvents,
  type ReadRoute,
} from "./kept.js";
import { PROBE_PROTOCOLS } from "./registry.js";
import type { AnswerReader, AnswerVerdict, ProbeParser, ProbeProtocol, ProbeResult } from "./types.js";

/** A verdict must come within this many bytes (a FastCGI record holds at most 65535 + 255 + 8). */
export const MAX_ANSWER = 1 << 20;

/** setTimeout takes at most 2^31 - 1 ms and turns larger delays into 1 ms. */
export const MAX_TIMER = 2 ** 31 - 1;

/** The port a probe dials: `check port=` when set, else the server's own (spec §1.2). */
export function probePort(conf: CheckConf, serverPort: number): number {
  return conf.port > 0 ? conf.port : serverPort;
}

/** How a peer is named in probe messages: `host:port`, IPv6 in brackets (nginx's `check_peer_addr->name`). */
export function probeAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

// Request bytes per configuration: configurations are immutable, and a fastcgi request is built, not constant.
const requests = new WeakMap<CheckConf, Buffer>();

function requestOf(conf: CheckConf): Buffer {
  let bytes = requests.get(conf);
  if (bytes === undefined) {
    bytes = PROBE_PROTOCOLS[conf.type].request(conf);
    requests.set(conf, bytes);
  }
  return bytes;
}

/** nginx's words for a failed system call: `connect() failed (111: Connection refused)`. */
function syscallFailure(err: unknown, connected: boolean): string {
  const syscall = (err as NodeJS.ErrnoException).syscall;
  const call =
    syscall === "write" || syscall === "writev"
      ? "send()"
      : syscall === "read" || (connected && syscall !== "connect")
        ? "recv()"
        : "connect()";
  return `${call} failed ${errnoText(err)}`;
}

/**
 * Probes `host:port` once as `conf.type` says, within `conf.timeout` ms. The caller picks the port (`probePort`).
 * An abort closes the socket at once and resolves as a failure that the caller should not count. `conn`, the
 * server's probe session, holds the kept connection of http probes when `conf.keepaliveRequests` > 1; when it is
 * given, its `close()` aborts the probe and `signal` is only read at the start (a listener per probe is costly).
 */
export function runProbe(
  host: string,
  port: number,
  conf: CheckConf,
  signal?: AbortSignal,
  conn?: ProbeConnection,
): Promise<ProbeResult> {
  return new Promise((resolve) => startProbe(host, port, conf, signal, conn, resolve));
}

/** `runProbe` with a callback, called once: what the checker runs (no promise and no microtask per probe). */
export function startProbe(
  host: string,
  port: number,
  conf: CheckConf,
  signal: AbortSignal | undefined,
  conn: ProbeConnection | undefined,
  done: (result: ProbeResult) => void,
): void {
  if (signal?.aborted || conn?.closed) return done(abortedAt(probeAddress(host, port)));
  new Probe(host, port, conf, signal, conn).run(done);
}

function abortedAt(addr: string): ProbeResult {
  return { ok: false, reason: `check aborted with peer: ${addr}` };
}

/** The timeout of one probe (a plain function and the probe as argument: no closure per probe). */
function timedOut(probe: Probe): void {
  probe.timedOut();
}

/**
 * One probe's state: a class rather than a dozen closures, because at a few thousand probes a second their
 * allocation showed in the CPU profile. Every message string is built only when the probe fails.
 */
class Probe implements ProbeEvents, Abortable {
  readonly #proto: ProbeProtocol;
  readonly #request: Buffer;
  /** A reader of whole answers when the connection may be kept (http, N > 1, a request that allows it). */
  #reader: AnswerReader | null;
  readonly #parse: ProbeParser | null;
  #resolve: (result: ProbeResult) => void = ignoreResult;
  #socket: Socket | null = null;
  /** The handlers of a socket this probe opened (a kept one reports through `conn`). */
  #watchers: Watchers | null = null;
  /** Where the reads of the socket this probe opened go (to `conn` once it keeps the socket). */
  #route: ReadRoute | null = null;
  #received: Buffer = EMPTY;
  #connected = false;
  /** The socket came from `conn`, and nothing of this probe's answer arrived on it yet. */
  #reused = false;
  /** The socket is the one `conn` lent: `conn` watches it and takes it back or forgets it. */
  #lent = false;
  /** Probes sent over this socket, this one included. */
  #uses = 0;
  #done = false;
  #deadline: NodeJS.Timeout | undefined;
  #settle: NodeJS.Timeout | undefined;
  #settleTurn: NodeJS.Immediate | undefined;
  /** The listener on `signal`, made only when a probe runs without `conn`. */
  #onAbort: (() => void) | null = null;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly conf: CheckConf,
    readonly signal: AbortSignal | undefined,
    readonly conn: ProbeConnection | undefined,
  ) {
    this.#proto = PROBE_PROTOCOLS[conf.type];
    this.#request = requestOf(conf);
    this.#reader = this.#newReader();
    this.#parse = this.#reader === null ? this.#proto.parser(conf) : null;
  }

  run(done: (result: ProbeResult) => void): void {
    this.#resolve = done;
    // A tcp probe that connected and saw no close is alive even when the timeout ends its settle window.
    const conn = this.conn;
    if (conn === undefined || !conn.timedByOwner) {
      this.#deadline = setTimeout(timedOut, Math.min(this.conf.timeout, MAX_TIMER), this);
    }
    if (conn !== undefined) conn.inflight(this);
    else if (this.signal !== undefined) {
      this.#onAbort = () => this.abort();
      this.signal.addEventListener("abort", this.#onAbort, { once: true });
    }

    const kept = this.#reader === null ? null : conn!.take(this.host, this.port, this);
    if (kept === null) return this.#open();
    if ("junk" in kept) {
      return this.#finish(
        this.#failure(
          `check protocol ${this.conf.type} error`,
          `${kept.junk} unexpected bytes on the kept connection after the last answer`,
        ),
      );
    }
    this.#socket = kept.socket;
    this.#connected = true;
    this.#reused = true;
    this.#lent = true;
    this.#uses = kept.uses;
    this.#send();
  }

  abort(): void {
    this.#finish(abortedAt(this.#addr()));
  }

  timedOut(): void {
    this.#finish(
      this.#connected && this.#proto.settleMs !== undefined ? { ok: true } : this.#failure("check time out"),
    );
  }

  onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.#socket || this.#done) return;
    this.#reused = false;
    if (this.#reader !== null) return this.#read(this.#reader.feed(chunk));
    // A copy: `chunk` is the shared read buffer.
    this.#received =
      this.#received.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#received, chunk]);
    this.#judge(false);
  }

  onEnd(socket: Socket): void {
    if (socket !== this.#socket || this.#done || this.#retryFresh()) return;
    if (this.#reader !== null) {
      return this.#finish(this.#failure("check connection closed prematurely", this.#reader.end().error));
    }
    this.#judge(true);
  }

  onError(socket: Socket, err: Error): void {
    if (socket !== this.#socket || this.#done || this.#retryFresh()) return;
    this.#finish(this.#failure(syscallFailure(err, this.#connected)));
  }

  #addr(): string {
    return probeAddress(this.host, this.port);
  }

  #failure(reason: string, detail?: string): ProbeResult {
    const addr = this.#addr();
    return detail === undefined
      ? { ok: false, reason: `${reason} with peer: ${addr}` }
      : { ok: false, reason: `${reason} with peer: ${addr}`, detail };
  }

  #newReader(): AnswerReader | null {
    const make = this.#proto.reader;
    return this.conn !== undefined && this.conf.keepaliveRequests > 1 && make !== undefined
      ? this.conn.reader(this.conf, make)
      : null;
  }

  #finish(result: ProbeResult, keep = false): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    if (this.#settle !== undefined) clearTimeout(this.#settle);
    if (this.#settleTurn !== undefined) clearImmediate(this.#settleTurn);
    const conn = this.conn;
    if (conn !== undefined) {
      conn.done(this);
      conn.readerDone(this.#reader);
    } else if (this.#onAbort !== null) this.signal?.removeEventListener("abort", this.#onAbort);
    const s = this.#socket;
    this.#socket = null;
    if (s !== null) {
      if (keep && conn !== undefined && this.#uses < this.conf.keepaliveRequests) {
        this.#unwatch(s);
        conn.park(s, this.host, this.port, this.#uses, this.#route);
      } else {
        this.#drop(s);
      }
    }
    this.#resolve(result);
  }

  /** Closes `s`, which `conn` forgets first when it lent it. */
  #drop(s: Socket): void {
    if (this.#lent) {
      this.#lent = false;
      this.conn!.release(s);
    }
    s.destroy();
  }

  #judge(ended: boolean): void {
    const parse = this.#parse;
    if (this.#done || parse === null) return;
    const received = this.#received;
    const verdict = parse(received, false);
    if (verdict === "alive") return this.#finish({ ok: true });
    if (verdict !== "again") {
      return this.#finish(this.#failure(`check protocol ${this.conf.type} error`, verdict.error));
    }
    if (ended) {
      // The module fails "NGX_AGAIN and the peer closed" silently; the parser says what was missing.
      const why = parse(received, true);
      return this.#finish(
        this.#failure("check connection closed prematurely", typeof why === "object" ? why.error : undefined),
      );
    }
    if (received.length > MAX_ANSWER) {
      this.#finish(
        this.#failure(`check protocol ${this.conf.type} error`, `no verdict within ${MAX_ANSWER} bytes`),
      );
    }
  }

  #read(verdict: AnswerVerdict): void {
    if (verdict === "again") return;
    if ("error" in verdict) {
      return this.#finish(this.#failure(`check protocol ${this.conf.type} error`, verdict.error));
    }
    this.#finish({ ok: true }, verdict.reusable);
  }

  /**
   * A kept connection that the server closed as this probe went out (its keep-alive timeout crossing our
   * interval) is no failure: the probe starts again on a fresh connection, once, within the same timeout.
   */
  #retryFresh(): boolean {
    if (!this.#reused) return false;
    this.#reused = false;
    const s = this.#socket;
    if (s !== null) this.#drop(s);
    this.#reader?.reset();
    this.#open();
    return true;
  }

  #send(): void {
    this.#uses++;
    if (this.#request.length > 0) this.#socket?.write(this.#request);
  }

  #open(): void {
    let s: Socket;
    const route: ReadRoute = { onBytes: (chunk) => this.onData(s, chunk) };
    try {
      s = connectProbe(this.host, this.port, route);
    } catch (err) {
      // A port out of range or a bad host throws at once.
      return this.#finish(this.#failure(syscallFailure(err, false)));
    }
    this.#socket = s;
    this.#connected = false;
    this.#uses = 0;
    this.#route = route;
    const w: Watchers = { end: () => this.onEnd(s), error: (err) => this.onError(s, err) };
    this.#watchers = w;
    s.on("end", w.end);
    s.on("close", w.end);
    s.on("error", w.error);
    s.on("connect", () => {
      if (s !== this.#socket || this.#done) return;
      this.#connected = true;
      this.#send();
      const settleMs = this.#proto.settleMs;
      if (settleMs !== undefined) {
        // After the timer, let one poll phase run first, so a close already on the wire is read before we decide.
        this.#settle = setTimeout(
          () => (this.#settleTurn = setImmediate(() => this.#finish({ ok: true }))),
          settleMs,
        );
      }
    });
  }

  /** Takes this probe's listeners off a socket it opened, before `conn` keeps it. */
  #unwatch(s: Socket): void {
    const w = this.#watchers;
    if (this.#lent || w === null) return;
    s.removeListener("end", w.end);
    s.removeListener("close", w.end);
    s.removeListener("error", w.error);
  }
}

/** The listeners a probe puts on a socket it opened. */
interface Watchers {
  end: () => void;
  error: (err: Error) => void;
}

const EMPTY = Buffer.alloc(0);
const ignoreResult = (): void => undefined;
