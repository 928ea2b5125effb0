/**
 * Registry key/value rules every source shares: a key's last segment names the server (upsync spec §2.3), its
 * JSON value sets the attributes (§2.4), and Consul service tags do the same for the catalog modes (§3.1).
 * Messages are nginx-upsync-module's log words, so existing log alerts keep matching.
 */
import { isIPv6 } from "node:net";
import type { Origin, ServerSpec } from "../config/types.js";
import { parseTime } from "../config/values.js";
import type { Note, Snapshot, TranslateContext, TranslateError } from "./types.js";

/** The attributes a registry sets; the rest of a ServerSpec has syncgate's defaults. */
export interface Attributes {
  weight: number;
  maxFails: number;
  /** Milliseconds (the registry writes whole seconds). */
  failTimeout: number;
  down: boolean;
  backup: boolean;
}

/** Registry defaults (spec §2.4): weight=1 max_fails=2 fail_timeout=10 down=0 backup=0 (max_fails is not nginx's 1). */
export const REGISTRY_DEFAULTS: Readonly<Attributes> = Object.freeze({
  weight: 1,
  maxFails: 2,
  failTimeout: 10_000,
  down: false,
  backup: false,
});

/** A server address read from a key or a catalog entry; `address` is the canonical identity `ip:port`. */
export interface ServerAddress {
  address: string;
  host: string;
  port: number;
}

/** cJSON's valueint is a C int: larger numbers are not usable values. */
const INT_MAX = 0x7fffffff;

/**
 * Dotted IPv4 as ngx_inet_addr() reads it (decimal octets up to 255, leading zeros allowed), returned canonical
 * (`010.0.0.1` → `10.0.0.1`, the address nginx connects to), or null. Stricter than nginx: an empty octet
 * (`1..2.3`) is refused. 255.255.255.255 is refused, as nginx's INADDR_NONE (spec §2.3).
 */
export function parseIPv4(text: string): string | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const octets: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    octets.push(n);
  }
  const ip = octets.join(".");
  return ip === "255.255.255.255" ? null : ip;
}

/** A TCP port as ngx_atoi() reads it (digits only, leading zeros allowed), 1..65535, or null. */
function parsePortText(text: string): number | null {
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/** An IPv6 literal without brackets in canonical form (lower case, compressed), or null. */
function canonicalIPv6(text: string): string | null {
  if (!isIPv6(text) || text.includes("%")) return null;
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/**
 * The server named by a key's last segment (`tail`, the text after the folder): `IP:PORT` (spec §2.3) or, a
 * documented addition, `[IPv6]:PORT`. Host names are refused as by the module (issues #25, #35, #264). The identity
 * is canonical, so `10.0.0.1:080` and `10.0.0.1:80` are one server (the module compared the text verbatim).
 */
export function parseServerKey(tail: string): ServerAddress | { reason: string } {
  const shown = `/${tail}`;
  if (tail.startsWith("[")) {
    const end = tail.indexOf("]");
    if (end < 0) return { reason: `upsync_check_key: invalid ip in ${shown}` };
    const rest = tail.slice(end + 1);
    if (!rest.startsWith(":")) return { reason: `upsync_check_key: has no port in ${shown}` };
    const host = canonicalIPv6(tail.slice(1, end));
    if (host === null) return { reason: `upsync_check_key: invalid ip in ${shown}` };
    const port = parsePortText(rest.slice(1));
    if (port === null) return { reason: `upsync_check_key: invalid port in ${shown}` };
    return { address: `[${host}]:${port}`, host, port };
  }
  const colon = tail.indexOf(":");
  if (colon < 0) return { reason: `upsync_check_key: has no port in ${shown}` };
  const host = parseIPv4(tail.slice(0, colon));
  if (host === null) return { reason: `upsync_check_key: invalid ip in ${shown}` };
  const port = parsePortText(tail.slice(colon + 1));
  if (port === null) return { reason: `upsync_check_key: invalid port in ${shown}` };
  return { address: `${host}:${port}`, host, port };
}

/**
 * The server of a catalog entry (spec §3.1–3.2): an IPv4 or IPv6 address and a port number. A host name is refused
 * with the module's `upsync_addrs` words, as the module does when it adds the peer.
 */
export function catalogAddress(addr: string, port: unknown): ServerAddress | { reason: string } {
  const shown = `${addr}:${typeof port === "number" || typeof port === "string" ? port : ""}`;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    return { reason: `upsync_addrs: invalid port in ${shown}` };
  }
  const v4 = parseIPv4(addr);
  if (v4 !== null) return { address: `${v4}:${port}`, host: v4, port };
  const v6 = canonicalIPv6(addr.startsWith("[") && addr.endsWith("]") ? addr.slice(1, -1) : addr);
  if (v6 !== null) return { address: `[${v6}]:${port}`, host: v6, port };
  return { reason: `upsync_addrs: invalid ip in ${shown}` };
}

/** Attributes read from a value, with one message per field that fell back to its default. */
export interface ReadAttributes {
  attrs: Attributes;
  warnings: string[];
}

/** A value that cannot be read (invalid JSON, or JSON that is not an object). */
export interface BadValue {
  invalid: string;
}

/** A value for a log line: control characters escaped, at most 256 characters (values have no size limit). */
export function showValue(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped here
  const esc = text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return esc.length > 256 ? `${esc.slice(0, 256)}...` : esc;
}

/** An object member by name, ignoring case as the module's cJSON_GetObjectItem does (first match wins). */
export function member(obj: Record<string, unknown>, name: string): unknown {
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/** Whether `v` is a JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A whole number from JSON the way the module reads it: numbers truncated, booleans 1/0, digit strings. */
function wholeNumber(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? Math.trunc(v) + 0 : null;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string") return /^\d+$/.test(v) ? Number(v) : null;
  return null;
}

/**
 * Reads a decoded value (spec §2.4). Empty or absent → defaults, no message. Every field is replaced, not merged:
 * what the value omits takes its default. Decisions the issue took: `null` fields take their defaults (the module
 * turned `"max_fails": null` into 0); invalid JSON, or JSON that is not an object, is a BadValue (the module added
 * the server with defaults). Beyond the module, a negative number or an array/object is reported with the field's
 * message instead of being ignored silently.
 */
export function parseValue(text: string | null): ReadAttributes | BadValue {
  const attrs: Attributes = { ...REGISTRY_DEFAULTS };
  const warnings: string[] = [];
  if (text === null || text.trim() === "") return { attrs, warnings };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { invalid: `upsync_parse_json: parse '${showValue(text)}' failed` };
  }
  if (!isObject(json)) return { invalid: `upsync_parse_json: '${showValue(text)}' is not a JSON object` };
  const bad = (field: string, def: number) =>
    warnings.push(`"${field}" value is invalid, setting default value ${def}`);

  const weight = member(json, "weight");
  if (weight !== undefined && weight !== null) {
    const n = wholeNumber(weight);
    if (n === null || n <= 0 || n > INT_MAX) bad("weight", 1);
    else attrs.weight = n;
  }
  const maxFails = member(json, "max_fails");
  if (maxFails !== undefined && maxFails !== null) {
    const n = wholeNumber(maxFails);
    if (n === null || n < 0 || n > INT_MAX) bad("max_fails", 2);
    else attrs.maxFails = n;
  }
  // Integer seconds: "10s" is invalid here, as ngx_atoi() in the module (tags take units, values do not).
  const failTimeout = member(json, "fail_timeout");
  if (failTimeout !== undefined && failTimeout !== null) {
    const n = wholeNumber(failTimeout);
    if (n === null || n < 0 || n > INT_MAX) bad("fail_timeout", 10);
    else attrs.failTimeout = n * 1000;
  }
  for (const field of ["down", "backup"] as const) {
    const v = member(json, field);
    if (v === undefined || v === null) continue;
    // 1, true, "1", 1.9 → on; 0, false, "0", 0.5 → off; anything else is invalid (module: `"true"` → -1).
    const n = wholeNumber(v);
    if (n === 0 || n === 1) attrs[field] = n === 1;
    else bad(field, 0);
  }
  return { attrs, warnings };
}

/**
 * Attributes from Consul service tags (spec §3.1): `weight=N` (> 0), `max_fails=N` (>= 0), `fail_timeout=TIME`
 * (nginx seconds syntax: `10`, `10s`, `1m`), and the exact tags `down` and `backup`; other tags are ignored.
 */
export function parseTags(tags: unknown): ReadAttributes {
  const attrs: Attributes = { ...REGISTRY_DEFAULTS };
  const warnings: string[] = [];
  if (!Array.isArray(tags)) return { attrs, warnings };
  for (const tag of tags) {
    if (typeof tag !== "string") continue;
    const num = (v: string) => (/^\d+$/.test(v) && Number(v) <= INT_MAX ? Number(v) : null);
    if (tag === "down") attrs.down = true;
    else if (tag === "backup") attrs.backup = true;
    else if (tag.startsWith("weight=")) {
      const n = num(tag.slice(7));
      if (n === null || n === 0) warnings.push(`"weight" value is invalid, setting default value 1`);
      else attrs.weight = n;
    } else if (tag.startsWith("max_fails=")) {
      const n = num(tag.slice(10));
      if (n === null) warnings.push(`"max_fails" value is invalid, setting default value 2`);
      else attrs.maxFails = n;
    } else if (tag.startsWith("fail_timeout=")) {
      const ms = parseTime(tag.slice(13), true);
      if (ms === null) warnings.push(`"fail_timeout" value is invalid, setting default value 10`);
      else attrs.failTimeout = ms;
    }
  }
  return { attrs, warnings };
}

/** A string parsed as JSON, for translators handed raw text; the module's words when it is not JSON. */
export function parseBody(body: unknown): { json: unknown } | TranslateError {
  if (typeof body !== "string") return { json: body };
  try {
    return { json: JSON.parse(body) };
  } catch {
    return { error: "upsync_parse_json: root error" };
  }
}

/** Strict base64 (what Consul and etcd send) decoded as UTF-8, or null when it is not base64. */
export function decodeBase64(text: string): string | null {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return null;
  return Buffer.from(text, "base64").toString("utf8");
}

/**
 * Collects one registry answer into a Snapshot: keeps registry order, de-duplicates by address (first wins — the
 * module made duplicate peers, spec §6.2), and applies "a server already serving keeps its last good attributes".
 */
export class SnapshotBuilder {
  readonly #servers: ServerSpec[] = [];
  readonly #seen = new Map<string, string>();
  readonly #skipped: Note[] = [];
  readonly #warnings: Note[] = [];
  readonly #current: ReadonlyMap<string, ServerSpec>;
  readonly #origin: Origin;

  constructor(
    private readonly index: string,
    ctx: Pick<TranslateContext, "current" | "origin">,
  ) {
    this.#current = new Map(ctx.current.map((s) => [s.address, s]));
    this.#origin = ctx.origin ?? { file: null, line: 0 };
  }

  /** Records an entry that is not a server, with why. */
  ignore(key: string, reason: string): void {
    this.#skipped.push({ key, reason });
  }

  /** Adds the server `addr` of entry `key` with what its value said. */
  add(key: string, addr: ServerAddress, value: ReadAttributes | BadValue): void {
    const first = this.#seen.get(addr.address);
    if (first !== undefined) {
      this.ignore(key, `duplicate of ${first} (server ${addr.address}), the first entry wins`);
      return;
    }
    if ("invalid" in value) {
      const last = this.#current.get(addr.address);
      if (!last) {
        this.ignore(key, `${value.invalid}, server ${addr.address} skipped`);
        return;
      }
      this.ignore(key, `${value.invalid}, server ${addr.address} keeps its last good attributes`);
      this.#seen.set(addr.address, key);
      this.#servers.push(last);
      return;
    }
    for (const w of value.warnings) this.#warnings.push({ key, reason: w });
    this.#seen.set(addr.address, key);
    this.#servers.push({
      ...addr,
      ...value.attrs,
      maxConns: 0,
      slowStart: 0,
      origin: this.#origin,
    });
  }

  /** The snapshot collected. */
  finish(): Snapshot {
    return {
      servers: this.#servers,
      index: this.index,
      skipped: this.#skipped,
      warnings: this.#warnings,
    };
  }
}

/** Key order as Consul and etcd v3 list them: byte order of the UTF-8 key. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * One key of a folder-shaped registry (Consul KV, etcd v2 and v3): only direct children named `IP:PORT` are
 * servers (spec §2.3, the path is a folder); `raw` is the value as the registry sends it, base64 (Consul, etcd
 * v3) or text (etcd v2), `field` names it in messages; a missing value takes the defaults, an undecodable one is
 * an unusable value like invalid JSON. `isDir` marks an entry the registry itself calls a directory.
 */
export function addFolderEntry(
  out: SnapshotBuilder,
  folder: string,
  key: string,
  raw: unknown,
  field: string,
  encoding: "base64" | "text" = "base64",
  isDir = false,
): void {
  if (!key.startsWith(folder)) {
    out.ignore(key, `upsync_check_key: ${key} is outside the folder "${folder}"`);
    return;
  }
  const tail = key.slice(folder.length);
  if (isDir || tail.includes("/")) {
    out.ignore(key, `upsync_check_key: ${key} is in a sub-folder of "${folder}"`);
    return;
  }
  // The folder key itself (tail "") logs "has no port in /", as the module does (issue #264).
  const addr = parseServerKey(tail);
  if ("reason" in addr) {
    out.ignore(key, addr.reason);
    return;
  }
  if (raw === undefined || raw === null) {
    out.add(key, addr, parseValue(null));
    return;
  }
  const text = typeof raw !== "string" ? null : encoding === "base64" ? decodeBase64(raw) : raw;
  if (text === null) {
    const what = encoding === "base64" ? "base64" : "a string";
    out.add(key, addr, { invalid: `upsync_parse_json: "${field}" of ${key} is not ${what}` });
    return;
  }
  out.add(key, addr, parseValue(text));
}
