/**
 * `log_format` compiled once into literal parts and variable references, rendered per request by concatenation, as
 * ngx_http_log_compile_format() and ngx_http_log_variable() do (src/http/modules/ngx_http_log_module.c).
 *
 * Lines are *byte strings*: every char is one byte (0x00-0xff), the way Node's HTTP parser hands over header and
 * URL bytes (latin1). Writers encode them with "latin1", so the file gets the bytes nginx would write.
 */
import type { LogFormatConf } from "../config/types.js";
import { SyncgateError } from "../lib/errors.js";

/** A variable's value by name (without "$"); null when nginx would mark it not found. */
export type VariableLookup = (name: string) => string | null;

/** A compiled format: renders one line as a byte string, without the linefeed (the writer adds it). */
export type LogLine = (get: VariableLookup) => string;

/** One piece of a format: literal bytes, or a variable reference. */
export type FormatPart = { literal: string } | { variable: string };

/** Text as UTF-8 bytes in a byte string (for config literals and messages, which are Unicode text). */
export function utf8ByteString(text: string): string {
  return /[\u0080-\uffff]/.test(text) ? Buffer.from(text, "utf8").toString("latin1") : text;
}

/** Whether `value` is printable ASCII without `"` or `\\`: nothing to convert or escape (the common case). */
function plain(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** A value as a byte string: chars up to 0xff are already bytes (latin1 from the wire), wider ones go as UTF-8. */
export function valueByteString(value: string): string {
  if (!/[\u0100-\uffff]/.test(value)) return value;
  return value.replace(/[\u0100-\uffff]+/g, (wide) => Buffer.from(wide, "utf8").toString("latin1"));
}

const hex2 = (c: number): string => (c < 16 ? "0" : "") + c.toString(16).toUpperCase();

/** `escape=default`: `"`, `\`, control bytes and bytes above 0x7e as \xHH (ngx_http_log_escape()). */
export function escapeDefault(bytes: string): string {
  // eslint-disable-next-line no-control-regex
  return bytes.replace(/[\x00-\x1f"\\\x7f-\xff]/g, (ch) => `\\x${hex2(ch.charCodeAt(0))}`);
}

const JSON_SHORT: Record<string, string> = {
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

/** `escape=json`: `"` and `\` backslashed, \n \r \t \b \f, other controls \u00XX; bytes >= 0x7f kept (ngx_escape_json()). */
export function escapeJson(bytes: string): string {
  // eslint-disable-next-line no-control-regex
  return bytes.replace(/["\\\x00-\x1f]/g, (ch) => {
    if (ch === '"' || ch === "\\") return `\\${ch}`;
    return JSON_SHORT[ch] ?? `\\u00${hex2(ch.charCodeAt(0))}`;
  });
}

/** Splits a format into parts with nginx's rules; throws nginx's messages for a bad `$`. */
export function parseLogFormat(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  const isName = (ch: string): boolean => /^[A-Za-z0-9_]$/.test(ch);
  let i = 0;
  while (i < format.length) {
    const start = i;
    if (format[i] !== "$") {
      i = format.indexOf("$", i + 1);
      if (i < 0) i = format.length;
      parts.push({ literal: format.slice(start, i) });
      continue;
    }
    const invalid = (): SyncgateError =>
      new SyncgateError("SG_ERR_CONFIG", `invalid parameter "${format.slice(start)}"`);
    if (++i === format.length) throw invalid();
    const bracket = format[i] === "{";
    if (bracket && ++i === format.length) throw invalid();
    const nameStart = i;
    while (i < format.length && isName(format[i]!)) i++;
    const name = format.slice(nameStart, i);
    if (bracket) {
      if (format[i] !== "}") {
        throw new SyncgateError("SG_ERR_CONFIG", `the closing bracket in "${name}" variable is missing`);
      }
      i++;
    }
    if (name === "") throw invalid();
    parts.push({ variable: name });
  }
  return parts;
}

/** Compiles a `log_format`: missing values log as "-" with default escaping and as nothing with json or none. */
export function compileLogFormat(conf: LogFormatConf): LogLine {
  const escape = conf.escape === "json" ? escapeJson : conf.escape === "none" ? null : escapeDefault;
  // ngx_http_log_variable() writes "-" only for a not-found value; a found empty value stays empty.
  const missing = conf.escape === "default" ? "-" : "";
  const parts = parseLogFormat(conf.format).map((p) =>
    "literal" in p ? utf8ByteString(p.literal) : { name: p.variable },
  );
  return (get) => {
    let line = "";
    for (const p of parts) {
      if (typeof p === "string") {
        line += p;
        continue;
      }
      const value = get(p.name);
      if (value === null) line += missing;
      else if (plain(value)) line += value;
      else line += escape ? escape(valueByteString(value)) : valueByteString(value);
    }
    return line;
  };
}
