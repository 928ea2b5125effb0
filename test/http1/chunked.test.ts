/**
 * Chunked decoder tables: accepted bodies with their payload and consumed bytes, refused bodies with their
 * stable error. Every case is also fed one byte at a time and must end the same way.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkedDecoder, type ChunkedFeed } from "../../src/http1/chunked.js";

const bytes = (s: string): Buffer => Buffer.from(s, "latin1");

interface Outcome {
  result: ChunkedFeed;
  payload: string;
}

/** Feeds `input` in pieces of `step` bytes (Infinity = whole); stops at done or error like a caller would. */
function decode(input: Buffer, step: number, limits?: { maxTrailer?: number; maxLine?: number }): Outcome {
  const d = new ChunkedDecoder(limits);
  let payload = "";
  let consumed = 0;
  for (let at = 0; ;) {
    const end = Math.min(input.length, at + step);
    // Each piece arrives in a buffer of its own, as socket reads do.
    const piece = Buffer.from(input.subarray(at, end));
    const r = d.feed(piece, 0, piece.length, (b, s, e) => {
      assert.ok(s >= 0 && s <= e && e <= piece.length, "data slice inside the piece");
      payload += b.toString("latin1", s, e);
    });
    if ("error" in r) return { result: r, payload };
    consumed += r.consumed;
    if (r.done) return { result: { consumed, done: true }, payload };
    assert.equal(r.consumed, piece.length, "all bytes consumed until done");
    at = end;
    if (at >= input.length) return { result: { consumed, done: false }, payload };
  }
}

const ACCEPTED: { name: string; body: string; payload: string; after?: string }[] = [
  { name: "last chunk only", body: "0\r\n\r\n", payload: "" },
  { name: "one chunk", body: "5\r\nhello\r\n0\r\n\r\n", payload: "hello" },
  { name: "several chunks", body: "3\r\nabc\r\n1\r\nd\r\n2\r\nef\r\n0\r\n\r\n", payload: "abcdef" },
  {
    name: "hex digits in either case",
    body: "a\r\n0123456789\r\nB\r\n0123456789a\r\n0\r\n\r\n",
    payload: "01234567890123456789a",
  },
  { name: "leading zeros", body: "0005\r\nhello\r\n000\r\n\r\n", payload: "hello" },
  {
    name: "many leading zeros do not count as digits",
    body: `${"0".repeat(40)}1\r\nx\r\n0\r\n\r\n`,
    payload: "x",
  },
  {
    name: "data holding CR, LF and NUL",
    body: "6\r\n\r\n\x00\r\n\n\r\n0\r\n\r\n",
    payload: "\r\n\x00\r\n\n",
  },
  { name: "extension without value", body: "5;foo\r\nhello\r\n0;bar\r\n\r\n", payload: "hello" },
  { name: "extension with token value", body: "5;foo=bar;baz=1\r\nhello\r\n0\r\n\r\n", payload: "hello" },
  {
    name: "extension with quoted value",
    body: '5;n="a \\"q\\" ;=\xe9"\r\nhello\r\n0\r\n\r\n',
    payload: "hello",
  },
  {
    name: "BWS inside extensions (RFC 9112 §7.1.1)",
    body: "5; a = b ;\tc\r\nhello\r\n0\r\n\r\n",
    payload: "hello",
  },
  {
    name: "trailers are checked and dropped",
    body: "2\r\nhi\r\n0\r\nX-Sum: 1\r\nX-Empty:\r\nX-T: \xe9 \t\r\n\r\n",
    payload: "hi",
  },
  {
    name: "pipelined bytes after the body",
    body: "2\r\nhi\r\n0\r\n\r\n",
    payload: "hi",
    after: "GET / HTTP/1.1\r\n",
  },
];

for (const row of ACCEPTED) {
  test(`chunked accepted: ${row.name}`, () => {
    const input = bytes(row.body + (row.after ?? ""));
    const whole = decode(input, Infinity);
    assert.deepEqual(whole, { result: { consumed: row.body.length, done: true }, payload: row.payload });
    for (const step of [1, 2, 3, 7]) assert.deepEqual(decode(input, step), whole, `pieces of ${step}`);
    // One byte at a time: not done before the last byte of the body.
    const d = new ChunkedDecoder();
    for (let i = 0; i < row.body.length; i++) {
      const r = d.feed(input, i, i + 1);
      assert.deepEqual(r, { consumed: 1, done: i === row.body.length - 1 }, `byte ${i}`);
    }
  });
}

const E = {
  size: "invalid chunk size",
  big: "chunk size too large",
  ext: "invalid chunk extension",
  long: "chunk size line too long",
  eol: "invalid line ending in chunked body",
  data: "no CRLF after chunk data",
  trailer: "invalid trailer line",
  trailerBig: "trailer section too large",
};

const REFUSED: {
  name: string;
  body: string;
  error: string;
  limits?: { maxTrailer?: number; maxLine?: number };
}[] = [
  { name: "empty size line", body: "\r\n", error: E.size },
  { name: "space before the size", body: " 5\r\nhello\r\n0\r\n\r\n", error: E.size },
  { name: "space after the size", body: "5 \r\nhello\r\n0\r\n\r\n", error: E.size },
  { name: "tab after the size", body: "5\t\r\nhello\r\n0\r\n\r\n", error: E.size },
  { name: "space before an extension", body: "5 ;a\r\nhello\r\n0\r\n\r\n", error: E.size },
  { name: "0x prefix", body: "0x5\r\nhello\r\n0\r\n\r\n", error: E.size },
  { name: "sign", body: "+5\r\nhello\r\n0\r\n\r\n", error: E.size },
  { name: "negative", body: "-5\r\nhello\r\n0\r\n\r\n", error: E.size },
  { name: "not hex", body: "g\r\n", error: E.size },
  { name: "underscore between digits", body: "1_0\r\n", error: E.size },
  { name: "16 significant hex digits", body: "1000000000000000\r\n", error: E.big },
  { name: "2^53", body: "20000000000000\r\n", error: E.big },
  { name: "64-bit wrap to a small size", body: "10000000000000005\r\nhello\r\n0\r\n\r\n", error: E.big },
  { name: "bare LF after the size", body: "5\nhello\r\n0\r\n\r\n", error: E.eol },
  { name: "CR without LF after the size", body: "5\rhello\r\n0\r\n\r\n", error: E.eol },
  { name: "bare LF after an extension", body: "5;a=b\nhello\r\n0\r\n\r\n", error: E.eol },
  { name: "empty extension name", body: "5;\r\nhello\r\n0\r\n\r\n", error: E.ext },
  { name: "empty extension value", body: "5;a=\r\nhello\r\n0\r\n\r\n", error: E.ext },
  { name: "two tokens in an extension", body: "5;a b\r\nhello\r\n0\r\n\r\n", error: E.ext },
  { name: "BWS before the CRLF", body: "5;a \r\nhello\r\n0\r\n\r\n", error: E.ext },
  { name: "unterminated quoted value", body: '5;a="x\r\nhello\r\n0\r\n\r\n', error: E.ext },
  { name: "NUL in a quoted value", body: '5;a="\x00"\r\nhello\r\n0\r\n\r\n', error: E.ext },
  { name: "DEL in an extension name", body: "5;a\x7f\r\nhello\r\n0\r\n\r\n", error: E.ext },
  { name: "junk after a quoted value", body: '5;a="x"y\r\nhello\r\n0\r\n\r\n', error: E.ext },
  {
    name: "size line too long",
    body: `5;${"a".repeat(40)}\r\nhello\r\n0\r\n\r\n`,
    limits: { maxLine: 32 },
    error: E.long,
  },
  { name: "data longer than its size", body: "5\r\nhello!\r\n0\r\n\r\n", error: E.data },
  { name: "data shorter than its size", body: "5\r\nhell\r\n0\r\n\r\n", error: E.data },
  { name: "bare LF after data", body: "5\r\nhello\n0\r\n\r\n", error: E.data },
  { name: "CR then junk after data", body: "5\r\nhello\rX0\r\n\r\n", error: E.data },
  { name: "folded trailer", body: "0\r\nX: a\r\n b\r\n\r\n", error: E.trailer },
  { name: "space before a trailer colon", body: "0\r\nX : a\r\n\r\n", error: E.trailer },
  { name: "trailer without colon", body: "0\r\nX\r\n\r\n", error: E.trailer },
  { name: "NUL in a trailer value", body: "0\r\nX: a\x00\r\n\r\n", error: E.trailer },
  { name: "bare LF ending a trailer", body: "0\r\nX: a\n\r\n", error: E.trailer },
  { name: "CR then junk ending a trailer", body: "0\r\nX: a\rX\r\n", error: E.eol },
  { name: "bare LF ending the body", body: "0\r\n\n", error: E.trailer },
  { name: "CR then junk ending the body", body: "0\r\n\rX", error: E.eol },
  {
    name: "trailers too large",
    body: "0\r\nX-Long: 0123456789\r\n\r\n",
    limits: { maxTrailer: 16 },
    error: E.trailerBig,
  },
];

for (const row of REFUSED) {
  test(`chunked refused: ${row.name}`, () => {
    const input = bytes(row.body);
    const whole = decode(input, Infinity, row.limits);
    assert.deepEqual(whole.result, { error: row.error });
    for (const step of [1, 2, 5]) assert.deepEqual(decode(input, step, row.limits).result, whole.result);
  });
}

test("after an error or the end, feed() repeats that outcome until reset()", () => {
  const d = new ChunkedDecoder();
  const bad = bytes("zz");
  assert.deepEqual(d.feed(bad, 0, 2), { error: E.size });
  assert.deepEqual(d.feed(bytes("0\r\n\r\n"), 0, 5), { error: E.size });
  d.reset();
  assert.deepEqual(d.feed(bytes("0\r\n\r\nxx"), 0, 7), { consumed: 5, done: true });
  assert.deepEqual(d.feed(bytes("0\r\n\r\n"), 0, 5), { consumed: 0, done: true });
  d.reset();
  assert.deepEqual(d.feed(bytes("1\r\n"), 0, 3), { consumed: 3, done: false });
});

test("a huge chunk streams through in slices without buffering", () => {
  const d = new ChunkedDecoder();
  assert.deepEqual(d.feed(bytes("1fffffffffffff\r\n"), 0, 16), { consumed: 16, done: false });
  const block = Buffer.alloc(65536, 0x61);
  let got = 0;
  for (let i = 0; i < 16; i++) {
    const r = d.feed(block, 0, block.length, (_b, s, e) => (got += e - s));
    assert.deepEqual(r, { consumed: block.length, done: false });
  }
  assert.equal(got, 16 * 65536);
});

test("feed() honours start and end inside a larger buffer", () => {
  const buf = bytes("xx3\r\nabc\r\n0\r\n\r\nyy");
  const d = new ChunkedDecoder();
  const seen: string[] = [];
  const r = d.feed(buf, 2, buf.length - 2, (b, s, e) => seen.push(b.toString("latin1", s, e)));
  assert.deepEqual(r, { consumed: buf.length - 4, done: true });
  assert.deepEqual(seen, ["abc"]);
});
