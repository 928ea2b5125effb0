/**
 * Seeded mutation fuzzing of the request parser, the response parser and the chunked decoder. Each run is
 * the same run (xorshift32 with fixed seeds): a failure names the iteration and the input, so it can become
 * a corpus row. Properties: never throws; one of the documented outcomes; never consumes beyond the input;
 * the answer does not depend on how the bytes were split; an accepted head re-serialised canonically parses
 * to the same fields.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkedDecoder, type ChunkedFeed } from "../../src/http1/chunked.js";
import { parseRequestHead, type HeadLimits, type RequestHead } from "../../src/http1/request-head.js";
import { parseResponseHead, responseBodyFraming, type ResponseHead } from "../../src/http1/response-head.js";

/** xorshift32 (Marsaglia 2003): tiny, fast, and the same sequence everywhere for a given seed. */
class Xorshift32 {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (this.s = x >>> 0);
  }
  /** 0 <= n < max. */
  int(max: number): number {
    return this.next() % max;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

const LIMITS: HeadLimits = { maxRequestLine: 8192, maxHeaderLine: 8192, maxHead: 32768 };
const bytes = (s: string): Buffer => Buffer.from(s, "latin1");
const show = (b: Buffer): string => JSON.stringify(b.toString("latin1"));

const INSERTS = [
  "\r",
  "\n",
  "\x00",
  " ",
  "\t",
  ":",
  ",",
  ";",
  "\x7f",
  "\xe9",
  "\r\n",
  "\n\n",
  " \r\n",
  "\r\n\r\n",
];
const SMUGGLE = [
  "Transfer-Encoding: chunked\r\n",
  "Content-Length: 0\r\n",
  "Content-Length: 5\r\n",
  "Transfer-Encoding: xchunked\r\n",
  "Transfer-Encoding : chunked\r\n",
  "Content-Length:  5 \r\n",
  "Host: other.example\r\n",
  " folded\r\n",
  "Connection: close, upgrade\r\n",
  "Upgrade: websocket\r\n",
  "Expect: 100-continue\r\n",
];

/** One to three of: bit flip, byte insert/delete/replace, line duplication, truncation, CRLF→LF, case flip. */
function mutate(rng: Xorshift32, input: Buffer): Buffer {
  let b = input;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const at = rng.int(b.length + 1);
    switch (rng.int(9)) {
      case 0:
        if (b.length > 0) {
          b = Buffer.from(b);
          b[at % b.length] = b[at % b.length]! ^ (1 << rng.int(8));
        }
        break;
      case 1:
        b = Buffer.concat([b.subarray(0, at), bytes(rng.pick(INSERTS)), b.subarray(at)]);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        break;
      case 3: {
        const lines = b.toString("latin1").split("\r\n");
        const i = rng.int(lines.length);
        lines.splice(i, 0, lines[i]!);
        b = bytes(lines.join("\r\n"));
        break;
      }
      case 4:
        b = b.subarray(0, at);
        break;
      case 5:
        if (b.length > 0) {
          b = Buffer.from(b);
          b[at % b.length] = rng.int(256);
        }
        break;
      case 6: {
        const s = b.toString("latin1");
        const i = s.indexOf("\r\n", at);
        if (i >= 0) b = bytes(s.slice(0, i) + s.slice(i + 1));
        break;
      }
      case 7: {
        const s = b.toString("latin1");
        const i = s.indexOf("\r\n");
        if (i >= 0) b = bytes(s.slice(0, i + 2) + rng.pick(SMUGGLE) + s.slice(i + 2));
        break;
      }
      default:
        if (b.length > 0) {
          b = Buffer.from(b);
          b[at % b.length] = b[at % b.length]! ^ 0x20;
        }
    }
  }
  return b;
}

/** Checks that the answer for buf[0:end) does not depend on splitting, offset or resume progress. */
function checkSplits<T extends { kind: string }>(
  rng: Xorshift32,
  input: Buffer,
  whole: T,
  consumed: number | null,
  parse: (buf: Buffer, start: number, end: number, progress?: { checked: number }) => T,
): void {
  const cut = rng.int(input.length + 1);
  const pre = parse(Buffer.from(input.subarray(0, cut)), 0, cut);
  if (consumed !== null && cut < consumed) assert.equal(pre.kind, "incomplete", `prefix ${cut} of a head`);
  else if (pre.kind !== "incomplete") assert.deepEqual(pre, whole, `prefix ${cut}`);
  const progress = { checked: 0 };
  const first = parse(Buffer.from(input.subarray(0, cut)), 0, cut, progress);
  const again = first.kind === "incomplete" ? parse(input, 0, input.length, progress) : first;
  assert.deepEqual(again, whole, `resumed at ${cut}`);
  const framed = Buffer.concat([bytes("\r\n#"), input, bytes("GET / HTTP/1.1\r\n")]);
  assert.deepEqual(parse(framed, 3, 3 + input.length), whole, "at an offset");
}

const REQUEST_SEEDS = [
  "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
  "GET /a/b?c=d HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: fuzz/1.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
  "POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "GET http://example.com:8080/p HTTP/1.1\r\nHost: example.com\r\n\r\n",
  "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
  "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
  "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  "GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-Note: caf\xe9\r\n\r\n",
  "\r\nGET /x HTTP/1.1\r\nHost: [::1]:80\r\nCookie: a=1\r\nCookie: b=2\r\n\r\nGET /y HTTP/1.1\r\n",
].map(bytes);

const canonicalRequest = (h: RequestHead): string =>
  `${h.method} ${h.target} HTTP/1.${h.versionMinor}\r\n` +
  h.headers.map((s, i) => (i % 2 === 0 ? `${s}: ` : `${s}\r\n`)).join("") +
  "\r\n";

test("fuzz: 20,000 mutated requests", () => {
  const rng = new Xorshift32(0x5eed1);
  const kinds = { incomplete: 0, head: 0, error: 0 };
  for (let i = 0; i < 20_000; i++) {
    const input = mutate(rng, rng.pick(REQUEST_SEEDS));
    const parse = (buf: Buffer, start: number, end: number, p?: { checked: number }) =>
      parseRequestHead(buf, start, end, LIMITS, p);
    try {
      const r = parse(input, 0, input.length);
      assert.ok(r.kind in kinds, r.kind);
      kinds[r.kind]++;
      if (r.kind === "head") {
        const h = r.head;
        assert.ok(h.headBytes > 0 && h.headBytes <= input.length, "headBytes within the input");
        assert.equal(input.toString("latin1", h.headBytes - 4, h.headBytes), "\r\n\r\n");
        const canon = canonicalRequest(h);
        const again = parseRequestHead(bytes(canon), 0, canon.length, LIMITS);
        assert.deepEqual(again, { kind: "head", head: { ...h, headBytes: canon.length } }, "re-serialised");
      } else if (r.kind === "error") {
        assert.ok([400, 414, 501, 505].includes(r.status));
        assert.ok(r.reason.length > 0 && r.log.startsWith("client sent "), r.log);
      }
      checkSplits(rng, input, r, r.kind === "head" ? r.head.headBytes : null, parse);
    } catch (err) {
      assert.fail(`request iteration ${i}, input ${show(input)}: ${(err as Error).stack}`);
    }
  }
  // The mutations must reach every outcome often, or the fuzzer proves little.
  for (const [kind, n] of Object.entries(kinds)) assert.ok(n > 1000, `${kind}: ${n}`);
});

const RESPONSE_SEEDS = [
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "HTTP/1.1 204 No Content\r\nServer: b\r\n\r\n",
  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 10\r\n\r\n',
  "HTTP/1.1 500\r\nConnection: close\r\n\r\nboom",
].map(bytes);

const canonicalResponse = (h: ResponseHead): string =>
  `HTTP/1.${h.versionMinor} ${h.status} ${h.reason}\r\n` +
  h.headers.map((s, i) => (i % 2 === 0 ? `${s}: ` : `${s}\r\n`)).join("") +
  "\r\n";

test("fuzz: 10,000 mutated responses", () => {
  const rng = new Xorshift32(0x5eed2);
  const kinds = { incomplete: 0, head: 0, error: 0 };
  for (let i = 0; i < 10_000; i++) {
    const input = mutate(rng, rng.pick(RESPONSE_SEEDS));
    const parse = (buf: Buffer, start: number, end: number, p?: { checked: number }) =>
      parseResponseHead(buf, start, end, 8192, p);
    try {
      const r = parse(input, 0, input.length);
      assert.ok(r.kind in kinds, r.kind);
      kinds[r.kind]++;
      if (r.kind === "head") {
        const h = r.head;
        assert.ok(h.headBytes > 0 && h.headBytes <= input.length, "headBytes within the input");
        assert.ok(h.status >= 100 && h.status <= 999);
        for (const method of ["GET", "HEAD", "CONNECT"]) {
          assert.ok(["none", "length", "chunked", "close"].includes(responseBodyFraming(method, h)));
        }
        const canon = canonicalResponse(h);
        const again = parseResponseHead(bytes(canon), 0, canon.length, 8192);
        assert.deepEqual(again, { kind: "head", head: { ...h, headBytes: canon.length } }, "re-serialised");
      } else if (r.kind === "error") {
        assert.ok(r.log.startsWith("upstream sent "), r.log);
      }
      checkSplits(rng, input, r, r.kind === "head" ? r.head.headBytes : null, parse);
    } catch (err) {
      assert.fail(`response iteration ${i}, input ${show(input)}: ${(err as Error).stack}`);
    }
  }
  for (const [kind, n] of Object.entries(kinds)) assert.ok(n > 500, `${kind}: ${n}`);
});

interface Decoded {
  result: ChunkedFeed;
  payload: string;
}

/** Decodes input cut at the given points, each piece in its own buffer; stops at done or error. */
function decodePieces(input: Buffer, cuts: number[]): Decoded {
  const d = new ChunkedDecoder({ maxTrailer: 256, maxLine: 128 });
  let payload = "";
  let consumed = 0;
  const bounds = [...cuts.filter((c) => c > 0 && c < input.length).sort((a, b) => a - b), input.length];
  let at = 0;
  for (const end of bounds) {
    const piece = Buffer.from(input.subarray(at, end));
    const r = d.feed(piece, 0, piece.length, (b, s, e) => {
      assert.ok(s >= 0 && s <= e && e <= piece.length);
      payload += b.toString("latin1", s, e);
    });
    if ("error" in r) return { result: r, payload: "" };
    assert.ok(r.consumed >= 0 && r.consumed <= piece.length);
    consumed += r.consumed;
    if (r.done) return { result: { consumed, done: true }, payload };
    assert.equal(r.consumed, piece.length);
    at = end;
  }
  return { result: { consumed, done: false }, payload };
}

/** A valid chunked body of random chunks, extensions and trailers, with its payload. */
function chunkedBody(rng: Xorshift32): { body: string; payload: string } {
  const ext = (): string => rng.pick(["", "", ";a", ";a=b", ';q="x y"', "; n = v ;m"]);
  let body = "";
  let payload = "";
  for (let n = rng.int(4); n > 0; n--) {
    let data = "";
    for (let k = 1 + rng.int(40); k > 0; k--) data += String.fromCharCode(rng.int(256));
    body += `${rng.pick(["", "0", "00"])}${data.length.toString(16)}${ext()}\r\n${data}\r\n`;
    payload += data;
  }
  body += `0${ext()}\r\n${rng.pick(["", "X-T: 1\r\n", "A: b\r\nC: \xe9\r\n"])}\r\n`;
  return { body, payload };
}

test("fuzz: 10,000 chunked bodies, valid and mutated", () => {
  const rng = new Xorshift32(0x5eed3);
  let done = 0;
  let errors = 0;
  for (let i = 0; i < 10_000; i++) {
    const { body, payload } = chunkedBody(rng);
    const valid = bytes(body + rng.pick(["", "GET / HTTP/1.1\r\n"]));
    const mutated = rng.int(10) < 7;
    const input = mutated ? mutate(rng, valid) : valid;
    try {
      const whole = decodePieces(input, []);
      if (!mutated) assert.deepEqual(whole, { result: { consumed: body.length, done: true }, payload });
      if ("error" in whole.result) errors++;
      else if (whole.result.done) done++;
      const cuts = Array.from({ length: 1 + rng.int(4) }, () => rng.int(input.length + 1));
      assert.deepEqual(decodePieces(input, cuts), whole, `cut at ${cuts.join(",")}`);
      if (i % 50 === 0) {
        const everyByte = Array.from({ length: input.length }, (_, k) => k);
        assert.deepEqual(decodePieces(input, everyByte), whole, "byte at a time");
      }
    } catch (err) {
      assert.fail(`chunked iteration ${i}, input ${show(input)}: ${(err as Error).stack}`);
    }
  }
  assert.ok(done > 3000 && errors > 2000, `done ${done}, errors ${errors}`);
});
