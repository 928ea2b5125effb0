/**
 * `type=http` (check spec §2.3): send `check_http_send` (default `GET / HTTP/1.0\r\n\r\n`), read only the status
 * line with the module's grammar, and judge its class against `check_http_expect_alive` (default 2xx 3xx). With
 * `check_keepalive_requests` > 1 and a request that lets the server keep the connection, `HttpAnswer` reads the
 * whole answer instead (spec §1.3, §9), so the connection can carry the next probe.
 */
import type { CheckConf, CheckStatusClass } from "../../config/types.js";
import {
  COLON,
  COMMA,
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  connectionOptions,
  CR,
  eqLower,
  Hdr,
  headerId,
  HEX,
  LF,
  parseLength,
  skipOws,
  SP,
  trimOwsEnd,
  untilByte,
} from "../../http1/common.js";
import {
  type AnswerReader,
  type AnswerVerdict,
  incomplete,
  type ProbeParser,
  type ProbeProtocol,
} from "./types.js";

/** The module's default `check_http_send`. */
export const HTTP_DEFAULT_SEND = "GET / HTTP/1.0\r\n\r\n";

/** `check_http_expect_alive`'s default for http (`NGX_CHECK_HTTP_2XX | NGX_CHECK_HTTP_3XX`). */
export const HTTP_DEFAULT_EXPECT: readonly CheckStatusClass[] = ["http_2xx", "http_3xx"];

/** The class of a status code; null is the module's NGX_CHECK_HTTP_ERR (1xx, 0xx, 6xx and up: never alive). */
export function statusClass(code: number): CheckStatusClass | null {
  if (code >= 200 && code < 300) return "http_2xx";
  if (code >= 300 && code < 400) return "http_3xx";
  if (code >= 400 && code < 500) return "http_4xx";
  if (code >= 500 && code < 600) return "http_5xx";
  return null;
}

/** Whether `code` is in one of the `expect` classes. */
export function statusAlive(code: number, expect: readonly CheckStatusClass[]): boolean {
  const cls = statusClass(code);
  return cls !== null && expect.includes(cls);
}

/** A status line: its code, "again" while incomplete, or "error" when it breaks the grammar. */
export type StatusLine = { code: number } | "again" | "error";

/** A complete status line with what keep-alive needs: the code, the HTTP version, and its length in bytes. */
export interface StatusLineInfo {
  code: number;
  major: number;
  minor: number;
  /** Bytes of the line, its LF included. */
  end: number;
}

const isDigit = (ch: number): boolean => ch >= 0x30 && ch <= 0x39;

/**
 * `ngx_http_upstream_check_parse_status_line`: `HTTP/` major (first digit 1-9) `.` minor, one or more spaces,
 * exactly 3 digits, then SP or `.` (IIS's `403.1`) and any text, or CR LF, or LF.
 */
export function readStatusLine(b: Buffer): StatusLineInfo | "again" | "error" {
  const prefix = "HTTP/";
  let state = 0;
  let code = 0;
  let count = 0;
  let major = 0;
  let minor = 0;
  for (let i = 0; i < b.length; i++) {
    const ch = b[i]!;
    if (i < prefix.length) {
      if (ch !== prefix.charCodeAt(i)) return "error";
      state = 1;
      continue;
    }
    switch (state) {
      case 1: // first digit of major
        if (ch < 0x31 || ch > 0x39) return "error";
        major = ch - 0x30;
        state = 2;
        break;
      case 2: // major digits or dot
        if (ch === 0x2e) state = 3;
        else if (!isDigit(ch)) return "error";
        else major = Math.min(major * 10 + ch - 0x30, 1000);
        break;
      case 3: // first digit of minor
        if (!isDigit(ch)) return "error";
        minor = ch - 0x30;
        state = 4;
        break;
      case 4: // minor digits or the space
        if (ch === SP) state = 5;
        else if (!isDigit(ch)) return "error";
        else minor = Math.min(minor * 10 + ch - 0x30, 1000);
        break;
      case 5: // spaces, then exactly 3 digits
        if (ch === SP) break;
        if (!isDigit(ch)) return "error";
        code = code * 10 + ch - 0x30;
        if (++count === 3) state = 6;
        break;
      case 6: // after the code
        if (ch === SP || ch === 0x2e) state = 7;
        else if (ch === CR) state = 8;
        else if (ch === LF) return { code, major, minor, end: i + 1 };
        else return "error";
        break;
      case 7: // reason phrase
        if (ch === CR) state = 8;
        else if (ch === LF) return { code, major, minor, end: i + 1 };
        break;
      default: // 8: after CR
        return ch === LF ? { code, major, minor, end: i + 1 } : "error";
    }
  }
  return "again";
}

/** The module's status-line parse: the code only. */
export function parseStatusLine(b: Buffer): StatusLine {
  const line = readStatusLine(b);
  return typeof line === "string" ? line : { code: line.code };
}

/** The parser for one http check: the first status line decides. */
export function httpParser(expect: readonly CheckStatusClass[]): ProbeParser {
  return (received, ended) => {
    const line = readStatusLine(received);
    if (line === "again") return incomplete(ended, "a complete status line");
    if (line === "error") return { error: "http parse status line error" };
    if (statusAlive(line.code, expect)) return "alive";
    return { error: `status ${line.code} is not in ${expect.join(" ") || "(none)"}` };
  };
}

// ------------------------------------------------------------------ kept connections (check_keepalive_requests)

/** The most bytes of status line and headers a probe on a kept connection reads before it gives up. */
export const MAX_HEAD = 64 * 1024;

/** What the probe's request implies for its answer. */
export interface RequestTraits {
  /** The server may keep the connection: HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `keep-alive`. */
  keepAlive: boolean;
  /** A HEAD request: the answer has no body whatever its headers say. */
  head: boolean;
}

/** Reads the request line and `Connection` headers of `check_http_send` (latin1 text). */
export function requestTraits(send: string): RequestTraits {
  const lines = send.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +\S+ +HTTP\/(\d+)\.(\d+)$/.exec(lines[0] ?? "");
  if (!m) return { keepAlive: false, head: false };
  let connection = 0;
  for (const line of lines.slice(1)) {
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).toLowerCase() === "connection") {
      connection |= connectionOptions(Buffer.from(line, "latin1"), colon + 1, line.length);
    }
  }
  return { keepAlive: persistent(Number(m[2]), Number(m[3]), connection), head: m[1] === "HEAD" };
}

/** RFC 9112 §9.3: whether a message of this version and `Connection` options (CONN_* bits) leaves it open. */
function persistent(major: number, minor: number, connection: number): boolean {
  if (major !== 1 || (connection & CONN_CLOSE) !== 0) return false;
  return minor >= 1 || (connection & CONN_KEEP_ALIVE) !== 0;
}

const SEMICOLON = 0x3b;

/**
 * A Content-Length value, read from the bytes: a list must agree with itself (RFC 9110 §8.6). The length, or -1
 * when an element is not 1 to 15 digits or two differ.
 */
function lengthList(b: Buffer, s: number, e: number): number {
  let length = -1;
  for (let p = s; ;) {
    const q = untilByte(b, p, e, COMMA);
    const ts = skipOws(b, p, q);
    const te = trimOwsEnd(b, ts, q);
    const n = te - ts > 15 ? -1 : parseLength(b, ts, te);
    if (n < 0 || (length >= 0 && n !== length)) return -1;
    length = n;
    if (q >= e) return length;
    p = q + 1;
  }
}

/** The Content-Length values of a head between `from` and `to`, as sent: an error message's words only. */
function lengthValues(head: Buffer, from: number, to: number): string {
  const out: string[] = [];
  for (let p = from; p < to;) {
    let lf = head.indexOf(LF, p);
    if (lf === -1 || lf > to) lf = to;
    const colon = head.indexOf(COLON, p);
    if (colon > p && colon < lf && headerId(head, p, colon) === Hdr.CONTENT_LENGTH) {
      out.push(head.toString("latin1", colon + 1, lf).trim());
    }
    p = lf + 1;
  }
  return out.join(", ");
}

/** Skips a chunked body as it comes (RFC 9112 §7.1), keeping none of it; Tengine's check drain. */
class ChunkedBody {
  #state: "size" | "ext" | "sizeLF" | "data" | "dataCR" | "dataLF" | "trailer" | "trailerLine" | "trailerLF" =
    "size";
  #size = 0;
  #digits = 0;
  #remaining = 0;

  /** Where the body ended in `b` (the last chunk's final CRLF consumed), "again", or why the framing is wrong. */
  feed(b: Buffer): number | "again" | { error: string } {
    let i = 0;
    while (i < b.length) {
      const ch = b[i]!;
      switch (this.#state) {
        case "size": {
          const d = HEX[ch]!;
          if (d < 0) {
            if (this.#digits === 0) return { error: "invalid chunk size" };
            this.#state = "ext"; // the byte is read there
            break;
          }
          // 12 hex digits are 2^48 bytes: more is no health page.
          if (++this.#digits > 12) return { error: "chunk size too large" };
          this.#size = this.#size * 16 + d;
          i++;
          break;
        }
        case "ext": // chunk extensions and spaces, up to the end of the line
          i++;
          if (ch === CR) this.#state = "sizeLF";
          else if (ch === LF) this.#sizeLine();
          break;
        case "sizeLF":
          if (ch !== LF) return { error: "invalid chunk size line" };
          i++;
          this.#sizeLine();
          break;
        case "data": {
          const take = Math.min(this.#remaining, b.length - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = "dataCR";
          break;
        }
        case "dataCR":
          i++;
          if (ch === CR) this.#state = "dataLF";
          else if (ch === LF) this.#state = "size";
          else return { error: "no line end after chunk data" };
          break;
        case "dataLF":
          if (ch !== LF) return { error: "no line end after chunk data" };
          i++;
          this.#state = "size";
          break;
        case "trailer": // a trailer field, or the empty line that ends the body
          i++;
          if (ch === LF) return i;
          this.#state = ch === CR ? "trailerLF" : "trailerLine";
          break;
        case "trailerLine":
          i++;
          if (ch === LF) this.#state = "trailer";
          break;
        default: // trailerLF
          if (ch !== LF) return { error: "invalid end of chunked body" };
          return i + 1;
      }
    }
    return "again";
  }

  #sizeLine(): void {
    this.#remaining = this.#size;
    this.#state = this.#size === 0 ? "trailer" : "data";
    this.#size = 0;
    this.#digits = 0;
  }
}

const CLOSE_AFTER: AnswerVerdict = { alive: true, reusable: false };
const REUSABLE: AnswerVerdict = { alive: true, reusable: true };
const EMPTY = Buffer.alloc(0);
const NO_LENGTH = -1;
const BAD_LENGTH = -2;
/**
 * One http answer on a connection that may carry the next probe (Tengine's keep-alive check, spec §9): the status
 * line decides as in `httpParser` (a failing one at once), then the headers are read and the body skipped by
 * Content-Length or chunked framing, so that nothing of this answer is left to be taken for the next one's status
 * line (Tengine #384). `Connection: close`, an HTTP/1.0 answer without `keep-alive` or a body that ends with the
 * connection: alive at the end of the headers, and the connection is not reused. Bytes after the answer, bad
 * framing, or a close before the answer's end: a failure.
 */
export class HttpAnswer implements AnswerReader {
  #head: Buffer = EMPTY;
  #status: StatusLineInfo | null = null;
  /** Where the next header line starts in #head. */
  #scan = 0;
  /** Content-Length so far: NO_LENGTH, the value, or BAD_LENGTH (not digits, or values that disagree). */
  #length = NO_LENGTH;
  /** Transfer codings named so far, and whether the last one is `chunked`. */
  #codings = 0;
  #lastChunked = false;
  /** The answer's `Connection` options (CONN_* bits). */
  #connection = 0;
  #body: "none" | "length" | "chunked" | "done" = "none";
  #remaining = 0;
  #chunks: ChunkedBody | null = null;

  constructor(
    private readonly expect: readonly CheckStatusClass[],
    private readonly headRequest: boolean,
  ) {}

  reset(): void {
    this.#head = EMPTY;
    this.#status = null;
    this.#scan = 0;
    this.#length = NO_LENGTH;
    this.#codings = 0;
    this.#lastChunked = false;
    this.#connection = 0;
    this.#body = "none";
    this.#remaining = 0;
    this.#chunks = null;
  }

  feed(chunk: Buffer): AnswerVerdict {
    if (this.#body !== "none") return this.#skip(chunk);
    this.#head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk]);
    const verdict = this.#readHead();
    if (verdict !== null) {
      // A head cut short is kept for the next bytes: a copy, `chunk` may be the caller's reused buffer.
      if (verdict === "again" && this.#head === chunk) this.#head = Buffer.from(chunk);
      return verdict;
    }
    const rest = this.#head.subarray(this.#scan);
    this.#head = EMPTY;
    return this.#skip(rest);
  }

  end(): { error: string } {
    if (this.#body !== "none") return { error: "connection closed before the end of the body" };
    return {
      error: this.#status
        ? "connection closed before the end of the headers"
        : "connection closed before a complete status line",
    };
  }

  /** The verdict when the head decides it (or is incomplete); null when a body to skip follows at #scan. */
  #readHead(): AnswerVerdict | null {
    const head = this.#head;
    if (this.#status === null) {
      const line = readStatusLine(head);
      if (line === "again") return this.#tooLong() ?? "again";
      if (line === "error") return { error: "http parse status line error" };
      if (!statusAlive(line.code, this.expect)) {
        return { error: `status ${line.code} is not in ${this.expect.join(" ") || "(none)"}` };
      }
      this.#status = line;
      this.#scan = line.end;
    }
    // Read as bytes: only the values of the three fields that frame the answer become strings.
    for (;;) {
      const start = this.#scan;
      const lf = head.indexOf(LF, start);
      if (lf === -1) return this.#tooLong() ?? "again";
      const end = lf > start && head[lf - 1] === CR ? lf - 1 : lf;
      this.#scan = lf + 1;
      if (end === start) return this.#framing(this.#status);
      let colon = -1;
      for (let i = start; i < end; i++) {
        const ch = head[i];
        if (ch === CR) return { error: "malformed header line" };
        if (ch === COLON && colon === -1) colon = i;
      }
      // A line without a colon is skipped, as Tengine's parser does; `Name :` (space before the colon) is no
      // field RFC 9112 allows, so it does not frame the body either.
      if (colon <= start) continue;
      const field = headerId(head, start, colon);
      if (field === Hdr.CONNECTION) this.#connection |= connectionOptions(head, colon + 1, end);
      else if (field === Hdr.CONTENT_LENGTH) {
        const n = this.#length === BAD_LENGTH ? BAD_LENGTH : lengthList(head, colon + 1, end);
        this.#length = n < 0 || (this.#length !== NO_LENGTH && n !== this.#length) ? BAD_LENGTH : n;
      } else if (field === Hdr.TRANSFER_ENCODING) this.#readCodings(head, colon + 1, end);
    }
  }

  #tooLong(): AnswerVerdict | null {
    return this.#head.length > MAX_HEAD ? { error: `no end of the headers within ${MAX_HEAD} bytes` } : null;
  }

  /** RFC 9112 §6.3 for an answer: how its body ends, once the headers are read. */
  #framing(status: StatusLineInfo): AnswerVerdict | null {
    if (!persistent(status.major, status.minor, this.#connection)) return CLOSE_AFTER;
    if (this.headRequest || status.code === 204 || status.code === 304) {
      this.#body = "length";
      this.#remaining = 0;
      return null;
    }
    if (this.#codings > 0) {
      // Not chunked last: the body ends with the connection. With Content-Length too: a message RFC 9112 says to
      // treat as an error; the connection is not reused.
      if (!this.#lastChunked || this.#length !== NO_LENGTH) return CLOSE_AFTER;
      this.#body = "chunked";
      this.#chunks = new ChunkedBody();
      return null;
    }
    if (this.#length === BAD_LENGTH) {
      return { error: `invalid Content-Length "${lengthValues(this.#head, status.end, this.#scan)}"` };
    }
    if (this.#length !== NO_LENGTH) {
      this.#body = "length";
      this.#remaining = this.#length;
      return null;
    }
    return CLOSE_AFTER;
  }

  /** Counts the codings of a Transfer-Encoding value (parameters dropped) and notes whether the last is chunked. */
  #readCodings(b: Buffer, s: number, e: number): void {
    for (let p = s; p < e;) {
      const q = untilByte(b, p, e, COMMA);
      const ts = skipOws(b, p, q);
      const te = trimOwsEnd(b, ts, untilByte(b, p, q, SEMICOLON));
      if (te > ts) {
        this.#codings++;
        this.#lastChunked = eqLower(b, ts, te, "chunked");
      }
      p = q + 1;
    }
  }

  /** Skips body bytes; alive once the body ended with nothing after it. */
  #skip(bytes: Buffer): AnswerVerdict {
    let used: number;
    if (this.#body === "done") used = 0;
    else if (this.#body === "length") {
      used = Math.min(this.#remaining, bytes.length);
      this.#remaining -= used;
      if (this.#remaining > 0) return "again";
    } else {
      const r = this.#chunks!.feed(bytes);
      if (typeof r !== "number") return r;
      used = r;
    }
    this.#body = "done";
    const left = bytes.length - used;
    if (left > 0) return { error: `${left} bytes after the end of the answer` };
    return REUSABLE;
  }
}

// A request's traits, per configuration (configurations are immutable).
const traits = new WeakMap<CheckConf, RequestTraits>();

/** `type=http`. */
export const http: ProbeProtocol = {
  request: (conf: CheckConf) => Buffer.from(conf.send ?? HTTP_DEFAULT_SEND, "latin1"),
  parser: (conf: CheckConf) => httpParser(conf.expectAlive ?? HTTP_DEFAULT_EXPECT),
  reader: (conf: CheckConf) => {
    let t = traits.get(conf);
    if (t === undefined) {
      t = requestTraits(conf.send ?? HTTP_DEFAULT_SEND);
      traits.set(conf, t);
    }
    return t.keepAlive ? new HttpAnswer(conf.expectAlive ?? HTTP_DEFAULT_EXPECT, t.head) : null;
  },
};
