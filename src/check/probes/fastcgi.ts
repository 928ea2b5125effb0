/**
 * `type=fastcgi` (check spec §2.6): judge the first record. STDOUT with content is needed (END_REQUEST or STDERR
 * first, or an empty STDOUT, fail); its content is scanned for a `Status` header. Without
 * `check_http_expect_alive` (the fastcgi default, 0) or without a Status header the peer is alive; otherwise
 * the status class decides.
 */
import type { CheckConf, CheckStatusClass } from "../../config/types.js";
import { statusAlive } from "./http.js";
import { FCGI, fastcgiRequest } from "./fastcgi-request.js";
import { incomplete, type ProbeParser, type ProbeProtocol, type ProbeVerdict } from "./types.js";

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const isDigit = (ch: number): boolean => ch >= 0x30 && ch <= 0x39;
/** Bytes of nginx's `lowcase` table that are not 0: `-`, digits and letters. */
const isHeaderChar = (ch: number): boolean =>
  ch === 0x2d || isDigit(ch) || (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a);

/** `ngx_strncasecmp(name, "status", len) == 0`: a non-empty case-insensitive prefix of "status" (`S`, `Stat`). */
function isStatusName(name: Buffer): boolean {
  return (
    name.length > 0 && "status".startsWith(name.toString("latin1").replace(/[A-Z]/g, (c) => c.toLowerCase()))
  );
}

const enum S {
  Start,
  Name,
  SpaceBeforeValue,
  Value,
  SpaceAfterValue,
  AlmostDone,
  HeaderAlmostDone,
}

/** One call of `ngx_http_upstream_check_parse_fastcgi_status`: the next line's end, a status code, or neither. */
function headerLine(b: Buffer, from: number): { next: number } | { code: number } | "again" | "error" {
  let state = S.Start;
  let nameStart = -1;
  let find = false;
  let code = 0;
  let count = 0;
  for (let p = from; p < b.length; p++) {
    const ch = b[p]!;
    switch (state) {
      case S.Start:
        if (ch === CR) state = S.HeaderAlmostDone;
        else if (ch === LF) return { next: p + 1 };
        else if (ch === 0) return "error";
        else {
          state = S.Name;
          nameStart = isHeaderChar(ch) ? p : -1;
        }
        break;
      case S.Name:
        if (isHeaderChar(ch)) break;
        if (ch === 0x3a) {
          state = S.SpaceBeforeValue;
          find = nameStart >= 0 && isStatusName(b.subarray(nameStart, p));
        } else if (ch === CR) state = S.AlmostDone;
        else if (ch === LF) return { next: p + 1 };
        else if (ch === 0) return "error";
        break;
      case S.SpaceBeforeValue:
        if (ch === SP) break;
        if (ch === CR) state = S.AlmostDone;
        else if (ch === LF) return { next: p + 1 };
        else if (ch === 0) return "error";
        else {
          state = S.Value;
          if (find) {
            if (ch < 0x31 || ch > 0x39) return "error";
            code = ch - 0x30;
            count = 1;
          }
        }
        break;
      case S.Value:
        if (find) {
          if (!isDigit(ch)) return "error";
          code = code * 10 + ch - 0x30;
          if (++count === 3) return { code };
        }
        if (ch === SP) state = S.SpaceAfterValue;
        else if (ch === CR) state = S.AlmostDone;
        else if (ch === LF) return { next: p + 1 };
        else if (ch === 0) return "error";
        break;
      case S.SpaceAfterValue:
        if (ch === SP) break;
        if (ch === CR) state = S.AlmostDone;
        else if (ch === LF)
          state = S.Start; // the module goes on with the next line in the same call
        else if (ch === 0) return "error";
        else state = S.Value;
        break;
      case S.AlmostDone:
        if (ch === LF) return { next: p + 1 };
        if (ch !== CR) return "error";
        break;
      case S.HeaderAlmostDone:
        if (ch === LF) return { next: p + 1 };
        return "error";
    }
  }
  return "again";
}

/**
 * The first Status code in `content`, null when there is none, or "error". Like the module it goes on line by
 * line past the blank line into the body, so a NUL or a bare CR there is an error too.
 */
export function fastcgiStatus(content: Buffer): number | null | "error" {
  for (let at = 0; ;) {
    const r = headerLine(content, at);
    if (r === "error") return "error";
    if (r === "again") return null;
    if ("code" in r) return r.code;
    at = r.next;
  }
}

/** The parser for one fastcgi check; `expect` null or empty = don't check the status (the module's 0). */
export function fastcgiParser(expect: readonly CheckStatusClass[] | null): ProbeParser {
  return (b: Buffer, ended: boolean): ProbeVerdict => {
    // The header is checked byte by byte as it arrives, as `ngx_http_upstream_check_fastcgi_process_record`.
    if (b.length < 1) return incomplete(ended, "a FastCGI record");
    if (b[0] !== 1) return { error: `upstream sent unsupported FastCGI protocol version: ${b[0]}` };
    if (b.length < 2) return incomplete(ended, "a FastCGI record header");
    const type = b[1]!;
    if (type !== FCGI.STDOUT && type !== FCGI.STDERR && type !== FCGI.END_REQUEST) {
      return { error: `upstream sent invalid FastCGI record type: ${type}` };
    }
    if (b.length < 3) return incomplete(ended, "a FastCGI record header");
    if (b[2] !== 0) return { error: `upstream sent unexpected FastCGI request id high byte: ${b[2]}` };
    if (b.length < 4) return incomplete(ended, "a FastCGI record header");
    if (b[3] !== 1) return { error: `upstream sent unexpected FastCGI request id low byte: ${b[3]}` };
    if (b.length < 8) return incomplete(ended, "a FastCGI record header");
    const length = (b[4]! << 8) | b[5]!;
    if (type === FCGI.END_REQUEST) return { error: `check fastcgi sent unexpected FastCGI record: ${type}` };
    if (type === FCGI.STDERR) return { error: "fastcgi check error" };
    if (length === 0) return { error: "check fastcgi prematurely closed FastCGI stdout" };
    // The module needs more bytes than the content (`pos + length < last`) and fails otherwise. Whether they are
    // there yet depends on how the reads fell, so this waits for them while the peer is open.
    if (8 + length >= b.length) return incomplete(ended, "the FastCGI stdout record and one byte more");
    const code = fastcgiStatus(b.subarray(8, 8 + length));
    if (code === "error") return { error: "fastcgi http parse status line error" };
    if (expect === null || expect.length === 0 || code === null) return "alive";
    if (statusAlive(code, expect)) return "alive";
    return { error: `status ${code} is not in ${expect.join(" ")}` };
  };
}

/** `type=fastcgi`; `check_http_send` replaces the built request, as in yao. */
export const fastcgi: ProbeProtocol = {
  request: (conf: CheckConf) =>
    conf.send === null ? fastcgiRequest(conf.fastcgiParams) : Buffer.from(conf.send, "latin1"),
  parser: (conf: CheckConf) => fastcgiParser(conf.expectAlive),
};
