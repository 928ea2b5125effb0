/**
 * Strict HTTP/1.1 request head parser (RFC 9112 §2-§6) giving nginx's answers and error-log wording
 * (ngx_http_parse_request_line(), ngx_http_process_request_headers(), ngx_http_process_request_header()).
 * It works on the bytes in place: one pass validates and records offsets, one latin1 decode of the head
 * then yields every string.
 */
import {
  connectionOptions,
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  CONN_UPGRADE,
  CR,
  eqLower,
  HEAD_TOO_LARGE,
  Hdr,
  headerId,
  LF,
  LINE_TOO_LONG,
  LOG_QUOTE_MAX,
  logText,
  methodName,
  NEED_MORE,
  parseLength,
  quoteBadLine,
  scan,
  scanFields,
  SP,
  validHost,
  type HeadProgress,
} from "./common.js";

/** Limits from `large_client_header_buffers N SIZE`: a line ≤ SIZE, the whole head ≤ N×SIZE (CRLFs included). */
export interface HeadLimits {
  maxRequestLine: number;
  maxHeaderLine: number;
  maxHead: number;
}

/** A parsed request head; strings are latin1 decodings of the bytes received. */
export interface RequestHead {
  /** Method token (nginx's alphabet: A-Z, "_", "-"). */
  method: string;
  /** request-target as sent: origin-form, absolute-form, "*" (OPTIONS) or authority-form (CONNECT). */
  target: string;
  versionMinor: 0 | 1;
  /** Flat [name, value, ...] as received: name case kept, value trimmed of OWS. */
  headers: string[];
  /** Host value, or the authority of an absolute-form target, which wins (RFC 9112 §3.2.2). */
  host: string | null;
  contentLength: number | null;
  chunked: boolean;
  keepAlive: boolean;
  /** Upgrade value when Connection lists "upgrade" (HTTP/1.1 only, RFC 9110 §7.8). */
  upgrade: string | null;
  /** Expect: 100-continue on an HTTP/1.1 request (RFC 9110 §10.1.1). */
  expectContinue: boolean;
  /** Bytes of the head from `start`, leading empty lines and the final CRLFCRLF included. */
  headBytes: number;
}

/** Result of parseRequestHead(); on "error" answer `status` with nginx's page for `reason` and log `log`. */
export type RequestParse =
  | { kind: "incomplete" }
  | { kind: "head"; head: RequestHead }
  | { kind: "error"; status: 400 | 414 | 501 | 505; reason: string; log: string };

type RequestError = Extract<RequestParse, { kind: "error" }>;

const INCOMPLETE: RequestParse = Object.freeze({ kind: "incomplete" });

/** Title of nginx's error page for each refusal (ngx_http_special_response.c; 494 is shown as 400). */
const REASON = {
  400: "Bad Request",
  414: "Request-URI Too Large",
  501: "Not Implemented",
  505: "HTTP Version Not Supported",
} as const;
const TOO_LARGE = "Request Header Or Cookie Too Large";

function fail(status: RequestError["status"], log: string, reason: string = REASON[status]): RequestError {
  return { kind: "error", status, reason, log };
}

function table(test: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = test(c) ? 1 : 0;
  return t;
}
/** nginx's method alphabet (sw_method in ngx_http_parse_request_line()); stricter than RFC 9110's token. */
const METHOD = table((c) => (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x2d);
/** request-target bytes: VCHAR and, as nginx, raw obs-text; SP ends it, CTLs and DEL are refused. */
const TARGET = table((c) => c > 0x20 && c !== 0x7f);
/** scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1). */
const SCHEME = table(
  (c) =>
    ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e,
);
const HTTP_SLASH = [0x48, 0x54, 0x54, 0x50, 0x2f];

/** Request-line scan results below zero (NEED_MORE and HEAD_TOO_LARGE are shared with scanFields()). */
const URI_TOO_LONG = -10;
const BAD_METHOD = -11;
const BAD_REQUEST = -12;
const BAD_VERSION = -13;
const HTTP_09 = -14;
const BAD_HOST = -15;

/** Offsets found by scanRequestLine()/checkTarget(); module scratch so a parse allocates nothing for them. */
const rl = { methodEnd: 0, targetStart: 0, targetEnd: 0, minor: 0 as 0 | 1, authStart: -1, authEnd: -1 };

function lineOut(q: number, ls: number, maxLine: number, headLimit: number): number {
  if (q - ls >= maxLine) return URI_TOO_LONG;
  return q >= headLimit ? HEAD_TOO_LARGE : NEED_MORE;
}

/**
 * request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3), exactly: one SP each, no
 * trailing whitespace, a CRLF. Errors are found as early as nginx finds them (a TLS hello gets its 400 at
 * once), and a line that outgrows maxLine is a 414 before its end arrives. Returns the offset after the LF.
 */
function scanRequestLine(buf: Buffer, ls: number, e: number, maxLine: number, headLimit: number): number {
  const le = e - ls > maxLine ? ls + maxLine : e;
  let p = ls;
  while (p < le && METHOD[buf[p]!] === 1) p++;
  if (p >= le) return lineOut(p, ls, maxLine, headLimit);
  if (buf[p] !== SP || p === ls) return BAD_METHOD;
  rl.methodEnd = p;
  const ts = ++p;
  while (p < le && TARGET[buf[p]!] === 1) p++;
  if (p >= le) return lineOut(p, ls, maxLine, headLimit);
  if (p === ts) return BAD_REQUEST;
  rl.targetStart = ts;
  rl.targetEnd = p;
  if (buf[p] === CR || buf[p] === LF) return HTTP_09;
  if (buf[p] !== SP) return BAD_REQUEST;
  p++;
  // "HTTP/1." DIGIT CR, byte by byte so that a partial line is told from a wrong one.
  for (let i = 0; i < 9; i++, p++) {
    if (p >= le) return lineOut(p, ls, maxLine, headLimit);
    const c = buf[p]!;
    if (i < 5) {
      if (c !== HTTP_SLASH[i]) return BAD_REQUEST;
    } else if (i === 5) {
      // nginx answers 505 as soon as the major version is above 1 (NGX_HTTP_PARSE_INVALID_VERSION).
      if (c >= 0x32 && c <= 0x39) return BAD_VERSION;
      if (c !== 0x31) return BAD_REQUEST;
    } else if (i === 6) {
      if (c !== 0x2e) return BAD_REQUEST;
    } else if (i === 7) {
      if (c < 0x30 || c > 0x39) return BAD_REQUEST;
      // HTTP/1.2+ is handled as the highest minor we implement (RFC 9110 §2.5).
      rl.minor = c === 0x30 ? 0 : 1;
    } else if (c !== CR) return BAD_REQUEST;
  }
  if (p >= le) return lineOut(p, ls, maxLine, headLimit);
  return buf[p] === LF ? p + 1 : BAD_REQUEST;
}

/**
 * The four target forms of RFC 9112 §3.2, each only where it belongs: authority-form for CONNECT alone,
 * "*" for OPTIONS alone, absolute-form with a valid authority and no userinfo (RFC 9110 §4.2.4).
 */
function checkTarget(buf: Buffer, ms: number, me: number, ts: number, te: number): number {
  rl.authStart = rl.authEnd = -1;
  const c0 = buf[ts]!;
  const len = me - ms;
  if (len === 7 && isWord(buf, ms, "CONNECT")) return validHost(buf, ts, te, true) ? 0 : BAD_REQUEST;
  if (c0 === 0x2f) return 0;
  if (c0 === 0x2a) return te === ts + 1 && len === 7 && isWord(buf, ms, "OPTIONS") ? 0 : BAD_REQUEST;
  if ((c0 | 0x20) < 0x61 || (c0 | 0x20) > 0x7a) return BAD_REQUEST;
  let p = ts + 1;
  while (p < te && SCHEME[buf[p]!] === 1) p++;
  if (te - p < 3 || buf[p] !== 0x3a || buf[p + 1] !== 0x2f || buf[p + 2] !== 0x2f) return BAD_REQUEST;
  const as = p + 3;
  p = as;
  while (p < te && buf[p] !== 0x2f && buf[p] !== 0x3f) p++;
  if (!validHost(buf, as, p, false)) return BAD_HOST;
  rl.authStart = as;
  rl.authEnd = p;
  return 0;
}

function isWord(buf: Buffer, s: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if (buf[s + i] !== word.charCodeAt(i)) return false;
  return true;
}

function lineError(code: number): RequestError {
  switch (code) {
    case URI_TOO_LONG:
      return fail(414, "client sent too long URI");
    case HEAD_TOO_LARGE:
      return fail(400, "client sent too large request", TOO_LARGE);
    case BAD_METHOD:
      return fail(400, "client sent invalid method");
    case BAD_VERSION:
      return fail(505, "client sent invalid version");
    case HTTP_09:
      // nginx still serves HTTP/0.9 GETs; a proxy in front of HTTP/1.1 servers has no use for them.
      return fail(400, "client sent HTTP/0.9 request");
    case BAD_HOST:
      return fail(400, "client sent invalid host in request line");
    default:
      return fail(400, "client sent invalid request");
  }
}

function fieldError(buf: Buffer, code: number, maxLine: number): RequestError {
  if (code === LINE_TOO_LONG) {
    const quote = logText(buf.toString("latin1", scan.line, scan.line + Math.min(maxLine, LOG_QUOTE_MAX)));
    return fail(400, `client sent too long header line: "${quote}..."`, TOO_LARGE);
  }
  if (code === HEAD_TOO_LARGE) return fail(400, "client sent too large request", TOO_LARGE);
  return fail(400, `client sent invalid header line: "${quoteBadLine(buf, scan.line, scan.at)}"`);
}

/** Where parseWhole() stopped inside the fields when incomplete (bytes from start; 0 = in the request line). */
let resumeAt = 0;

/**
 * Parses the request head in buf[start:end). "incomplete" means every byte so far is valid and within the
 * limits; "head" consumed head.headBytes bytes (pipelined bytes after them are left alone). `progress`, kept
 * per connection between calls on the same growing bytes, makes resuming cheap; it resets itself to 0 on a
 * "head" or "error" result.
 */
export function parseRequestHead(
  buf: Buffer,
  start: number,
  end: number,
  limits: HeadLimits,
  progress?: HeadProgress,
): RequestParse {
  const headLimit = start + limits.maxHead;
  if (progress !== undefined && progress.checked > 0) {
    const r = scanFields(buf, start + progress.checked, end, headLimit, limits.maxHeaderLine);
    if (r === NEED_MORE) {
      progress.checked = scan.line - start;
      return INCOMPLETE;
    }
    progress.checked = 0;
    if (r < 0) return fieldError(buf, r, limits.maxHeaderLine);
    // The head is complete: parse it whole, once.
  }
  const res = parseWhole(buf, start, end, limits, headLimit);
  if (progress !== undefined) progress.checked = res === INCOMPLETE ? resumeAt : 0;
  return res;
}

function parseWhole(
  buf: Buffer,
  start: number,
  end: number,
  limits: HeadLimits,
  headLimit: number,
): RequestParse {
  resumeAt = 0;
  const e = end < headLimit ? end : headLimit;
  let p = start;
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received before the request-line.
  while (p < e && buf[p] === CR) {
    if (p + 1 >= e) return p + 1 >= headLimit ? lineError(HEAD_TOO_LARGE) : INCOMPLETE;
    if (buf[p + 1] !== LF) return lineError(BAD_REQUEST);
    p += 2;
  }
  if (p >= e) return p >= headLimit ? lineError(HEAD_TOO_LARGE) : INCOMPLETE;
  if (buf[p] === LF) return lineError(BAD_REQUEST);
  const ls = p;
  p = scanRequestLine(buf, ls, e, limits.maxRequestLine, headLimit);
  if (p === NEED_MORE) return INCOMPLETE;
  if (p < 0) return lineError(p);
  const t = checkTarget(buf, ls, rl.methodEnd, rl.targetStart, rl.targetEnd);
  if (t < 0) return lineError(t);
  p = scanFields(buf, p, end, headLimit, limits.maxHeaderLine);
  if (p === NEED_MORE) {
    resumeAt = scan.line - start;
    return INCOMPLETE;
  }
  if (p < 0) return fieldError(buf, p, limits.maxHeaderLine);
  return finish(buf, start, ls, p);
}

/** Index of the first field line seen per Hdr id during finish(); module scratch, reset per head. */
const seen = new Int32Array(16);

/**
 * Builds the head from the validated offsets and applies nginx's per-header rules in arrival order
 * (duplicate unique headers, Host validity), then ngx_http_process_request_header()'s checks in its order.
 */
function finish(buf: Buffer, start: number, ls: number, headEnd: number): RequestParse {
  const text = buf.toString("latin1", ls, headEnd);
  const minor = rl.minor;
  const offs = scan.offs;
  const n = scan.count;
  const headers: string[] = [];
  let conn = 0;
  let upgrade: string | null = null;
  seen.fill(-1);
  for (let i = 0; i < n; i++) {
    const ns = offs[4 * i]!;
    const colon = offs[4 * i + 1]!;
    const vs = offs[4 * i + 2]!;
    const ve = offs[4 * i + 3]!;
    const name = text.slice(ns - ls, colon - ls);
    const value = text.slice(vs - ls, ve - ls);
    headers.push(name, value);
    const id = headerId(buf, ns, colon);
    if (id === Hdr.OTHER) continue;
    if (id === Hdr.CONNECTION) {
      conn |= connectionOptions(buf, vs, ve);
      continue;
    }
    if (id === Hdr.UPGRADE) {
      upgrade = upgrade === null ? value : `${upgrade}, ${value}`;
      continue;
    }
    const prev = seen[id]!;
    if (prev >= 0) {
      const line = `"${logText(name)}: ${logText(value)}", previous value: "${logText(headers[2 * prev]!)}: ${logText(headers[2 * prev + 1]!)}"`;
      return fail(400, `client sent duplicate ${id === Hdr.HOST ? "host header" : "header line"}: ${line}`);
    }
    seen[id] = i;
    if (id === Hdr.HOST && !validHost(buf, vs, ve, false)) {
      return fail(400, "client sent invalid host header");
    }
  }
  const hostAt = seen[Hdr.HOST]!;
  const clAt = seen[Hdr.CONTENT_LENGTH]!;
  const teAt = seen[Hdr.TRANSFER_ENCODING]!;
  const expectAt = seen[Hdr.EXPECT]!;
  if (hostAt < 0 && minor === 1) return fail(400, 'client sent HTTP/1.1 request without "Host" header');
  let contentLength: number | null = null;
  if (clAt >= 0) {
    if (teAt >= 0) {
      return fail(400, 'client sent "Content-Length" and "Transfer-Encoding" headers at the same time');
    }
    contentLength = parseLength(buf, offs[4 * clAt + 2]!, offs[4 * clAt + 3]!);
    if (contentLength < 0) return fail(400, 'client sent invalid "Content-Length" header');
  }
  let chunked = false;
  if (teAt >= 0) {
    if (minor === 0) return fail(400, 'client sent HTTP/1.0 request with "Transfer-Encoding" header');
    // Only "chunked" alone: RFC 9112 §6.1 wants chunked last, and a proxy that cannot decode the rest
    // must not guess the framing. "gzip, chunked", "chunked, chunked", "identity": 501, as nginx.
    if (!eqLower(buf, offs[4 * teAt + 2]!, offs[4 * teAt + 3]!, "chunked")) {
      return fail(501, `client sent unknown "Transfer-Encoding": "${logText(headers[2 * teAt + 1]!)}"`);
    }
    chunked = true;
  }
  const keepAlive = (conn & CONN_CLOSE) === 0 && (minor === 1 || (conn & CONN_KEEP_ALIVE) !== 0);
  const head: RequestHead = {
    method: methodName(buf, ls, rl.methodEnd),
    target: text.slice(rl.targetStart - ls, rl.targetEnd - ls),
    versionMinor: minor,
    headers,
    host:
      rl.authStart >= 0
        ? text.slice(rl.authStart - ls, rl.authEnd - ls)
        : hostAt >= 0
          ? headers[2 * hostAt + 1]!
          : null,
    contentLength,
    chunked,
    keepAlive,
    upgrade: minor === 1 && (conn & CONN_UPGRADE) !== 0 ? upgrade : null,
    expectContinue:
      minor === 1 &&
      expectAt >= 0 &&
      eqLower(buf, offs[4 * expectAt + 2]!, offs[4 * expectAt + 3]!, "100-continue"),
    headBytes: headEnd - start,
  };
  return { kind: "head", head };
}
