/**
 * Strict HTTP/1.1 response head parser (RFC 9112 §4-§6) for upstream responses. Any error means the proxy
 * answers 502 and logs `log`, worded as nginx's ngx_http_proxy_process_status_line(),
 * ngx_http_proxy_process_header() and the ngx_http_upstream_process_*() header handlers word it.
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
  logText,
  NEED_MORE,
  parseLength,
  quoteBadLine,
  scan,
  scanFields,
  SP,
  VCLASS,
  type HeadProgress,
} from "./common.js";

/** A parsed response head; strings are latin1 decodings of the bytes received. */
export interface ResponseHead {
  versionMinor: 0 | 1;
  /** 100-999. */
  status: number;
  /** reason-phrase, possibly empty. */
  reason: string;
  /** Flat [name, value, ...] as received: name case kept, value trimmed of OWS. */
  headers: string[];
  contentLength: number | null;
  chunked: boolean;
  /**
   * What the headers allow: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with "keep-alive". The
   * connection still cannot be reused when responseBodyFraming() says "close".
   */
  keepAlive: boolean;
  /** Upgrade value when Connection lists "upgrade" (for 101 Switching Protocols). */
  upgrade: string | null;
  /** Bytes of the head from `start`, the final CRLFCRLF included. */
  headBytes: number;
}

/** Result of parseResponseHead(); on "error" the proxy answers 502 and logs `log`. */
export type ResponseParse =
  { kind: "incomplete" } | { kind: "head"; head: ResponseHead } | { kind: "error"; log: string };

const INCOMPLETE: ResponseParse = Object.freeze({ kind: "incomplete" });
const HTTP_SLASH_1 = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];
/** scanStatusLine(): not a status line. */
const INVALID = -20;

function fail(log: string): ResponseParse {
  return { kind: "error", log };
}

/** Status-line scratch: version, status, reason span; module-level so a parse allocates nothing for it. */
const sl = { minor: 0 as 0 | 1, status: 0, reasonStart: 0, reasonEnd: 0 };

/**
 * status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4); like nginx, the SP
 * before an empty reason may be missing. Only HTTP/1.x, three digits from 100, a reason of HTAB, SP, VCHAR
 * and obs-text. Returns the offset after the LF, NEED_MORE or INVALID.
 */
function scanStatusLine(buf: Buffer, p: number, e: number): number {
  // "HTTP/1." DIGIT SP 3DIGIT, byte by byte so that a partial line is told from a wrong one.
  for (let i = 0; i < 12; i++, p++) {
    if (p >= e) return NEED_MORE;
    const c = buf[p]!;
    if (i < 7) {
      if (c !== HTTP_SLASH_1[i]) return INVALID;
    } else if (i === 8) {
      if (c !== SP) return INVALID;
    } else {
      if (c < 0x30 || c > 0x39 || (i === 9 && c === 0x30)) return INVALID;
      if (i === 7) sl.minor = c === 0x30 ? 0 : 1;
      else sl.status = i === 9 ? c - 0x30 : sl.status * 10 + c - 0x30;
    }
  }
  if (p >= e) return NEED_MORE;
  if (buf[p] === SP) p++;
  else if (buf[p] !== CR) return INVALID;
  sl.reasonStart = p;
  while (p < e && VCLASS[buf[p]!] !== 0) p++;
  sl.reasonEnd = p;
  if (p >= e) return NEED_MORE;
  if (buf[p] !== CR) return INVALID;
  if (++p >= e) return NEED_MORE;
  return buf[p] === LF ? p + 1 : INVALID;
}

/**
 * Parses an upstream response head in buf[start:end), at most maxHead bytes long. `progress` works as for
 * parseRequestHead(): optional, per connection, reset to 0 on a "head" or "error" result.
 */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  end: number,
  maxHead: number,
  progress?: HeadProgress,
): ResponseParse {
  const headLimit = start + maxHead;
  if (progress !== undefined && progress.checked > 0) {
    const r = scanFields(buf, start + progress.checked, end, headLimit, maxHead);
    if (r === NEED_MORE) {
      progress.checked = scan.line - start;
      return INCOMPLETE;
    }
    progress.checked = 0;
    if (r < 0) return fieldError(buf, r);
  }
  const e = end < headLimit ? end : headLimit;
  let p = scanStatusLine(buf, start, e);
  if (p === NEED_MORE) return e >= headLimit ? fail("upstream sent too big header") : INCOMPLETE;
  if (p < 0) return fail("upstream sent no valid HTTP/1.0 header");
  p = scanFields(buf, p, end, headLimit, maxHead);
  if (p === NEED_MORE) {
    if (progress !== undefined) progress.checked = scan.line - start;
    return INCOMPLETE;
  }
  if (progress !== undefined) progress.checked = 0;
  if (p < 0) return fieldError(buf, p);
  return finish(buf, start, p);
}

function fieldError(buf: Buffer, code: number): ResponseParse {
  // With maxLine = maxHead a line can only be too long by making the head too big.
  if (code === HEAD_TOO_LARGE || code === LINE_TOO_LONG) return fail("upstream sent too big header");
  return fail(`upstream sent invalid header: "${quoteBadLine(buf, scan.line, scan.at)}"`);
}

function dupLine(name: string, value: string, prevName: string, prevValue: string): ResponseParse {
  const line = `"${logText(name)}: ${logText(value)}", previous value: "${logText(prevName)}: ${logText(prevValue)}"`;
  return fail(`upstream sent duplicate header line: ${line}`);
}

/**
 * Builds the head and applies the framing rules in arrival order, as nginx's upstream header handlers do:
 * Content-Length and Transfer-Encoding never together (RFC 9112 §6.3 calls it smuggling), one
 * Transfer-Encoding and it is "chunked", Content-Length is 1*DIGIT and repeated only with the same value
 * (RFC 9110 §8.6 allows a recipient to accept that; nginx refuses it).
 */
function finish(buf: Buffer, start: number, headEnd: number): ResponseParse {
  const text = buf.toString("latin1", start, headEnd);
  const offs = scan.offs;
  const n = scan.count;
  const headers: string[] = [];
  let conn = 0;
  let upgrade: string | null = null;
  let clAt = -1;
  let teAt = -1;
  let contentLength: number | null = null;
  for (let i = 0; i < n; i++) {
    const ns = offs[4 * i]!;
    const colon = offs[4 * i + 1]!;
    const vs = offs[4 * i + 2]!;
    const ve = offs[4 * i + 3]!;
    const name = text.slice(ns - start, colon - start);
    const value = text.slice(vs - start, ve - start);
    headers.push(name, value);
    const id = headerId(buf, ns, colon);
    if (id === Hdr.CONTENT_LENGTH) {
      const len = parseLength(buf, vs, ve);
      if (clAt >= 0 && len !== contentLength) {
        return dupLine(name, value, headers[2 * clAt]!, headers[2 * clAt + 1]!);
      }
      if (teAt >= 0)
        return fail('upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time');
      if (len < 0)
        return fail(`upstream sent invalid "Content-Length" header: "${logText(name)}: ${logText(value)}"`);
      if (clAt < 0) clAt = i;
      contentLength = len;
    } else if (id === Hdr.TRANSFER_ENCODING) {
      if (teAt >= 0) return dupLine(name, value, headers[2 * teAt]!, headers[2 * teAt + 1]!);
      if (clAt >= 0)
        return fail('upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time');
      if (!eqLower(buf, vs, ve, "chunked"))
        return fail(`upstream sent unknown "Transfer-Encoding": "${logText(value)}"`);
      teAt = i;
    } else if (id === Hdr.CONNECTION) {
      conn |= connectionOptions(buf, vs, ve);
    } else if (id === Hdr.UPGRADE) {
      upgrade = upgrade === null ? value : `${upgrade}, ${value}`;
    }
  }
  const minor = sl.minor;
  const head: ResponseHead = {
    versionMinor: minor,
    status: sl.status,
    reason: text.slice(sl.reasonStart - start, sl.reasonEnd - start),
    headers,
    contentLength,
    chunked: teAt >= 0,
    keepAlive: (conn & CONN_CLOSE) === 0 && (minor === 1 || (conn & CONN_KEEP_ALIVE) !== 0),
    upgrade: (conn & CONN_UPGRADE) !== 0 ? upgrade : null,
    headBytes: headEnd - start,
  };
  return { kind: "head", head };
}

/**
 * How the body of a response is delimited (RFC 9112 §6.3): none for HEAD, 1xx, 204, 304 and a 2xx to
 * CONNECT (the connection becomes a tunnel); then chunked, then Content-Length; else until close.
 */
export function responseBodyFraming(
  method: string,
  head: ResponseHead,
): "none" | "length" | "chunked" | "close" {
  const s = head.status;
  if (method === "HEAD" || s < 200 || s === 204 || s === 304) return "none";
  if (method === "CONNECT" && s < 300) return "none";
  if (head.chunked) return "chunked";
  return head.contentLength !== null ? "length" : "close";
}
