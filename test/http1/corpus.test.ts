/**
 * Smuggling and malformed-input corpus: one row per refusal, each with nginx's status, page title and
 * error-log line. Every row is also fed one byte more at a time: each prefix is "incomplete" or already the
 * final answer (so a slow client gets the same answer), with and without resume progress.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HeadProgress } from "../../src/http1/common.js";
import { parseRequestHead, type HeadLimits, type RequestParse } from "../../src/http1/request-head.js";
import { parseResponseHead, type ResponseParse } from "../../src/http1/response-head.js";

const LIMITS: HeadLimits = { maxRequestLine: 8192, maxHeaderLine: 8192, maxHead: 32768 };
const TITLE = {
  400: "Bad Request",
  414: "Request-URI Too Large",
  501: "Not Implemented",
  505: "HTTP Version Not Supported",
};
const TOO_LARGE = "Request Header Or Cookie Too Large";

interface RequestRow {
  name: string;
  input: string;
  status: 400 | 414 | 501 | 505;
  log: string;
  reason?: string;
  limits?: HeadLimits;
}

const H = "Host: example.com\r\n";
const get = (fields: string): string => `GET / HTTP/1.1\r\n${fields}\r\n`;
const post = (fields: string): string => `POST /up HTTP/1.1\r\n${H}${fields}\r\n`;
const badLine = (quote: string): string => `client sent invalid header line: "${quote}"`;
const small: HeadLimits = { maxRequestLine: 32, maxHeaderLine: 24, maxHead: 64 };

const REQUESTS: RequestRow[] = [
  // Request line (ngx_http_parse_request_line), stricter where nginx is lenient.
  {
    name: "two spaces after method",
    input: `GET  / HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "two spaces before version",
    input: `GET /  HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "space after version",
    input: `GET / HTTP/1.1 \r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "tab as separator",
    input: `GET\t/ HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid method",
  },
  {
    name: "lowercase method",
    input: `get / HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid method",
  },
  {
    name: "method with non-token byte",
    input: `G@T / HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid method",
  },
  { name: "empty method", input: ` / HTTP/1.1\r\n${H}\r\n`, status: 400, log: "client sent invalid method" },
  {
    name: "TLS hello on a plain port",
    input: "\x16\x03\x01\x02\x00\x01",
    status: 400,
    log: "client sent invalid method",
  },
  {
    name: "control byte in target",
    input: `GET /a\x01b HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "DEL in target",
    input: `GET /a\x7fb HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "NUL in target",
    input: `GET /a\x00 HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "relative target",
    input: `GET a/b HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "asterisk for GET",
    input: `GET * HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "asterisk with a path",
    input: `OPTIONS *x HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "authority-form for GET",
    input: `GET example.com:443 HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "origin-form for CONNECT",
    input: `CONNECT /x HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "CONNECT without port",
    input: `CONNECT example.com HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "absolute-form with userinfo",
    input: `GET http://u:p@h/ HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid host in request line",
  },
  {
    name: "absolute-form without host",
    input: `GET http:///p HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid host in request line",
  },
  {
    name: "absolute-form with empty port",
    input: `GET http://h:/p HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid host in request line",
  },
  {
    name: "absolute-form with '..' host",
    input: `GET http://a..b/ HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid host in request line",
  },
  {
    name: "absolute-form without '//'",
    input: `GET http:/p HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  { name: "HTTP/2.0", input: `GET / HTTP/2.0\r\n${H}\r\n`, status: 505, log: "client sent invalid version" },
  {
    name: "HTTP/3 (505 at the major digit)",
    input: "GET / HTTP/3",
    status: 505,
    log: "client sent invalid version",
  },
  {
    name: "HTTP/0.9 version",
    input: `GET / HTTP/0.9\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "lowercase protocol",
    input: `GET / http/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "two-digit minor",
    input: `GET / HTTP/1.10\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "missing minor",
    input: `GET / HTTP/1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "HTTP/0.9 request (no version)",
    input: "GET /\r\n\r\n",
    status: 400,
    log: "client sent HTTP/0.9 request",
  },
  {
    name: "bare LF after request line",
    input: `GET / HTTP/1.1\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "bare CR after request line",
    input: `GET / HTTP/1.1\rX${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "leading bare LF",
    input: `\nGET / HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  {
    name: "leading CR without LF",
    input: `\rGET / HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    log: "client sent invalid request",
  },
  // Limits: large_client_header_buffers.
  {
    name: "request line too long",
    input: `GET /${"a".repeat(40)} HTTP/1.1\r\n\r\n`,
    limits: small,
    status: 414,
    log: "client sent too long URI",
  },
  {
    name: "request line too long, still incomplete",
    input: `GET /${"a".repeat(40)}`,
    limits: small,
    status: 414,
    log: "client sent too long URI",
  },
  {
    name: "request line too long by its CRLF",
    input: `GET /${"a".repeat(17)} HTTP/1.1\r\n`,
    limits: small,
    status: 414,
    log: "client sent too long URI",
  },
  {
    name: "header line too long",
    input: `GET / HTTP/1.1\r\nX-Long: ${"v".repeat(30)}\r\n\r\n`,
    limits: small,
    status: 400,
    reason: TOO_LARGE,
    log: 'client sent too long header line: "X-Long: vvvvvvvvvvvvvvvv..."',
  },
  {
    name: "head too large",
    input: `GET / HTTP/1.1\r\n${"A: 1234567890123\r\n".repeat(3)}\r\n`,
    limits: small,
    status: 400,
    reason: TOO_LARGE,
    log: "client sent too large request",
  },
  {
    name: "empty lines before the request line count",
    input: `${"\r\n".repeat(40)}GET / HTTP/1.1\r\n`,
    limits: small,
    status: 400,
    reason: TOO_LARGE,
    log: "client sent too large request",
  },
  // Framing: RFC 9112 §6 and ngx_http_process_request_header().
  {
    name: "Content-Length with Transfer-Encoding",
    input: post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
    status: 400,
    log: 'client sent "Content-Length" and "Transfer-Encoding" headers at the same time',
  },
  {
    name: "Transfer-Encoding with Content-Length",
    input: post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
    status: 400,
    log: 'client sent "Content-Length" and "Transfer-Encoding" headers at the same time',
  },
  {
    name: "duplicate Content-Length, equal",
    input: post("Content-Length: 5\r\nContent-Length: 5\r\n"),
    status: 400,
    log: 'client sent duplicate header line: "Content-Length: 5", previous value: "Content-Length: 5"',
  },
  {
    name: "duplicate Content-Length, different",
    input: post("Content-Length: 5\r\ncontent-length: 6\r\n"),
    status: 400,
    log: 'client sent duplicate header line: "content-length: 6", previous value: "Content-Length: 5"',
  },
  {
    name: "Content-Length list",
    input: post("Content-Length: 5, 5\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Content-Length not digits",
    input: post("Content-Length: abc\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Content-Length negative",
    input: post("Content-Length: -1\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Content-Length with plus sign",
    input: post("Content-Length: +1\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Content-Length empty",
    input: post("Content-Length:\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Content-Length hex",
    input: post("Content-Length: 0x10\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Content-Length with inner space",
    input: post("Content-Length: 1 0\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Content-Length 2^53",
    input: post("Content-Length: 9007199254740992\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Content-Length overflow",
    input: post("Content-Length: 99999999999999999999\r\n"),
    status: 400,
    log: 'client sent invalid "Content-Length" header',
  },
  {
    name: "Transfer-Encoding gzip, chunked",
    input: post("Transfer-Encoding: gzip, chunked\r\n"),
    status: 501,
    log: 'client sent unknown "Transfer-Encoding": "gzip, chunked"',
  },
  {
    name: "Transfer-Encoding chunked, chunked",
    input: post("Transfer-Encoding: chunked, chunked\r\n"),
    status: 501,
    log: 'client sent unknown "Transfer-Encoding": "chunked, chunked"',
  },
  {
    name: "Transfer-Encoding identity",
    input: post("Transfer-Encoding: identity\r\n"),
    status: 501,
    log: 'client sent unknown "Transfer-Encoding": "identity"',
  },
  {
    name: "Transfer-Encoding with parameter",
    input: post("Transfer-Encoding: chunked;q=1\r\n"),
    status: 501,
    log: 'client sent unknown "Transfer-Encoding": "chunked;q=1"',
  },
  {
    name: "Transfer-Encoding twice",
    input: post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
    status: 400,
    log: 'client sent duplicate header line: "Transfer-Encoding: chunked", previous value: "Transfer-Encoding: chunked"',
  },
  {
    name: "Transfer-Encoding in HTTP/1.0",
    input: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    status: 400,
    log: 'client sent HTTP/1.0 request with "Transfer-Encoding" header',
  },
  // Field lines: RFC 9112 §5.
  { name: "obs-fold with SP", input: get(`${H}X-A: a\r\n b\r\n`), status: 400, log: badLine("\\x20...") },
  { name: "obs-fold with HTAB", input: get(`${H}X-A: a\r\n\tb\r\n`), status: 400, log: badLine("\\x09...") },
  {
    name: "first header folded",
    input: `GET / HTTP/1.1\r\n ${H}\r\n`,
    status: 400,
    log: badLine("\\x20..."),
  },
  {
    name: "space between name and colon",
    input: get("Host : example.com\r\n"),
    status: 400,
    log: badLine("Host\\x20..."),
  },
  {
    name: "tab between name and colon",
    input: get(`${H}Content-Length\t: 5\r\n`),
    status: 400,
    log: badLine("Content-Length\\x09..."),
  },
  { name: "non-tchar in name", input: get(`${H}X@Y: a\r\n`), status: 400, log: badLine("X\\x40...") },
  { name: "obs-text in name", input: get(`${H}X\xe9: a\r\n`), status: 400, log: badLine("X\\xe9...") },
  { name: "NUL in name", input: get(`${H}X\x00Y: a\r\n`), status: 400, log: badLine("X\\x00...") },
  { name: "empty name", input: get(`${H}: a\r\n`), status: 400, log: badLine("\\x3a...") },
  { name: "no colon", input: get(`${H}Foo\r\n`), status: 400, log: badLine("Foo\\x0d...") },
  {
    name: "bare LF ending a header",
    input: get(`${H}X-A: a\nX-B: b\r\n`),
    status: 400,
    log: badLine("X-A: a\\x0a..."),
  },
  {
    name: "bare LF ending the head",
    input: `GET / HTTP/1.1\r\n${H}\n`,
    status: 400,
    log: badLine("\\x0a..."),
  },
  {
    name: "bare CR in a value",
    input: get(`${H}X-A: a\rb\r\n`),
    status: 400,
    log: badLine("X-A: a\\x0d..."),
  },
  {
    name: "bare CR ending the head",
    input: `GET / HTTP/1.1\r\n${H}\rX`,
    status: 400,
    log: badLine("\\x0d..."),
  },
  { name: "NUL in a value", input: get(`${H}X-A: a\x00b\r\n`), status: 400, log: badLine("X-A: a\\x00...") },
  {
    name: "control byte in a value",
    input: get(`${H}X-A: a\x01b\r\n`),
    status: 400,
    log: badLine("X-A: a\\x01..."),
  },
  { name: "ESC in a value", input: get(`${H}X-A: \x1b[31m\r\n`), status: 400, log: badLine("X-A: \\x1b...") },
  { name: "DEL in a value", input: get(`${H}X-A: a\x7f\r\n`), status: 400, log: badLine("X-A: a\\x7f...") },
  // Host: RFC 9112 §3.2, ngx_http_process_host(), ngx_http_validate_host().
  {
    name: "HTTP/1.1 without Host",
    input: get(""),
    status: 400,
    log: 'client sent HTTP/1.1 request without "Host" header',
  },
  {
    name: "duplicate Host",
    input: get("Host: a\r\nhost: b\r\n"),
    status: 400,
    log: 'client sent duplicate host header: "host: b", previous value: "Host: a"',
  },
  {
    name: "Host with a space",
    input: get("Host: a b\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  {
    name: "Host with a slash",
    input: get("Host: a/b\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  {
    name: "Host with '..'",
    input: get("Host: a..b\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  { name: "Host empty", input: get("Host:\r\n"), status: 400, log: "client sent invalid host header" },
  {
    name: "Host with empty port",
    input: get("Host: a:\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  {
    name: "Host with port above 65535",
    input: get("Host: a:65536\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  {
    name: "Host with non-digit port",
    input: get("Host: a:8a\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  {
    name: "Host with unclosed IP literal",
    input: get("Host: [::1\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  {
    name: "Host with userinfo",
    input: get("Host: u@a\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  {
    name: "Host with a control byte",
    input: get("Host: a\x01b\r\n"),
    status: 400,
    log: badLine("Host: a\\x01..."),
  },
  {
    name: "Host with obs-text",
    input: get("Host: \xe9.com\r\n"),
    status: 400,
    log: "client sent invalid host header",
  },
  // Other headers nginx accepts once only (ngx_http_process_unique_header_line).
  {
    name: "duplicate Authorization",
    input: get(`${H}Authorization: a\r\nAuthorization: b\r\n`),
    status: 400,
    log: 'client sent duplicate header line: "Authorization: b", previous value: "Authorization: a"',
  },
  {
    name: "duplicate Expect",
    input: get(`${H}Expect: 100-continue\r\nExpect: 100-continue\r\n`),
    status: 400,
    log: 'client sent duplicate header line: "Expect: 100-continue", previous value: "Expect: 100-continue"',
  },
];

interface ResponseRow {
  name: string;
  input: string;
  log: string;
  maxHead?: number;
}

const NO_STATUS = "upstream sent no valid HTTP/1.0 header";
const ok = (fields: string): string => `HTTP/1.1 200 OK\r\n${fields}\r\n`;
const badHeader = (quote: string): string => `upstream sent invalid header: "${quote}"`;
const CL_TE = 'upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time';

const RESPONSES: ResponseRow[] = [
  { name: "HTTP/2.0 status line", input: "HTTP/2.0 200 OK\r\n\r\n", log: NO_STATUS },
  { name: "lowercase protocol", input: "http/1.1 200 OK\r\n\r\n", log: NO_STATUS },
  { name: "not HTTP", input: "ICY 200 OK\r\n\r\n", log: NO_STATUS },
  { name: "two-digit status", input: "HTTP/1.1 20 OK\r\n\r\n", log: NO_STATUS },
  { name: "four-digit status", input: "HTTP/1.1 2000 OK\r\n\r\n", log: NO_STATUS },
  { name: "status below 100", input: "HTTP/1.1 099 Odd\r\n\r\n", log: NO_STATUS },
  { name: "two spaces before status", input: "HTTP/1.1  200 OK\r\n\r\n", log: NO_STATUS },
  { name: "bare LF after status line", input: "HTTP/1.1 200 OK\nServer: x\r\n\r\n", log: NO_STATUS },
  { name: "bare CR in reason", input: "HTTP/1.1 200 O\rK\r\n\r\n", log: NO_STATUS },
  { name: "NUL in reason", input: "HTTP/1.1 200 O\x00K\r\n\r\n", log: NO_STATUS },
  {
    name: "Content-Length with Transfer-Encoding",
    input: ok("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
    log: CL_TE,
  },
  {
    name: "Transfer-Encoding with Content-Length",
    input: ok("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
    log: CL_TE,
  },
  {
    name: "duplicate Content-Length, different",
    input: ok("Content-Length: 5\r\nContent-Length: 6\r\n"),
    log: 'upstream sent duplicate header line: "Content-Length: 6", previous value: "Content-Length: 5"',
  },
  {
    name: "duplicate Content-Length, second invalid",
    input: ok("Content-Length: 5\r\nContent-Length: x\r\n"),
    log: 'upstream sent duplicate header line: "Content-Length: x", previous value: "Content-Length: 5"',
  },
  {
    name: "Content-Length not digits",
    input: ok("Content-Length: abc\r\n"),
    log: 'upstream sent invalid "Content-Length" header: "Content-Length: abc"',
  },
  {
    name: "Content-Length negative",
    input: ok("Content-Length: -5\r\n"),
    log: 'upstream sent invalid "Content-Length" header: "Content-Length: -5"',
  },
  {
    name: "Content-Length empty",
    input: ok("Content-Length: \r\n"),
    log: 'upstream sent invalid "Content-Length" header: "Content-Length: "',
  },
  {
    name: "Content-Length list",
    input: ok("Content-Length: 5,5\r\n"),
    log: 'upstream sent invalid "Content-Length" header: "Content-Length: 5,5"',
  },
  {
    name: "Transfer-Encoding gzip",
    input: ok("Transfer-Encoding: gzip\r\n"),
    log: 'upstream sent unknown "Transfer-Encoding": "gzip"',
  },
  {
    name: "Transfer-Encoding gzip, chunked",
    input: ok("Transfer-Encoding: gzip, chunked\r\n"),
    log: 'upstream sent unknown "Transfer-Encoding": "gzip, chunked"',
  },
  {
    name: "Transfer-Encoding twice",
    input: ok("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
    log: 'upstream sent duplicate header line: "Transfer-Encoding: chunked", previous value: "Transfer-Encoding: chunked"',
  },
  { name: "obs-fold", input: ok("X-A: a\r\n b\r\n"), log: badHeader("\\x20...") },
  {
    name: "space before colon",
    input: ok("Content-Length : 5\r\n"),
    log: badHeader("Content-Length\\x20..."),
  },
  { name: "non-tchar in name", input: ok("X[1]: a\r\n"), log: badHeader("X\\x5b...") },
  { name: "bare LF ending a header", input: ok("X-A: a\nX-B: b\r\n"), log: badHeader("X-A: a\\x0a...") },
  { name: "bare CR in a value", input: ok("X-A: a\rb\r\n"), log: badHeader("X-A: a\\x0d...") },
  { name: "NUL in a value", input: ok("X-A: a\x00\r\n"), log: badHeader("X-A: a\\x00...") },
  {
    name: "head too big",
    input: ok(`X-A: ${"a".repeat(100)}\r\n`),
    maxHead: 64,
    log: "upstream sent too big header",
  },
  {
    name: "status line too big",
    input: `HTTP/1.1 200 ${"O".repeat(100)}`,
    maxHead: 64,
    log: "upstream sent too big header",
  },
];

const bytes = (s: string): Buffer => Buffer.from(s, "latin1");

/** Parses every prefix; returns the answer of the whole input after checking prefixes agree with it. */
function byteByByte<T extends { kind: string }>(
  input: Buffer,
  parse: (end: number, p?: HeadProgress) => T,
): T {
  const whole = parse(input.length);
  for (const progress of [undefined, { checked: 0 }]) {
    let settled: T | undefined;
    for (let end = 1; end <= input.length; end++) {
      const r = parse(end, progress);
      if (settled !== undefined) assert.deepEqual(r, settled, `prefix ${end} after an answer`);
      else if (r.kind !== "incomplete") {
        assert.deepEqual(r, whole, `prefix ${end} of ${input.length}`);
        settled = r;
      }
    }
    assert.deepEqual(settled, whole);
  }
  return whole;
}

for (const row of REQUESTS) {
  test(`request refused: ${row.name}`, () => {
    const input = bytes(row.input);
    const limits = row.limits ?? LIMITS;
    const expected: RequestParse = {
      kind: "error",
      status: row.status,
      reason: row.reason ?? TITLE[row.status],
      log: row.log,
    };
    assert.deepEqual(parseRequestHead(input, 0, input.length, limits), expected);
    // At an offset inside a larger buffer, with bytes after it: the same answer.
    const framed = Buffer.concat([bytes("JUNK"), input, bytes("GET / HTTP/1.1\r\n")]);
    assert.deepEqual(parseRequestHead(framed, 4, 4 + input.length, limits), expected);
    assert.deepEqual(
      byteByByte(input, (end, p) => parseRequestHead(input, 0, end, limits, p)),
      expected,
    );
  });
}

for (const row of RESPONSES) {
  test(`response refused: ${row.name}`, () => {
    const input = bytes(row.input);
    const maxHead = row.maxHead ?? 8192;
    const expected: ResponseParse = { kind: "error", log: row.log };
    assert.deepEqual(parseResponseHead(input, 0, input.length, maxHead), expected);
    assert.deepEqual(
      byteByByte(input, (end, p) => parseResponseHead(input, 0, end, maxHead, p)),
      expected,
    );
  });
}

test("the corpus covers every refusal listed in the design, each once", () => {
  assert.ok(REQUESTS.length >= 80, `${REQUESTS.length} request rows`);
  assert.ok(RESPONSES.length >= 25, `${RESPONSES.length} response rows`);
  assert.equal(new Set(REQUESTS.map((r) => r.name)).size, REQUESTS.length);
  assert.equal(new Set(RESPONSES.map((r) => r.name)).size, RESPONSES.length);
});
