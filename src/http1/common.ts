/**
 * Byte tables and helpers shared by the HTTP/1.1 head parsers and the chunked decoder. Everything works on
 * bytes (RFC 9112 is defined over octets) with table lookups, so the hot loops allocate nothing.
 */

/** Carriage return. */
export const CR = 0x0d;
/** Line feed. */
export const LF = 0x0a;
/** Space. */
export const SP = 0x20;
/** Horizontal tab. */
export const HTAB = 0x09;
/** Colon. */
export const COLON = 0x3a;
/** The separator of list elements (RFC 9110 §5.6.1). */
export const COMMA = 0x2c;

function table(chars: string, ranges: [number, number][] = []): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  for (const [lo, hi] of ranges) for (let c = lo; c <= hi; c++) t[c] = 1;
  return t;
}

const ALNUM: [number, number][] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x61, 0x7a],
];

/** tchar of RFC 9110 §5.6.2: the bytes of a token (field names, chunk-extension names and values). */
export const TCHAR = table("!#$%&'*+-.^_`|~", ALNUM);

/**
 * Field-value bytes, RFC 9110 §5.5: 0 = not allowed (CTLs but HTAB, DEL), 1 = whitespace (SP, HTAB),
 * 2 = field-vchar (VCHAR and obs-text 0x80-0xFF, kept and later decoded as latin1).
 */
export const VCLASS = new Uint8Array(256);
for (let c = 0x21; c <= 0xff; c++) VCLASS[c] = c === 0x7f ? 0 : 2;
VCLASS[SP] = 1;
VCLASS[HTAB] = 1;

/** Hex digit values, -1 elsewhere (chunk sizes, percent-encoding). */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/** reg-name bytes of RFC 3986 §3.2.2 (unreserved and sub-delims; '%' is checked apart). */
const REGNAME = table("-._~!$&'()*+,;=", ALNUM);
/** IP-literal bytes (IPv6, IPvFuture): hex digits and the unreserved/sub-delims nginx also allows. */
const IPLIT = table(":-._~!$&'()*+,;=", ALNUM);

/**
 * Whether buf[s:e) is a valid uri-host [":" port] (RFC 9110 §7.2, RFC 3986 §3.2.2). Stricter than nginx's
 * ngx_http_validate_host() in rejecting bytes outside reg-name and an empty port, and like it in rejecting
 * an empty host and ".." (so $host can never climb a path).
 */
export function validHost(buf: Buffer, s: number, e: number, requirePort: boolean): boolean {
  let p = s;
  if (p >= e) return false;
  if (buf[p] === 0x5b) {
    p++;
    while (p < e && IPLIT[buf[p]!] === 1) p++;
    if (p >= e || buf[p] !== 0x5d || p === s + 1) return false;
    p++;
  } else {
    let prev = 0;
    while (p < e) {
      const c = buf[p]!;
      if (c === 0x25) {
        if (p + 2 >= e || HEX[buf[p + 1]!]! < 0 || HEX[buf[p + 2]!]! < 0) return false;
        p += 3;
        prev = c;
        continue;
      }
      if (REGNAME[c] !== 1) break;
      if (c === 0x2e && prev === 0x2e) return false;
      prev = c;
      p++;
    }
    if (p === s) return false;
  }
  if (p === e) return !requirePort;
  if (buf[p] !== COLON) return false;
  const ps = ++p;
  let port = 0;
  while (p < e && buf[p]! >= 0x30 && buf[p]! <= 0x39) port = port * 10 + buf[p++]! - 0x30;
  return p === e && p > ps && p - ps <= 5 && port <= 65535;
}

/**
 * Compares buf[s:e) with a lowercase literal, ignoring ASCII case. `| 0x20` folds only A-Z onto a-z for the
 * bytes that can reach here (callers pass validated tokens or field values, which hold no CTLs).
 */
export function eqLower(buf: Buffer, s: number, e: number, lit: string): boolean {
  if (e - s !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) if ((buf[s + i]! | 0x20) !== lit.charCodeAt(i)) return false;
  return true;
}

/** Content-Length value as a number, or -1 when not 1*DIGIT or above 2^53-1 (RFC 9110 §8.6, ngx_atoof()). */
export function parseLength(buf: Buffer, s: number, e: number): number {
  if (s >= e) return -1;
  let n = 0;
  for (let p = s; p < e; p++) {
    const d = buf[p]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

/** Connection option bits (RFC 9110 §7.6.1). */
export const CONN_CLOSE = 1;
/** The "keep-alive" connection option (RFC 7230 §A.1.2, still sent by HTTP/1.0 clients). */
export const CONN_KEEP_ALIVE = 2;
/** The "upgrade" connection option (RFC 9110 §7.8). */
export const CONN_UPGRADE = 4;

/** Where `byte` first is in `buf` from `p` to `e`, or `e` (a list element's end at a comma, a parameter's start). */
export function untilByte(buf: Buffer, p: number, e: number, byte: number): number {
  while (p < e && buf[p] !== byte) p++;
  return p;
}

/** `s` moved past optional whitespace (SP, HTAB), up to `e`. */
export function skipOws(buf: Buffer, s: number, e: number): number {
  while (s < e && (buf[s] === SP || buf[s] === HTAB)) s++;
  return s;
}

/** `e` moved back before optional whitespace, down to `s`. */
export function trimOwsEnd(buf: Buffer, s: number, e: number): number {
  while (e > s && (buf[e - 1] === SP || buf[e - 1] === HTAB)) e--;
  return e;
}

/** The close / keep-alive / upgrade options named in a Connection value (a comma list, any case). */
export function connectionOptions(buf: Buffer, s: number, e: number): number {
  let bits = 0;
  for (let p = s; p < e;) {
    const q = untilByte(buf, p, e, COMMA);
    const ts = skipOws(buf, p, q);
    const te = trimOwsEnd(buf, ts, q);
    if (eqLower(buf, ts, te, "close")) bits |= CONN_CLOSE;
    else if (eqLower(buf, ts, te, "keep-alive")) bits |= CONN_KEEP_ALIVE;
    else if (eqLower(buf, ts, te, "upgrade")) bits |= CONN_UPGRADE;
    p = q + 1;
  }
  return bits;
}

/** Field names the parsers act on (OTHER for the rest); from AUTHORIZATION on, those nginx refuses twice. */
export const Hdr = {
  OTHER: 0,
  HOST: 1,
  CONTENT_LENGTH: 2,
  TRANSFER_ENCODING: 3,
  CONNECTION: 4,
  UPGRADE: 5,
  EXPECT: 6,
  /** Unique in ngx_http_headers_in[] (ngx_http_process_unique_header_line), like the three above. */
  AUTHORIZATION: 7,
  CONTENT_RANGE: 8,
  IF_MATCH: 9,
  IF_NONE_MATCH: 10,
  IF_RANGE: 11,
  IF_MODIFIED_SINCE: 12,
  IF_UNMODIFIED_SINCE: 13,
} as const;
/** One of the Hdr ids. */
export type Hdr = (typeof Hdr)[keyof typeof Hdr];

/** Classifies the field name buf[s:e) (already known to be a token) with a length switch, no strings. */
export function headerId(buf: Buffer, s: number, e: number): Hdr {
  switch (e - s) {
    case 4:
      return eqLower(buf, s, e, "host") ? Hdr.HOST : Hdr.OTHER;
    case 6:
      return eqLower(buf, s, e, "expect") ? Hdr.EXPECT : Hdr.OTHER;
    case 7:
      return eqLower(buf, s, e, "upgrade") ? Hdr.UPGRADE : Hdr.OTHER;
    case 8:
      if (eqLower(buf, s, e, "if-match")) return Hdr.IF_MATCH;
      return eqLower(buf, s, e, "if-range") ? Hdr.IF_RANGE : Hdr.OTHER;
    case 10:
      return eqLower(buf, s, e, "connection") ? Hdr.CONNECTION : Hdr.OTHER;
    case 13:
      if (eqLower(buf, s, e, "authorization")) return Hdr.AUTHORIZATION;
      if (eqLower(buf, s, e, "content-range")) return Hdr.CONTENT_RANGE;
      return eqLower(buf, s, e, "if-none-match") ? Hdr.IF_NONE_MATCH : Hdr.OTHER;
    case 14:
      return eqLower(buf, s, e, "content-length") ? Hdr.CONTENT_LENGTH : Hdr.OTHER;
    case 17:
      if (eqLower(buf, s, e, "transfer-encoding")) return Hdr.TRANSFER_ENCODING;
      return eqLower(buf, s, e, "if-modified-since") ? Hdr.IF_MODIFIED_SINCE : Hdr.OTHER;
    case 19:
      return eqLower(buf, s, e, "if-unmodified-since") ? Hdr.IF_UNMODIFIED_SINCE : Hdr.OTHER;
    default:
      return Hdr.OTHER;
  }
}

/** Bytes for a log line: printable ASCII kept, '"', '\' and everything else as \xNN (nginx's escaping). */
export function logText(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? s[i] : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** At most this many bytes of a client's line are quoted in a log message. */
export const LOG_QUOTE_MAX = 128;

/**
 * nginx's quote of a bad line: the bytes before the offending one, then that byte as \xNN and "..."
 * (`client sent invalid header line: "%*s\x%02xd..."` in ngx_http_process_request_headers()).
 */
export function quoteBadLine(buf: Buffer, lineStart: number, at: number): string {
  const cut = Math.min(at, lineStart + LOG_QUOTE_MAX);
  const head = logText(buf.toString("latin1", lineStart, cut)) + (cut < at ? "..." : "");
  return `${head}\\x${buf[at]!.toString(16).padStart(2, "0")}...`;
}

/** Method names interned so the common requests allocate no method string. */
export function methodName(buf: Buffer, s: number, e: number): string {
  const c = buf[s];
  switch (e - s) {
    case 3:
      if (c === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54) return "GET";
      if (c === 0x50 && buf[s + 1] === 0x55 && buf[s + 2] === 0x54) return "PUT";
      break;
    case 4:
      if (c === 0x50 && buf[s + 1] === 0x4f && buf[s + 2] === 0x53 && buf[s + 3] === 0x54) return "POST";
      if (c === 0x48 && buf[s + 1] === 0x45 && buf[s + 2] === 0x41 && buf[s + 3] === 0x44) return "HEAD";
      break;
  }
  return buf.toString("latin1", s, e);
}

/** scanFields(): more bytes are needed (scan.line is where the unfinished line starts). */
export const NEED_MORE = -1;
/** scanFields(): a line (with its CRLF) is longer than maxLine (scan.line is its start). */
export const LINE_TOO_LONG = -2;
/** scanFields(): the head does not end within its limit. */
export const HEAD_TOO_LARGE = -3;
/** scanFields(): a line breaks RFC 9112 §5 (scan.line is its start, scan.at the offending byte). */
export const BAD_LINE = -4;

/**
 * Scratch written by scanFields(): 4 offsets per field line [nameStart, colon, valueStart, valueEnd] (value
 * trimmed of OWS). Module-level so that parsing allocates nothing per line; read it right after the call.
 */
export const scan = { offs: new Int32Array(128), count: 0, line: 0, at: 0 };

function runOut(q: number, ls: number, maxLine: number, headLimit: number): number {
  scan.line = ls;
  if (q - ls >= maxLine) return LINE_TOO_LONG;
  return q >= headLimit ? HEAD_TOO_LARGE : NEED_MORE;
}

function bad(ls: number, at: number): number {
  scan.line = ls;
  scan.at = at;
  return BAD_LINE;
}

/**
 * Scans field lines from p up to the empty line that ends a head (RFC 9112 §5, §2.1) and returns the offset
 * after it. Strict where the RFC allows leniency, because a proxy must never see a different message than the
 * server behind it: only CRLF ends a line (a bare CR or LF is an error, §2.2), obs-fold is refused (§5.2),
 * nothing may stand between name and colon (§5.1), names are tokens, values hold no CTL but HTAB.
 * Each line including its CRLF must fit in maxLine; bytes at or past headLimit are never read.
 */
export function scanFields(buf: Buffer, p: number, end: number, headLimit: number, maxLine: number): number {
  const e = end < headLimit ? end : headLimit;
  let offs = scan.offs;
  let n = 0;
  for (;;) {
    const ls = p;
    const le = e - ls > maxLine ? ls + maxLine : e;
    if (p >= le) return runOut(p, ls, maxLine, headLimit);
    if (buf[p] === CR) {
      if (p + 1 >= le) return runOut(p + 1, ls, maxLine, headLimit);
      if (buf[p + 1] !== LF) return bad(ls, p);
      scan.count = n;
      return p + 2;
    }
    while (p < le && TCHAR[buf[p]!] === 1) p++;
    if (p >= le) return runOut(p, ls, maxLine, headLimit);
    if (buf[p] !== COLON || p === ls) return bad(ls, p);
    const colon = p++;
    while (p < le && (buf[p] === SP || buf[p] === HTAB)) p++;
    const vs = p;
    // Four bytes a step while far from the end: values are most of a head (~15% faster on this loop).
    while (
      p + 4 <= le &&
      VCLASS[buf[p]!] !== 0 &&
      VCLASS[buf[p + 1]!] !== 0 &&
      VCLASS[buf[p + 2]!] !== 0 &&
      VCLASS[buf[p + 3]!] !== 0
    ) {
      p += 4;
    }
    while (p < le && VCLASS[buf[p]!] !== 0) p++;
    if (p >= le) return runOut(p, ls, maxLine, headLimit);
    if (buf[p] !== CR) return bad(ls, p);
    if (p + 1 >= le) return runOut(p + 1, ls, maxLine, headLimit);
    if (buf[p + 1] !== LF) return bad(ls, p);
    let ve = p;
    while (ve > vs && VCLASS[buf[ve - 1]!] === 1) ve--;
    if (4 * n + 4 > offs.length) {
      const grown = new Int32Array(offs.length * 2);
      grown.set(offs);
      scan.offs = offs = grown;
    }
    offs[4 * n] = ls;
    offs[4 * n + 1] = colon;
    offs[4 * n + 2] = vs;
    offs[4 * n + 3] = ve;
    n++;
    p += 2;
  }
}

/**
 * Optional per-connection memory for a head that arrives in pieces: how many bytes from `start` are whole,
 * already validated lines. Passing the same object with the same leading bytes lets a later call resume
 * there, rescanning only the unfinished line, so a client dripping a 32 KB head byte by byte costs about
 * 32 K × (line length) byte steps instead of 32 K × 32 K / 2.
 */
export interface HeadProgress {
  /** Validated bytes from `start`; 0 = none. Reset to 0 (or use a new object) for the next head. */
  checked: number;
}
