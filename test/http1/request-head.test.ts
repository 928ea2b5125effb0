/**
 * Accepted requests, field by field: forms of the target, keep-alive rules of HTTP/1.0 and 1.1, upgrade,
 * expect, obs-text, pipelining, limits met exactly. Every case is also fed one byte at a time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HeadProgress } from "../../src/http1/common.js";
import { parseRequestHead, type HeadLimits, type RequestHead } from "../../src/http1/request-head.js";

const LIMITS: HeadLimits = { maxRequestLine: 8192, maxHeaderLine: 8192, maxHead: 32768 };
const bytes = (s: string): Buffer => Buffer.from(s, "latin1");

interface Row {
  name: string;
  input: string;
  head: Partial<RequestHead>;
  limits?: HeadLimits;
}

const BASE: RequestHead = {
  method: "GET",
  target: "/",
  versionMinor: 1,
  headers: ["Host", "example.com"],
  host: "example.com",
  contentLength: null,
  chunked: false,
  keepAlive: true,
  upgrade: null,
  expectContinue: false,
  headBytes: 0,
};

const ROWS: Row[] = [
  { name: "minimal HTTP/1.1 GET", input: "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", head: {} },
  {
    name: "browser GET with six headers",
    input:
      "GET /a/b?c=d&e HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11)\r\n" +
      "Accept: text/html,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, br\r\n" +
      "Connection: keep-alive\r\n\r\n",
    head: {
      target: "/a/b?c=d&e",
      host: "shop.example.com",
      headers: [
        "Host",
        "shop.example.com",
        "User-Agent",
        "Mozilla/5.0 (X11)",
        "Accept",
        "text/html,*/*;q=0.8",
        "Accept-Language",
        "en-US,en;q=0.5",
        "Accept-Encoding",
        "gzip, br",
        "Connection",
        "keep-alive",
      ],
    },
  },
  {
    name: "POST with Content-Length (leading zeros are digits)",
    input: "POST /up HTTP/1.1\r\nhost: example.com\r\ncontent-length: 007\r\n\r\n",
    head: {
      method: "POST",
      target: "/up",
      headers: ["host", "example.com", "content-length", "007"],
      contentLength: 7,
    },
  },
  {
    name: "largest Content-Length",
    input: "PUT /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 9007199254740991\r\n\r\n",
    head: {
      method: "PUT",
      target: "/x",
      headers: ["Host", "example.com", "Content-Length", "9007199254740991"],
      contentLength: 9007199254740991,
    },
  },
  {
    name: "chunked in any case, with OWS",
    input: "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: \t Chunked \t\r\n\r\n",
    head: { method: "POST", headers: ["Host", "example.com", "Transfer-Encoding", "Chunked"], chunked: true },
  },
  {
    name: "HTTP/1.0 without Host closes by default",
    input: "GET /old HTTP/1.0\r\n\r\n",
    head: { target: "/old", versionMinor: 0, headers: [], host: null, keepAlive: false },
  },
  {
    name: "HTTP/1.0 keep-alive",
    input: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    head: { versionMinor: 0, headers: ["Connection", "Keep-Alive"], host: null, keepAlive: true },
  },
  {
    name: "HTTP/1.0 close wins over keep-alive",
    input: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
    head: { versionMinor: 0, headers: ["Connection", "keep-alive, close"], host: null, keepAlive: false },
  },
  {
    name: "HTTP/1.1 Connection: close",
    input: "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    head: { headers: ["Host", "example.com", "Connection", "close"], keepAlive: false },
  },
  {
    name: "close as one option among others, over two lines",
    input: "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: TE\r\nConnection: foo ,CLOSE\r\n\r\n",
    head: {
      headers: ["Host", "example.com", "Connection", "TE", "Connection", "foo ,CLOSE"],
      keepAlive: false,
    },
  },
  {
    name: "a token containing 'close' is not close",
    input: "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: closed\r\n\r\n",
    head: { headers: ["Host", "example.com", "Connection", "closed"], keepAlive: true },
  },
  {
    name: "WebSocket upgrade",
    input:
      "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    head: {
      target: "/ws",
      headers: [
        "Host",
        "example.com",
        "Upgrade",
        "websocket",
        "Connection",
        "Upgrade",
        "Sec-WebSocket-Key",
        "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version",
        "13",
      ],
      upgrade: "websocket",
    },
  },
  {
    name: "Upgrade without Connection: upgrade is ignored",
    input: "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: h2c\r\n\r\n",
    head: { headers: ["Host", "example.com", "Upgrade", "h2c"], upgrade: null },
  },
  {
    name: "Upgrade in HTTP/1.0 is ignored (RFC 9110 §7.8)",
    input: "GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    head: {
      versionMinor: 0,
      headers: ["Upgrade", "websocket", "Connection", "upgrade"],
      host: null,
      keepAlive: false,
    },
  },
  {
    name: "Expect: 100-continue",
    input: "PUT /f HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n",
    head: {
      method: "PUT",
      target: "/f",
      headers: ["Host", "example.com", "Content-Length", "3", "Expect", "100-Continue"],
      contentLength: 3,
      expectContinue: true,
    },
  },
  {
    name: "Expect in HTTP/1.0 is ignored (RFC 9110 §10.1.1)",
    input: "PUT /f HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    head: {
      method: "PUT",
      target: "/f",
      versionMinor: 0,
      headers: ["Content-Length", "3", "Expect", "100-continue"],
      host: null,
      contentLength: 3,
      keepAlive: false,
    },
  },
  {
    name: "other Expect values",
    input: "GET / HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue-ish\r\n\r\n",
    head: { headers: ["Host", "example.com", "Expect", "100-continue-ish"] },
  },
  {
    name: "obs-text in values is latin1, OWS trimmed, empty values kept",
    input:
      "GET / HTTP/1.1\r\nHost: example.com\r\nX-Name: \tcaf\xe9 \xff\t \r\nX-Empty:\r\nX-Blank:  \t \r\n\r\n",
    head: { headers: ["Host", "example.com", "X-Name", "caf\xe9 \xff", "X-Empty", "", "X-Blank", ""] },
  },
  {
    name: "repeated list headers kept in order",
    input: "GET / HTTP/1.1\r\nHost: example.com\r\nCookie: a=1\r\nAccept: x\r\nCookie: b=2\r\n\r\n",
    head: { headers: ["Host", "example.com", "Cookie", "a=1", "Accept", "x", "Cookie", "b=2"] },
  },
  {
    name: "absolute-form: its authority wins over Host",
    input: "GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
    head: { target: "http://Example.com:8080/p?q", headers: ["Host", "other"], host: "Example.com:8080" },
  },
  {
    name: "absolute-form with a query and no path",
    input: "GET https://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    head: { target: "https://h?x=1", headers: ["Host", "h"], host: "h" },
  },
  {
    name: "absolute-form with an IPv6 literal",
    input: "GET http://[::1]:8080/ HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    head: { target: "http://[::1]:8080/", headers: ["Host", "[::1]:8080"], host: "[::1]:8080" },
  },
  {
    name: "OPTIONS *",
    input: "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
    head: { method: "OPTIONS", target: "*" },
  },
  {
    name: "CONNECT authority-form",
    input: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    head: {
      method: "CONNECT",
      target: "example.com:443",
      headers: ["Host", "example.com:443"],
      host: "example.com:443",
    },
  },
  {
    name: "extension methods",
    input: "M-SEARCH /x HTTP/1.1\r\nHost: example.com\r\n\r\n",
    head: { method: "M-SEARCH", target: "/x" },
  },
  {
    name: "target bytes nginx accepts: percent, fragment, obs-text, brackets",
    input: "DELETE /a%20b/\xe9?q={x}|y#frag HTTP/1.1\r\nHost: example.com\r\n\r\n",
    head: { method: "DELETE", target: "/a%20b/\xe9?q={x}|y#frag" },
  },
  {
    name: "HTTP/1.2 is handled as 1.1 (RFC 9110 §2.5)",
    input: "GET / HTTP/1.2\r\nHost: example.com\r\n\r\n",
    head: {},
  },
  {
    name: "Host with a trailing dot and upper case",
    input: "GET / HTTP/1.1\r\nHost: Example.COM.\r\n\r\n",
    head: { headers: ["Host", "Example.COM."], host: "Example.COM." },
  },
  {
    name: "empty lines before the request line are skipped (RFC 9112 §2.2)",
    input: "\r\n\r\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    head: {},
  },
  {
    name: "every limit met exactly",
    // request line 30 + CRLF = 32; header line 22 + CRLF = 24; head 32 + 24 + 2 = 58.
    input: `GET /${"a".repeat(16)} HTTP/1.1\r\nHost: ${"h".repeat(16)}\r\n\r\n`,
    limits: { maxRequestLine: 32, maxHeaderLine: 24, maxHead: 58 },
    head: { target: `/${"a".repeat(16)}`, headers: ["Host", "h".repeat(16)], host: "h".repeat(16) },
  },
];

function expectHead(row: Row): RequestHead {
  return { ...BASE, ...row.head, headBytes: bytes(row.input).length };
}

/** Feeds one byte more each time: "incomplete" until the last byte of the head, then exactly `head`. */
function feedByteByByte(input: Buffer, limits: HeadLimits, head: RequestHead, progress?: HeadProgress): void {
  for (let end = 0; end < input.length; end++) {
    // A connection holds a fresh buffer with all bytes so far, as it would after Buffer.concat.
    const sofar = Buffer.from(input.subarray(0, end));
    assert.deepEqual(
      parseRequestHead(sofar, 0, end, limits, progress),
      { kind: "incomplete" },
      `prefix ${end}`,
    );
  }
  assert.deepEqual(parseRequestHead(input, 0, input.length, limits, progress), { kind: "head", head });
}

for (const row of ROWS) {
  test(`request accepted: ${row.name}`, () => {
    const input = bytes(row.input);
    const limits = row.limits ?? LIMITS;
    const head = expectHead(row);
    assert.deepEqual(parseRequestHead(input, 0, input.length, limits), { kind: "head", head });
    // Inside a larger buffer, with a pipelined request after it: only the head is consumed.
    const framed = Buffer.concat([bytes("xyz"), input, bytes("POST / HTTP/1.1\r\n")]);
    assert.deepEqual(parseRequestHead(framed, 3, framed.length, limits), { kind: "head", head });
    feedByteByByte(input, limits, head);
    const progress = { checked: 0 };
    feedByteByByte(input, limits, head, progress);
    assert.equal(progress.checked, 0, "progress resets after a head");
  });
}

test("pipelined requests are parsed one after the other", () => {
  const a = "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n";
  const b = "POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi";
  const c = "GET /c HTTP/1.1\r\nHost: exam";
  const buf = bytes(a + b + c);
  const first = parseRequestHead(buf, 0, buf.length, LIMITS);
  assert.equal(first.kind, "head");
  if (first.kind !== "head") return;
  assert.deepEqual(first.head, { ...BASE, target: "/a", headBytes: a.length });
  const second = parseRequestHead(buf, a.length, buf.length, LIMITS);
  assert.equal(second.kind, "head");
  if (second.kind !== "head") return;
  assert.equal(second.head.target, "/b");
  assert.equal(second.head.headBytes, b.length - 2);
  const third = a.length + b.length;
  assert.deepEqual(parseRequestHead(buf, third, buf.length, LIMITS), { kind: "incomplete" });
});

test("progress resumes at the unfinished line and spares re-reading whole lines", () => {
  const head = "GET / HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nX-B: 2\r\n\r\n";
  const progress = { checked: 0 };
  assert.deepEqual(parseRequestHead(bytes(head.slice(0, 10)), 0, 10, LIMITS, progress), {
    kind: "incomplete",
  });
  assert.equal(progress.checked, 0, "still inside the request line");
  const cut = head.indexOf("X-B") + 2;
  assert.deepEqual(parseRequestHead(bytes(head.slice(0, cut)), 0, cut, LIMITS, progress), {
    kind: "incomplete",
  });
  assert.equal(progress.checked, head.indexOf("X-B"));
  // The resumed scan starts at `checked`: damage before it goes unseen until the head is complete...
  const damaged = bytes(head.slice(0, cut).replace("X-A", "X A"));
  assert.deepEqual(parseRequestHead(damaged, 0, cut, LIMITS, progress), { kind: "incomplete" });
  // ...and the complete head is always parsed whole, so nothing wrong gets through.
  const full = bytes(head.replace("X-A", "X A"));
  const r = parseRequestHead(full, 0, full.length, LIMITS, progress);
  assert.deepEqual(r, {
    kind: "error",
    status: 400,
    reason: "Bad Request",
    log: 'client sent invalid header line: "X\\x20..."',
  });
  assert.equal(progress.checked, 0, "progress resets after an error");
});

test("a head that is incomplete within the limits stays incomplete", () => {
  const limits = { maxRequestLine: 32, maxHeaderLine: 24, maxHead: 64 };
  for (const s of [
    "",
    "\r",
    "\r\n",
    "G",
    "GET",
    "GET /",
    "GET / HTTP/1.1\r",
    "GET / HTTP/1.1\r\nHost: a\r\n\r",
  ]) {
    assert.deepEqual(
      parseRequestHead(bytes(s), 0, s.length, limits),
      { kind: "incomplete" },
      JSON.stringify(s),
    );
  }
});
