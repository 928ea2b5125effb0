/**
 * Accepted upstream responses, field by field, and the body framing each one implies (RFC 9112 §6.3).
 * Every case is also fed one byte at a time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseResponseHead, responseBodyFraming, type ResponseHead } from "../../src/http1/response-head.js";

const bytes = (s: string): Buffer => Buffer.from(s, "latin1");

type Framing = ReturnType<typeof responseBodyFraming>;

interface Row {
  name: string;
  input: string;
  head: Partial<ResponseHead>;
  /** Framing for a GET. */
  framing: Framing;
  /** Another method and the framing it gives. */
  method?: [string, Framing];
}

const BASE: ResponseHead = {
  versionMinor: 1,
  status: 200,
  reason: "OK",
  headers: [],
  contentLength: null,
  chunked: false,
  keepAlive: true,
  upgrade: null,
  headBytes: 0,
};

const ROWS: Row[] = [
  {
    name: "200 with Content-Length",
    input: "HTTP/1.1 200 OK\r\nServer: b\r\nContent-Length: 12\r\n\r\n",
    head: { headers: ["Server", "b", "Content-Length", "12"], contentLength: 12 },
    framing: "length",
  },
  {
    name: "Content-Length: 0",
    input: "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    head: { headers: ["content-length", "0"], contentLength: 0 },
    framing: "length",
  },
  {
    name: "repeated equal Content-Length (RFC 9110 §8.6)",
    input: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n",
    head: { headers: ["Content-Length", "5", "Content-Length", "05"], contentLength: 5 },
    framing: "length",
  },
  {
    name: "chunked",
    input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
    head: { headers: ["Transfer-Encoding", "CHUNKED"], chunked: true },
    framing: "chunked",
  },
  {
    name: "neither length nor chunked: until close",
    input: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
    head: { headers: ["Content-Type", "text/plain"] },
    framing: "close",
  },
  {
    name: "HEAD: no body whatever the headers say",
    input: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
    head: { headers: ["Content-Length", "100"], contentLength: 100 },
    framing: "length",
    method: ["HEAD", "none"],
  },
  {
    name: "204 No Content",
    input: "HTTP/1.1 204 No Content\r\n\r\n",
    head: { status: 204, reason: "No Content" },
    framing: "none",
  },
  {
    name: "304 with a Content-Length of the full entity",
    input: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nETag: "x"\r\n\r\n',
    head: {
      status: 304,
      reason: "Not Modified",
      headers: ["Content-Length", "100", "ETag", '"x"'],
      contentLength: 100,
    },
    framing: "none",
  },
  {
    name: "100 Continue",
    input: "HTTP/1.1 100 Continue\r\n\r\n",
    head: { status: 100, reason: "Continue" },
    framing: "none",
  },
  {
    name: "101 Switching Protocols",
    input: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    head: {
      status: 101,
      reason: "Switching Protocols",
      headers: ["Upgrade", "websocket", "Connection", "Upgrade"],
      upgrade: "websocket",
    },
    framing: "none",
  },
  {
    name: "2xx to CONNECT: a tunnel",
    input: "HTTP/1.1 200 Connection Established\r\n\r\n",
    head: { reason: "Connection Established" },
    framing: "close",
    method: ["CONNECT", "none"],
  },
  {
    name: "HTTP/1.0 closes by default",
    input: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
    head: { versionMinor: 0, headers: ["Content-Length", "1"], contentLength: 1, keepAlive: false },
    framing: "length",
  },
  {
    name: "HTTP/1.0 keep-alive",
    input: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
    head: {
      versionMinor: 0,
      headers: ["Connection", "keep-alive", "Content-Length", "1"],
      contentLength: 1,
      keepAlive: true,
    },
    framing: "length",
  },
  {
    name: "Connection: close",
    input: "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    head: {
      status: 500,
      reason: "Internal Server Error",
      headers: ["Connection", "close", "Content-Length", "0"],
      contentLength: 0,
      keepAlive: false,
    },
    framing: "length",
  },
  {
    name: "no reason, no SP",
    input: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
    head: { status: 404, reason: "", headers: ["Content-Length", "0"], contentLength: 0 },
    framing: "length",
  },
  {
    name: "empty reason after SP",
    input: "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
    head: { reason: "", headers: ["Content-Length", "0"], contentLength: 0 },
    framing: "length",
  },
  {
    name: "reason with tabs and obs-text, header values with obs-text",
    input: "HTTP/1.1 599 Tr\xe8s\tbien \r\nX-Note: d\xe9j\xe0 vu\r\n\r\n",
    head: { status: 599, reason: "Tr\xe8s\tbien ", headers: ["X-Note", "d\xe9j\xe0 vu"] },
    framing: "close",
  },
  {
    name: "highest status",
    input: "HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n",
    head: { status: 999, reason: "Whatever", headers: ["Content-Length", "0"], contentLength: 0 },
    framing: "length",
  },
];

for (const row of ROWS) {
  test(`response accepted: ${row.name}`, () => {
    const input = bytes(row.input);
    const head: ResponseHead = { ...BASE, ...row.head, headBytes: input.length };
    assert.deepEqual(parseResponseHead(input, 0, input.length, 8192), { kind: "head", head });
    const withBody = Buffer.concat([bytes("..."), input, bytes("body bytes")]);
    assert.deepEqual(parseResponseHead(withBody, 3, withBody.length, 8192), { kind: "head", head });
    for (const progress of [undefined, { checked: 0 }]) {
      for (let end = 0; end < input.length; end++) {
        const sofar = Buffer.from(input.subarray(0, end));
        assert.deepEqual(
          parseResponseHead(sofar, 0, end, 8192, progress),
          { kind: "incomplete" },
          `prefix ${end}`,
        );
      }
      assert.deepEqual(parseResponseHead(input, 0, input.length, 8192, progress), { kind: "head", head });
    }
    assert.equal(responseBodyFraming("GET", head), row.framing);
    if (row.method !== undefined) assert.equal(responseBodyFraming(row.method[0], head), row.method[1]);
  });
}

test("framing: the status decides before the headers", () => {
  const chunked: ResponseHead = { ...BASE, chunked: true };
  assert.equal(responseBodyFraming("POST", chunked), "chunked");
  assert.equal(responseBodyFraming("POST", { ...chunked, status: 204 }), "none");
  assert.equal(responseBodyFraming("POST", { ...chunked, status: 103 }), "none");
  assert.equal(responseBodyFraming("CONNECT", { ...chunked, status: 407 }), "chunked");
  assert.equal(responseBodyFraming("GET", { ...BASE, status: 205, contentLength: 0 }), "length");
});

test("a head that fills maxHead exactly is accepted", () => {
  const s = "HTTP/1.1 200 OK\r\nX-A: 12345\r\n\r\n";
  const r = parseResponseHead(bytes(s), 0, s.length, s.length);
  assert.equal(r.kind, "head");
  assert.deepEqual(parseResponseHead(bytes(s), 0, s.length, s.length - 1), {
    kind: "error",
    log: "upstream sent too big header",
  });
});
