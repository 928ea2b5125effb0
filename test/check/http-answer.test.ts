/**
 * The pure half of kept http check connections (check spec §1.3, §9): what the probe's request allows
 * (`requestTraits`), and `HttpAnswer`, which reads one whole answer — status line, headers, then the body by
 * Content-Length or chunked framing — and says whether the connection can carry the next probe. Every answer is
 * also fed one byte at a time, as reads may split it, and must reach the same verdict.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { http, HttpAnswer, MAX_HEAD, requestTraits } from "../../src/check/probes/http.js";
import type { AnswerVerdict } from "../../src/check/probes/types.js";
import type { CheckStatusClass } from "../../src/config/types.js";
import { checkConf } from "../support/probe-peers.js";

const DEFAULT_EXPECT: CheckStatusClass[] = ["http_2xx", "http_3xx"];

/** "keep", "close" (alive, connection not reused), "again" or "error: why". */
function label(v: AnswerVerdict): string {
  if (v === "again") return "again";
  if ("error" in v) return `error: ${v.error}`;
  return v.reusable ? "keep" : "close";
}

/** The verdict for `answer` given whole, and the same given byte by byte (must agree). */
function verdict(answer: string, opts: { head?: boolean; expect?: CheckStatusClass[] } = {}): string {
  const bytes = Buffer.from(answer, "latin1");
  const whole = label(new HttpAnswer(opts.expect ?? DEFAULT_EXPECT, opts.head ?? false).feed(bytes));
  const reader = new HttpAnswer(opts.expect ?? DEFAULT_EXPECT, opts.head ?? false);
  let drip = "again";
  let at = 0;
  while (drip === "again" && at < bytes.length) drip = label(reader.feed(bytes.subarray(at, ++at)));
  assert.equal(drip, whole, `byte by byte: ${JSON.stringify(answer)}`);
  if (whole === "keep") assert.equal(at, bytes.length, "alive and kept only at the answer's last byte");
  return whole;
}

const OK = "HTTP/1.1 200 OK\r\n";

test("Content-Length and chunked bodies are read to their end; the connection is kept", () => {
  assert.equal(verdict(`${OK}Content-Length: 5\r\n\r\nhello`), "keep");
  assert.equal(verdict(`${OK}Content-Length: 0\r\n\r\n`), "keep");
  assert.equal(verdict(`${OK}content-length:5\r\nX-A: b\r\n\r\nhello`), "keep", "names are case-insensitive");
  assert.equal(verdict(`${OK}Content-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello`), "keep", "agreeing");
  assert.equal(verdict(`${OK}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`), "keep");
  assert.equal(
    verdict(
      `${OK}Transfer-Encoding: gzip, Chunked\r\n\r\n1A;ext=1\r\n${"z".repeat(26)}\r\n0\r\nX-T: 1\r\n\r\n`,
    ),
    "keep",
    "hex sizes, extensions, trailers, chunked after another coding",
  );
  assert.equal(
    verdict(`${OK}Transfer-Encoding: gzip;level=1\r\nTransfer-Encoding:  chunked ; x=1 ,\r\n\r\n0\r\n\r\n`),
    "keep",
    "codings over two fields, parameters and blanks dropped",
  );
  assert.equal(verdict(`${OK}Content-Length:\t2 ,2\r\n\r\nok`), "keep", "blanks around list elements");
  assert.equal(verdict("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"), "keep", "bare LF line ends");
  assert.equal(verdict("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok"), "keep");
  assert.equal(verdict("HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 3\r\n\r\n/x\n"), "keep");
});

test("no body after HEAD, 204 and 304, whatever the headers say", () => {
  assert.equal(verdict(`${OK}Content-Length: 100\r\n\r\n`, { head: true }), "keep");
  assert.equal(verdict(`${OK}Transfer-Encoding: chunked\r\n\r\n`, { head: true }), "keep");
  assert.equal(verdict("HTTP/1.1 204 No Content\r\n\r\n"), "keep");
  assert.equal(verdict("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), "keep");
  // The same bytes after a GET: a body of 100 bytes is still to come.
  assert.equal(verdict(`${OK}Content-Length: 100\r\n\r\n`), "again");
});

test("alive, and the connection closed after the probe: Connection: close, HTTP/1.0, no framing", () => {
  assert.equal(
    verdict(`${OK}Connection: close\r\nContent-Length: 100\r\n\r\n`),
    "close",
    "no wait for the body",
  );
  assert.equal(verdict(`${OK}Connection: keep-alive, Close\r\n\r\n`), "close");
  assert.equal(verdict("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), "close");
  assert.equal(
    verdict(`${OK}\r\nbody until the close`),
    "close",
    "no length: the body ends with the connection",
  );
  assert.equal(verdict(`${OK}Transfer-Encoding: gzip\r\n\r\n`), "close", "not chunked last");
  assert.equal(
    verdict(`${OK}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`),
    "close",
    "both framings: not reused",
  );
  assert.equal(verdict("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), "close");
});

test("the status line decides at once when it fails; headers are not awaited", () => {
  assert.equal(verdict("HTTP/1.1 500 Oops\r\n"), "error: status 500 is not in http_2xx http_3xx");
  assert.equal(
    verdict("HTTP/1.1 200 OK\r\n", { expect: ["http_4xx"] }),
    "error: status 200 is not in http_4xx",
  );
  assert.equal(verdict("HTTP/1.1 101 Switching\r\n"), "error: status 101 is not in http_2xx http_3xx");
  assert.equal(verdict("SSH-2.0-OpenSSH\r\n"), "error: http parse status line error");
  assert.equal(verdict(`${OK}Content-Length: 2\r\n`), "again");
});

test("bad framing and bytes after the answer are failures", () => {
  assert.equal(verdict(`${OK}Content-Length: abc\r\n\r\n`), 'error: invalid Content-Length "abc"');
  assert.equal(
    verdict(`${OK}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`),
    'error: invalid Content-Length "5, 6"',
  );
  assert.equal(verdict(`${OK}Content-Length: -1\r\n\r\n`), 'error: invalid Content-Length "-1"');
  assert.equal(verdict(`${OK}Content-Length: 5,,5\r\n\r\n`), 'error: invalid Content-Length "5,,5"');
  assert.equal(
    verdict(`${OK}Content-Length: ${"1".repeat(16)}\r\n\r\n`),
    `error: invalid Content-Length "${"1".repeat(16)}"`,
    "16 digits",
  );
  assert.equal(
    verdict(`${OK}Content-Length: 2\r\nX: y\r\nContent-Length: 2, 3\r\n\r\n`),
    'error: invalid Content-Length "2, 2, 3"',
  );
  assert.equal(
    verdict(`${OK}Transfer-Encoding: chunked, gzip\r\n\r\nbody`),
    "close",
    "chunked not last: the body ends with the connection",
  );
  assert.equal(verdict(`${OK}X: a\rb\r\n\r\n`), "error: malformed header line");
  assert.equal(verdict(`${OK}Transfer-Encoding: chunked\r\n\r\nzz\r\n`), "error: invalid chunk size");
  assert.equal(
    verdict(`${OK}Transfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n`),
    "error: no line end after chunk data",
  );
  assert.equal(
    verdict(`${OK}Transfer-Encoding: chunked\r\n\r\n${"f".repeat(13)}\r\n`),
    "error: chunk size too large",
  );
  // Whole: the extra bytes come with the answer. (Byte by byte the answer is over first: see the next test.)
  const r = new HttpAnswer(DEFAULT_EXPECT, false).feed(
    Buffer.from(`${OK}Content-Length: 2\r\n\r\nokHTTP/1.1`),
  );
  assert.equal(label(r), "error: 8 bytes after the end of the answer");
  const c = new HttpAnswer(DEFAULT_EXPECT, false).feed(
    Buffer.from(`${OK}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n`),
  );
  assert.equal(label(c), "error: 2 bytes after the end of the answer");
});

test("a body in several reads: the bytes after it in the last read are still seen", () => {
  const reader = new HttpAnswer(DEFAULT_EXPECT, false);
  assert.equal(label(reader.feed(Buffer.from(`${OK}Content-Length: 4\r\n\r\nab`))), "again");
  assert.equal(label(reader.feed(Buffer.from("cdEXTRA"))), "error: 5 bytes after the end of the answer");
});

test("a close before the end of the answer: what was missing", () => {
  const at = (answer: string): string => {
    const reader = new HttpAnswer(DEFAULT_EXPECT, false);
    assert.equal(reader.feed(Buffer.from(answer, "latin1")), "again");
    return reader.end().error;
  };
  assert.equal(at("HTTP/1.1 20"), "connection closed before a complete status line");
  assert.equal(at(`${OK}Content-Le`), "connection closed before the end of the headers");
  assert.equal(at(`${OK}Content-Length: 9\r\n\r\nshort`), "connection closed before the end of the body");
  assert.equal(
    at(`${OK}Transfer-Encoding: chunked\r\n\r\n5\r\nhel`),
    "connection closed before the end of the body",
  );
});

test(`status line and headers are read up to ${MAX_HEAD} bytes`, () => {
  const reader = new HttpAnswer(DEFAULT_EXPECT, false);
  assert.equal(reader.feed(Buffer.from(`${OK}X-Big: ${"a".repeat(MAX_HEAD / 2)}\r\n`)), "again");
  assert.equal(
    label(reader.feed(Buffer.from(`X-Big: ${"a".repeat(MAX_HEAD / 2)}\r\n`))),
    `error: no end of the headers within ${MAX_HEAD} bytes`,
  );
});

test("requestTraits: which requests let the server keep the connection, and HEAD", () => {
  const cases: [string, boolean, boolean][] = [
    ["GET / HTTP/1.0\r\n\r\n", false, false],
    ["HEAD / HTTP/1.0\r\n\r\n", false, true],
    ["GET /health HTTP/1.1\r\nHost: x\r\n\r\n", true, false],
    ["HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", true, true],
    ["GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, false],
    ["GET / HTTP/1.1\r\nhost: x\r\nconnection: TE, Close\r\n\r\n", false, false],
    ["GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, false],
    ["GET / HTTP/1.0\nConnection: keep-alive\n\n", true, false],
    ["GET / HTTP/1.1\r\nHost: x\r\n\r\nConnection: close\r\n", true, false],
    ["GET / HTTP/2.0\r\n\r\n", false, false],
    ["GET /\r\n\r\n", false, false],
    ["PING\r\n", false, false],
  ];
  for (const [send, keepAlive, head] of cases) {
    assert.deepEqual(requestTraits(send), { keepAlive, head }, JSON.stringify(send));
  }
});

test("the http type reads whole answers only when its request allows keep-alive", () => {
  assert.equal(http.reader!(checkConf("http")), null, "the default GET / HTTP/1.0");
  const kept = checkConf("http", { send: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", keepaliveRequests: 5 });
  assert.ok(http.reader!(kept) instanceof HttpAnswer);
});

test("reset: a reader kept for the next probe forgets everything of the last answer", () => {
  const reader = new HttpAnswer(DEFAULT_EXPECT, false);
  // Left mid-body, with framing fields read: a reset must drop the remaining length and the fields.
  assert.equal(
    label(reader.feed(Buffer.from(`${OK}Content-Length: 9\r\nConnection: close\r\n\r\nab`))),
    "close",
  );
  reader.reset();
  assert.equal(
    label(reader.feed(Buffer.from(`${OK}Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n`))),
    "again",
  );
  reader.reset();
  assert.equal(label(reader.feed(Buffer.from(`${OK}Content-Length: 2\r\n\r\nok`))), "keep");
  reader.reset();
  assert.equal(
    label(reader.feed(Buffer.from("HTTP/1.1 500 Oops\r\n"))),
    "error: status 500 is not in http_2xx http_3xx",
  );
});
