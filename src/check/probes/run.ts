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
import { connect, type Socket } from "node:net";
import type { CheckConf } from "../../config/types.js";
import { errnoText } from "../../lib/errors.js";
import type { ProbeConnection } from "./kept.js";
import { PROBE_PROTOCOLS } from "./registry.js";
import type { AnswerReader, AnswerVerdict, ProbeResult } from "./types.js";

/** A verdict must come within this many bytes (a FastCGI record holds at most 65535 + 255 + 8). */
export const MAX_ANSWER = 1 << 20;

// setTimeout takes at most 2^31 - 1 ms and turns larger delays into 1 ms.
const MAX_TIMER = 2 ** 31 - 1;

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
  const addr = probeAddress(host, port);
  const aborted: ProbeResult = { ok: false, reason: `check aborted with peer: ${addr}` };
  if (signal?.aborted || conn?.closed) return Promise.resolve(aborted);
  const proto = PROBE_PROTOCOLS[conf.type];
  const request = requestOf(conf);
  const failure = (reason: string, detail?: string): ProbeResult =>
    detail === undefined
      ? { ok: false, reason: `${reason} with peer: ${addr}` }
      : { ok: false, reason: `${reason} with peer: ${addr}`, detail };
  // A reader of whole answers when the connection may be kept (http, N > 1, a request that allows it).
  const newReader = (): AnswerReader | null =>
    conn !== undefined && conf.keepaliveRequests > 1 ? (proto.reader?.(conf) ?? null) : null;
  let reader = newReader();
  const parse = reader === null ? proto.parser(conf) : null;
  const key = addr;

  return new Promise<ProbeResult>((resolve) => {
    let socket: Socket | null = null;
    let received: Buffer = Buffer.alloc(0);
    let connected = false;
    /** The socket came from `conn`, and nothing of this probe's answer arrived on it yet. */
    let reused = false;
    /** Probes sent over this socket, this one included. */
    let uses = 0;
    let done = false;
    let settle: NodeJS.Timeout | undefined;
    let settleTurn: NodeJS.Immediate | undefined;

    const finish = (result: ProbeResult, keep = false): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(settle);
      clearImmediate(settleTurn);
      if (forget === null) signal?.removeEventListener("abort", onAbort);
      else forget();
      const s = socket;
      socket = null;
      if (s !== null && keep && conn !== undefined && uses < conf.keepaliveRequests) {
        s.removeListener("data", onData);
        s.removeListener("end", onEnd);
        s.removeListener("close", onEnd);
        s.removeListener("error", onError);
        conn.park(s, key, uses);
      } else {
        s?.destroy();
      }
      resolve(result);
    };
    const onAbort = (): void => finish(aborted);
    // A tcp probe that connected and saw no close is alive even when the timeout ends its settle window.
    const deadline = setTimeout(
      () => {
        finish(connected && proto.settleMs !== undefined ? { ok: true } : failure("check time out"));
      },
      Math.min(conf.timeout, MAX_TIMER),
    );
    const forget = conn === undefined ? null : conn.inflight(onAbort);
    if (forget === null) signal?.addEventListener("abort", onAbort, { once: true });

    const judge = (ended: boolean): void => {
      if (done || parse === null) return;
      const verdict = parse(received, false);
      if (verdict === "alive") return finish({ ok: true });
      if (verdict !== "again") return finish(failure(`check protocol ${conf.type} error`, verdict.error));
      if (ended) {
        // The module fails "NGX_AGAIN and the peer closed" silently; the parser says what was missing.
        const why = parse(received, true);
        return finish(
          failure("check connection closed prematurely", typeof why === "object" ? why.error : undefined),
        );
      }
      if (received.length > MAX_ANSWER) {
        finish(failure(`check protocol ${conf.type} error`, `no verdict within ${MAX_ANSWER} bytes`));
      }
    };
    const read = (verdict: AnswerVerdict): void => {
      if (verdict === "again") return;
      if ("error" in verdict) return finish(failure(`check protocol ${conf.type} error`, verdict.error));
      finish({ ok: true }, verdict.reusable);
    };

    // A kept connection that the server closed as this probe went out (its keep-alive timeout crossing our
    // interval) is no failure: the probe starts again on a fresh connection, once, within the same timeout.
    const retryFresh = (): boolean => {
      if (!reused) return false;
      reused = false;
      socket?.destroy();
      reader = newReader();
      open();
      return true;
    };
    function onData(this: Socket, chunk: Buffer): void {
      if (this !== socket || done) return;
      reused = false;
      if (reader !== null) return read(reader.feed(chunk));
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      judge(false);
    }
    function onEnd(this: Socket): void {
      if (this !== socket || done || retryFresh()) return;
      if (reader !== null) return finish(failure("check connection closed prematurely", reader.end().error));
      judge(true);
    }
    function onError(this: Socket, err: Error): void {
      if (this !== socket || done || retryFresh()) return;
      finish(failure(syscallFailure(err, connected)));
    }
    const watch = (s: Socket): void => {
      s.on("data", onData);
      s.on("end", onEnd);
      s.on("close", onEnd);
      s.on("error", onError);
    };
    const send = (): void => {
      uses++;
      if (request.length > 0) socket?.write(request);
    };

    function open(): void {
      let s: Socket;
      try {
        s = connect({ host, port, noDelay: true });
      } catch (err) {
        // A port out of range or a bad host throws at once.
        return finish(failure(syscallFailure(err, false)));
      }
      socket = s;
      connected = false;
      uses = 0;
      watch(s);
      s.on("connect", () => {
        if (s !== socket || done) return;
        connected = true;
        send();
        if (proto.settleMs !== undefined) {
          // After the timer, let one poll phase run first, so a close already on the wire is read before we decide.
          settle = setTimeout(() => (settleTurn = setImmediate(() => finish({ ok: true }))), proto.settleMs);
        }
      });
    }

    const kept = reader === null ? null : conn!.take(key);
    if (kept === null) return open();
    if ("junk" in kept) {
      return finish(
        failure(
          `check protocol ${conf.type} error`,
          `${kept.junk} unexpected bytes on the kept connection after the last answer`,
        ),
      );
    }
    socket = kept.socket;
    connected = true;
    reused = true;
    uses = kept.uses;
    watch(kept.socket);
    send();
  });
}
