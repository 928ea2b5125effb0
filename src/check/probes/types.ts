/**
 * The pure half of a health probe (check spec §2): the bytes a check type sends and the rule that turns what came
 * back into a verdict. No sockets here; `run.ts` is the I/O shell.
 */
import type { CheckConf } from "../../config/types.js";

/** A parser's answer: wait for more bytes, the peer is alive, or it is not (with why, for debug logs). */
export type ProbeVerdict = "again" | "alive" | { error: string };

/**
 * Judges everything received so far on one probe connection. `ended` is true once the peer has closed its side;
 * a parser never answers "again" then (the module's "NGX_AGAIN and the peer closed" is a failure, spec §2.1).
 */
export type ProbeParser = (received: Buffer, ended: boolean) => ProbeVerdict;

/** One check type: its request bytes and its parser, both fixed by the upstream's `CheckConf`. */
export interface ProbeProtocol {
  /** The bytes sent once connected (empty: send nothing). */
  request(conf: CheckConf): Buffer;
  /** The parser for this configuration (http and fastcgi read `expectAlive`). */
  parser(conf: CheckConf): ProbeParser;
  /**
   * tcp only: ms to wait after connect before a quiet connection counts as alive, so that a server that accepts
   * and closes at once is seen (the module's MSG_PEEK, spec §2.1 step 7).
   */
  settleMs?: number;
  /**
   * http only (the module's need_keepalive, which tcp loses here as in Tengine, spec §1.3): a reader of one whole
   * answer for a connection that may carry the next probe (`check_keepalive_requests` > 1); null when the
   * request itself asks the server to close (HTTP/1.0 without `Connection: keep-alive`, `Connection: close`).
   */
  reader?(this: void, conf: CheckConf): AnswerReader | null;
}

/**
 * A verdict on a connection that may carry the next probe: wait for more bytes, not alive, or alive once the
 * whole answer was read; `reusable` says whether it ended cleanly on a connection the server keeps open.
 */
export type AnswerVerdict = "again" | { error: string } | { alive: true; reusable: boolean };

/** Reads one answer as it comes, so that nothing of it is left for the next probe on the same connection. */
export interface AnswerReader {
  /** The next bytes from the server; the verdict so far. `chunk` may be reused once feed returns: keep a copy. */
  feed(chunk: Buffer): AnswerVerdict;
  /** The server closed its side before a verdict: why that is a failure. */
  end(): { error: string };
  /** Makes the reader ready for the next answer (a reader is kept per server rather than made per probe). */
  reset(): void;
}

/** The outcome of one probe; `reason` is in the module's log words (spec §7), `detail` says more when known. */
export type ProbeResult = { ok: true } | { ok: false; reason: string; detail?: string };

/** "again" while the peer may still send, else the failure for an answer cut short. */
export function incomplete(ended: boolean, what: string): ProbeVerdict {
  return ended ? { error: `connection closed before ${what}` } : "again";
}
