/**
 * The arguments of nginx_upstream_check_module's directives (check spec §1): the `check` line
 * (ngx_http_upstream_check()), the `check_http_expect_alive` classes, `check_status` formats, and the
 * HTTP/1.1-without-Host test for `check_http_send`. Messages are the module's words; pure functions only.
 */
import { fail } from "../engine.js";
import type { Directive } from "../parser.js";
import type { CheckStatusClass, CheckStatusFormat, CheckType } from "../types.js";
import { closest, parseNumber } from "../values.js";

/** Every `type=` value, in the module's table order. */
export const CHECK_TYPES: readonly CheckType[] = ["tcp", "http", "ssl_hello", "mysql", "ajp", "fastcgi"];

/** Every `check_http_expect_alive` class, in bit order. */
export const CHECK_STATUS_CLASSES: readonly CheckStatusClass[] = [
  "http_2xx",
  "http_3xx",
  "http_4xx",
  "http_5xx",
];

/** Every `check_status` format: the module's three and syncgate's `prometheus`. */
export const CHECK_STATUS_FORMATS: readonly CheckStatusFormat[] = ["html", "csv", "json", "prometheus"];

/** What one `check` line sets (the module's defaults for what it omits). */
export interface CheckLine {
  /** null: no `type=` on this line (an earlier line's type, else tcp). */
  type: CheckType | null;
  interval: number;
  fall: number;
  rise: number;
  timeout: number;
  defaultDown: boolean;
  port: number;
}

/** The module's defaults, set at the top of its `check` handler (spec §1.2). */
export const CHECK_DEFAULTS = {
  type: "tcp",
  interval: 30_000,
  rise: 2,
  fall: 5,
  timeout: 1000,
  defaultDown: true,
  port: 0,
  keepaliveRequests: 1,
} as const;

const NUMERIC = ["interval", "timeout", "rise", "fall", "port"] as const;
const PARAMS = ["type=", ...NUMERIC.map((k) => `${k}=`), "default_down="];

/** Parses a `check` line; throws the module's `invalid parameter "ARG"` (or default_down's message). */
export function parseCheckLine(d: Directive): CheckLine {
  const { interval, rise, fall, timeout, defaultDown, port } = CHECK_DEFAULTS;
  const line: CheckLine = { type: null, interval, rise, fall, timeout, defaultDown, port };
  for (const arg of d.args) {
    // The module matches by prefix (ngx_strncmp), case-sensitively.
    const key = PARAMS.find((p) => arg.startsWith(p));
    const value = key === undefined ? "" : arg.slice(key.length);
    if (key === "type=") {
      const type = CHECK_TYPES.find((t) => t === value);
      if (!type) throw withHint(invalidParameter(d, arg), value.toLowerCase(), CHECK_TYPES, "type=");
      line.type = type;
    } else if (key === "default_down=") {
      const v = value.toLowerCase();
      if (v !== "true" && v !== "false")
        throw fail(d, `invalid value "${arg}", it must be "true" or "false"`);
      line.defaultDown = v === "true";
    } else if (key !== undefined) {
      const n = parseNumber(value);
      // ngx_atoi(): plain decimal, no units; the module refuses 0. A port above 65535 is refused too (the
      // module passes it to htons(), which wraps it).
      if (!n || (key === "port=" && n > 65535)) throw invalidParameter(d, arg);
      line[key.slice(0, -1) as (typeof NUMERIC)[number]] = n;
    } else {
      const eq = arg.indexOf("=");
      throw withHint(invalidParameter(d, arg), eq < 0 ? arg : arg.slice(0, eq + 1), PARAMS, "");
    }
  }
  return line;
}

function invalidParameter(d: Directive, arg: string) {
  return fail(d, `invalid parameter "${arg}"`);
}

function withHint<E extends { hint?: string }>(
  err: E,
  word: string,
  known: readonly string[],
  prefix: string,
): E {
  const hint = closest(word, known);
  if (hint !== null) err.hint = `did you mean "${prefix}${hint}"?`;
  return err;
}

/**
 * The classes of one `check_http_expect_alive` line added to `seen` (the module ORs lines together); names
 * match case-insensitively; a repeated one is reported through `warn`, an unknown one is an error.
 */
export function addStatusClasses(
  d: Directive,
  seen: Set<CheckStatusClass>,
  warn: (text: string) => void,
): void {
  for (const arg of d.args) {
    const cls = CHECK_STATUS_CLASSES.find((c) => c === arg.toLowerCase());
    if (!cls) throw withHint(fail(d, `invalid value "${arg}"`), arg.toLowerCase(), CHECK_STATUS_CLASSES, "");
    if (seen.has(cls)) warn(`duplicate value "${arg}"`);
    seen.add(cls);
  }
}

/**
 * Whether an `http` probe is an HTTP/1.1 request without a Host header: most servers answer such a request
 * with 400, and 400 marks the server down (spec §1.4 and §6: yao #127, #218; Tengine #1073, #1269).
 */
export function missesHost(send: string): boolean {
  const head = send.split(/\r?\n\r?\n/, 1)[0]!;
  const [requestLine = "", ...headers] = head.split(/\r?\n/);
  if (!/^\S+ \S+ HTTP\/1\.1\s*$/.test(requestLine)) return false;
  return !headers.some((h) => /^host\s*:/i.test(h));
}
