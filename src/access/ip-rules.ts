/**
 * `allow`/`deny` matching, as nginx's ngx_http_access_module does it
 * (https://nginx.org/en/docs/http/ngx_http_access_module.html): rules are checked in order, the first match
 * wins, and a client that no rule matches is let through. Masks are computed once here; a request costs one
 * parse of its address (skipped when it repeats the previous one) and integer compares.
 */
import { SyncgateError } from "../lib/errors.js";
import type { AccessRule } from "../config/types.js";

/** What the access phase decides for one client. */
export type AccessDecision = "allow" | "deny";

/** Family of a rule: 0 = `all`, 4 = IPv4, 6 = IPv6. */
interface CompiledRule {
  readonly action: AccessDecision;
  readonly family: 0 | 4 | 6;
  /** IPv4: network and mask as unsigned 32-bit integers. */
  readonly net4: number;
  readonly mask4: number;
  /** IPv6: network and mask as four unsigned 32-bit words. */
  readonly net6: Uint32Array;
  readonly mask6: Uint32Array;
}

/** A parsed address: family 0 when the text is no IP address (e.g. a unix socket peer). */
interface Parsed {
  family: 0 | 4 | 6;
  v4: number;
  readonly v6: Uint32Array;
}

/** Compiles rules into a matcher of client addresses (`req.socket.remoteAddress`, IPv4 or IPv6 text). */
export function compileAccessRules(rules: readonly AccessRule[]): (clientAddr: string) => AccessDecision {
  if (rules.length === 0) return () => "allow";
  const compiled = rules.map(compileRule);
  // nginx keeps a list per family and `all` joins every list; an IPv4-mapped IPv6 client is checked against
  // the IPv4 list when that list exists, against the IPv6 list otherwise.
  const hasV4List = compiled.some((r) => r.family !== 6);
  const scratch: Parsed = { family: 0, v4: 0, v6: new Uint32Array(4) };
  let lastAddr: string | null = null;

  return (clientAddr: string): AccessDecision => {
    if (clientAddr !== lastAddr) {
      parseAddress(clientAddr, scratch);
      lastAddr = clientAddr;
    }
    let family = scratch.family;
    let v4 = scratch.v4;
    const v6 = scratch.v6;
    if (family === 6 && hasV4List && v6[0] === 0 && v6[1] === 0 && v6[2] === 0xffff) {
      family = 4;
      v4 = v6[3]!;
    }
    for (let i = 0; i < compiled.length; i++) {
      const r = compiled[i]!;
      if (r.family === 0) return r.action;
      if (r.family !== family) continue;
      if (family === 4) {
        if ((v4 & r.mask4) >>> 0 === r.net4) return r.action;
      } else if (
        (v6[0]! & r.mask6[0]!) >>> 0 === r.net6[0] &&
        (v6[1]! & r.mask6[1]!) >>> 0 === r.net6[1] &&
        (v6[2]! & r.mask6[2]!) >>> 0 === r.net6[2] &&
        (v6[3]! & r.mask6[3]!) >>> 0 === r.net6[3]
      ) {
        return r.action;
      }
    }
    // An address that is neither IPv4 nor IPv6 only meets `all` rules, as nginx's unix-socket list does.
    return "allow";
  };
}

const NO_WORDS = new Uint32Array(4);

function compileRule(rule: AccessRule): CompiledRule {
  const { action, cidr } = rule;
  if (cidr === null) return { action, family: 0, net4: 0, mask4: 0, net6: NO_WORDS, mask6: NO_WORDS };
  const slash = cidr.indexOf("/");
  const addr = slash < 0 ? cidr : cidr.slice(0, slash);
  const p: Parsed = { family: 0, v4: 0, v6: new Uint32Array(4) };
  parseAddress(addr, p);
  const max = p.family === 4 ? 32 : 128;
  const prefix = slash < 0 ? String(max) : cidr.slice(slash + 1);
  const len = Number(prefix);
  if (p.family === 0 || !/^\d{1,3}$/.test(prefix) || len > max) {
    throw new SyncgateError("SG_ERR_CONFIG", `invalid parameter "${cidr}"`);
  }
  if (p.family === 4) {
    const mask4 = prefixWord(len);
    // Host bits are dropped, as nginx does after warning "low address bits of ... are meaningless".
    return { action, family: 4, net4: (p.v4 & mask4) >>> 0, mask4, net6: NO_WORDS, mask6: NO_WORDS };
  }
  const mask6 = new Uint32Array(4);
  const net6 = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    mask6[i] = prefixWord(Math.min(32, Math.max(0, len - i * 32)));
    net6[i] = (p.v6[i]! & mask6[i]!) >>> 0;
  }
  return { action, family: 6, net4: 0, mask4: 0, net6, mask6 };
}

/** The 32-bit mask with the top `bits` bits set (a shift by 32 is a no-op in JavaScript, hence the cases). */
function prefixWord(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses IPv4 or IPv6 text (a `%zone` suffix is ignored) into `out`, without allocating. */
function parseAddress(text: string, out: Parsed): void {
  out.family = 0;
  if (text.indexOf(":") < 0) {
    const v4 = parseV4(text, 0, text.length);
    if (v4 >= 0) {
      out.family = 4;
      out.v4 = v4;
    }
    return;
  }
  if (parseV6(text, out.v6)) out.family = 6;
}

/** Dotted-quad text in [start, end) as an unsigned 32-bit integer, or -1. */
function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

const groups = new Uint16Array(8);

/** IPv6 text (with "::" and an optional dotted IPv4 tail) into four words; false when malformed. */
function parseV6(s: string, words: Uint32Array): boolean {
  const zone = s.indexOf("%");
  const end = zone < 0 ? s.length : zone;
  let n = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    const start = i;
    let v = 0;
    for (let h = hexValue(s.charCodeAt(i)); h >= 0 && i < end; h = hexValue(s.charCodeAt(++i)))
      v = v * 16 + h;
    if (i < end && s.charCodeAt(i) === 46) {
      // Dotted IPv4 tail: it fills the last two groups.
      const v4 = parseV4(s, start, end);
      if (v4 < 0 || n > 6) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (i === start || i - start > 4 || n === 8) return false;
    groups[n++] = v;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (s.charCodeAt(i) === 58 && i < end) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  const zeros = 8 - n;
  for (let g = 0; g < 8; g++) {
    let value: number;
    if (gap < 0 || g < gap) value = groups[g]!;
    else if (g < gap + zeros) value = 0;
    else value = groups[g - zeros]!;
    if (g % 2 === 0) words[g >> 1] = value * 0x10000;
    else words[g >> 1] = words[g >> 1]! + value;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
