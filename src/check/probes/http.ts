/**
 * `type=http` (check spec §2.3): send `check_http_send` (default `GET / HTTP/1.0\r\n\r\n`), read only the status
 * line with the module's grammar, and judge its class against `check_http_expect_alive` (default 2xx 3xx).
 */
import type { CheckConf, CheckStatusClass } from "../../config/types.js";
import { incomplete, type ProbeParser, type ProbeProtocol } from "./types.js";

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

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const isDigit = (ch: number): boolean => ch >= 0x30 && ch <= 0x39;

/**
 * `ngx_http_upstream_check_parse_status_line`: `HTTP/` major (first digit 1-9) `.` minor, one or more spaces,
 * exactly 3 digits, then SP or `.` (IIS's `403.1`) and any text, or CR LF, or LF.
 */
export function parseStatusLine(b: Buffer): StatusLine {
  const prefix = "HTTP/";
  let state = 0;
  let code = 0;
  let count = 0;
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
        state = 2;
        break;
      case 2: // major digits or dot
        if (ch === 0x2e) state = 3;
        else if (!isDigit(ch)) return "error";
        break;
      case 3: // first digit of minor
        if (!isDigit(ch)) return "error";
        state = 4;
        break;
      case 4: // minor digits or the space
        if (ch === SP) state = 5;
        else if (!isDigit(ch)) return "error";
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
        else if (ch === LF) return { code };
        else return "error";
        break;
      case 7: // reason phrase
        if (ch === CR) state = 8;
        else if (ch === LF) return { code };
        break;
      default: // 8: after CR
        return ch === LF ? { code } : "error";
    }
  }
  return "again";
}

/** The parser for one http check: the first status line decides. */
export function httpParser(expect: readonly CheckStatusClass[]): ProbeParser {
  return (received, ended) => {
    const line = parseStatusLine(received);
    if (line === "again") return incomplete(ended, "a complete status line");
    if (line === "error") return { error: "http parse status line error" };
    if (statusAlive(line.code, expect)) return "alive";
    return { error: `status ${line.code} is not in ${expect.join(" ") || "(none)"}` };
  };
}

/** `type=http`. */
export const http: ProbeProtocol = {
  request: (conf: CheckConf) => Buffer.from(conf.send ?? HTTP_DEFAULT_SEND, "latin1"),
  parser: (conf: CheckConf) => httpParser(conf.expectAlive ?? HTTP_DEFAULT_EXPECT),
};
