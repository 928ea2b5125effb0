/**
 * The request target as nginx reads it (ngx_http_parse_request_line, ngx_http_parse_complex_uri,
 * ngx_http_validate_host in src/http/ngx_http_parse.c and ngx_http_request.c).
 *
 * All strings here are byte strings: one char per byte, code 0-255, as Node's HTTP parser hands over the
 * request line and headers ("latin1"). Percent-decoding yields bytes, so `%FF` or invalid UTF-8 survive
 * unchanged, exactly as in nginx; use {@link toBytes} for text that comes from the (UTF-8) configuration.
 */

/** A parsed request target; every field a byte string. */
export interface Target {
  /** Path as sent, up to the first "?" or "#", still escaped; "/" for an absolute-form target without one. */
  path: string;
  /** Query after the first "?" up to any "#", without the "?" (nginx's $args); "" when none. */
  args: string;
  /** The target from its path on, exactly as sent, fragment included: $request_uri (r->unparsed_uri). */
  requestUri: string;
  /** Host of an absolute-form target, validated as {@link parseHost}; nginx prefers it to the Host header. */
  host: string | null;
}

// ngx_http_parse_request_line refuses control characters anywhere in the target.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(\[[0-9A-Za-z:._~!$&'()*+,;=-]*\]|[A-Za-z0-9.-]*)(:[0-9]*)?/;

/** Parses an origin-form ("/p?q") or absolute-form ("http://h/p?q") target; null means 400. */
export function parseTarget(target: string): Target | null {
  if (CONTROL.test(target)) return null;
  let host: string | null = null;
  let rest = target;
  if (!target.startsWith("/")) {
    const m = ABSOLUTE.exec(target);
    if (!m) return null;
    rest = target.slice(m[0].length);
    if (rest !== "" && rest[0] !== "/" && rest[0] !== "?") return null;
    // "client sent invalid host in request line"
    host = parseHost(m[1]!);
    if (host === null) return null;
    // "http://h" is "/"; "http://h?x" keeps "?x" as $request_uri (nginx's empty_path_in_uri).
    if (rest === "") rest = "/";
  }
  const stop = rest.search(/[?#]/);
  const end = stop < 0 ? rest.length : stop;
  const path = rest[0] === "?" ? "/" : rest.slice(0, end);
  let args = "";
  if (rest[end] === "?") {
    const hash = rest.indexOf("#", end + 1);
    args = rest.slice(end + 1, hash < 0 ? rest.length : hash);
  }
  return { path, args, requestUri: rest, host };
}

/**
 * A Host header (or request-line host) as ngx_http_validate_host(): port and one trailing dot removed,
 * ASCII lower-cased; null (400) for "", "..", "/", "\\0", spaces or controls.
 */
export function parseHost(raw: string): string | null {
  let dot = -2;
  let len = raw.length;
  let literal = false;
  let rest = false;
  let upper = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x2e) {
      if (dot === i - 1) return null;
      dot = i;
    } else if (c === 0x3a) {
      if (!literal && !rest) [len, rest] = [i, true];
    } else if (c === 0x5b) {
      if (i === 0) literal = true;
    } else if (c === 0x5d) {
      if (literal && !rest) [len, rest, literal] = [i + 1, true, false];
    } else if (c === 0x2f || c <= 0x20 || c === 0x7f) {
      return null;
    } else if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  if (dot === len - 1) len--;
  if (len <= 0) return null;
  const host = raw.slice(0, len);
  return upper ? host.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : host;
}

// Characters ngx_http_parse_complex_uri treats specially; a path without them is $uri as it is.
const COMPLEX = /%|\/\.|\/\/|[?#]/;

const USUAL = 0;
const SLASH = 1;
const DOT = 2;
const DOT_DOT = 3;

/**
 * nginx's $uri from a raw path: %XX decoded, "." and ".." segments resolved, "//" merged (merge_slashes on);
 * null (400) for a bad escape, a decoded NUL, a ".." above the root, or a path not starting with "/".
 * Decoded "%", "#" and "?" are kept as data; any other decoded byte counts as if sent plain (so %2F is "/").
 */
export function normalizePath(rawPath: string, mergeSlashes = true): string | null {
  if (rawPath.charCodeAt(0) !== 0x2f) return null;
  if (!COMPLEX.test(rawPath)) return rawPath;
  const out = Buffer.allocUnsafe(rawPath.length);
  let u = 0;
  let state = USUAL;
  let i = 0;
  loop: while (i < rawPath.length) {
    let ch = rawPath.charCodeAt(i++);
    let reprocess = false;
    if (ch === 0x25) {
      const hi = hex(rawPath.charCodeAt(i));
      const lo = hex(rawPath.charCodeAt(i + 1));
      if (hi < 0 || lo < 0) return null;
      i += 2;
      ch = hi * 16 + lo;
      if (ch === 0) return null;
      // ngx_http_parse_complex_uri: a decoded "%", "#" or "?" is plain data, and resets the state.
      if (ch === 0x25 || ch === 0x23 || ch === 0x3f) {
        out[u++] = ch;
        state = USUAL;
        continue;
      }
      reprocess = true;
    }
    if (!reprocess && (ch === 0x3f || ch === 0x23)) break loop;
    switch (state) {
      case USUAL:
        if (ch === 0x2f) state = SLASH;
        out[u++] = ch;
        break;
      case SLASH:
        if (ch === 0x2f) {
          if (!mergeSlashes) out[u++] = ch;
        } else {
          state = ch === 0x2e ? DOT : USUAL;
          out[u++] = ch;
        }
        break;
      case DOT:
        if (ch === 0x2f) {
          state = SLASH;
          u--;
        } else {
          state = ch === 0x2e ? DOT_DOT : USUAL;
          out[u++] = ch;
        }
        break;
      case DOT_DOT:
        if (ch === 0x2f) {
          u = parent(out, u);
          if (u < 0) return null;
          state = SLASH;
        } else {
          state = USUAL;
          out[u++] = ch;
        }
        break;
    }
  }
  if (state === DOT) u--;
  else if (state === DOT_DOT) {
    u = parent(out, u);
    if (u < 0) return null;
  }
  return out.toString("latin1", 0, u);
}

// After "/..": back over it and the segment before, keeping that segment's "/"; -1 above the root.
function parent(out: Buffer, u: number): number {
  for (let p = u - 4; p >= 0; p--) if (out[p] === 0x2f) return p + 1;
  return -1;
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

// NGX_ESCAPE_URI (ngx_escape_uri in src/core/ngx_string.c): controls, space, '"', "#", "%", "<", ">", "?",
// "\\", "^", "`", "{", "|", "}", DEL and every byte >= 0x80.
// eslint-disable-next-line no-control-regex
const ESCAPE = /[\x00-\x20"#%<>?\\^`{|}\x7f-\xff]/g;

/** Escapes a byte string as nginx's NGX_ESCAPE_URI does (upper-case hex), e.g. for a URI sent upstream. */
export function escapeUri(s: string): string {
  return s.replace(ESCAPE, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
}

/** A configuration string (UTF-8 text) as the byte string nginx would compare: "é" becomes "\xC3\xA9". */
export function toBytes(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text : Buffer.from(text, "utf8").toString("latin1");
}
