/**
 * The pure half of every check type (check spec §2.3-2.7): the bytes each one sends, and its parser's verdict
 * for tables of answers. Each answer is also fed one byte at a time, as reads may split it, and must reach the
 * same verdict; an answer cut short and then closed is a failure.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AJP_CPING } from "../../src/check/probes/ajp.js";
import { parseStatusLine, type StatusLine } from "../../src/check/probes/http.js";
import { probeParser, probeRequest } from "../../src/check/probes/registry.js";
import { SSL_HELLO } from "../../src/check/probes/ssl-hello.js";
import type { ProbeVerdict } from "../../src/check/probes/types.js";
import type { CheckConf, CheckType } from "../../src/config/types.js";
import { checkConf } from "../support/probe-peers.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");

/** The verdict's kind: "alive", "again" or "error". */
const kind = (v: ProbeVerdict): string => (typeof v === "string" ? v : "error");

/** The verdict for `answer` given whole, checked against every prefix fed as reads would split it. */
function judge(conf: CheckConf, answer: Buffer): string {
  const parse = probeParser(conf);
  const whole = kind(parse(answer, false));
  // Byte by byte: every strict prefix must be "again" until the verdict, and the verdict must not change.
  let seen = "again";
  for (let n = 1; n <= answer.length && seen === "again"; n++)
    seen = kind(parse(answer.subarray(0, n), false));
  assert.equal(seen, whole, "prefix verdict matches");
  if (whole === "again") assert.equal(kind(parse(answer, true)), "error", "again + ended is a failure");
  return whole;
}

// ---------------------------------------------------------------- request bytes

/** Spec §2.4, copied byte for byte. */
const SPEC_SSL_HELLO = hex(`
  16 03 01 00 6f  01 00 00 6b  03 03  00 00 00 00
  4e 47 58 5f 48 54 54 50 5f 43 48 45 43 4b 5f 53 53 4c 5f 48 45 4c 4c 4f 0a 0a 0a 0a
  00  00 1a  c0 2b c0 2f cc a9 cc a8 c0 0a c0 09 c0 13 c0 14 00 33 00 39 00 2f 00 35 00 0a
  01 00  00 28
  00 0a 00 08 00 06 00 17 00 18 00 19
  00 0d 00 18 00 16 04 01 05 01 06 01 02 01 04 03 05 03 06 03 02 03 05 02 04 02 02 02`);

test("ssl_hello sends the module's exact 116-byte TLS 1.2 ClientHello", () => {
  assert.equal(SSL_HELLO.length, 116);
  assert.deepEqual(probeRequest(checkConf("ssl_hello")), SPEC_SSL_HELLO);
  // Lengths inside agree with the bytes: record 111, handshake 107, extensions 40.
  assert.equal(SPEC_SSL_HELLO.readUInt16BE(3), 116 - 5);
  assert.equal(SPEC_SSL_HELLO.readUInt32BE(5) & 0xffffff, 116 - 9);
});

const REQUESTS: { name: string; type: CheckType; send?: string; bytes: Buffer }[] = [
  { name: "tcp sends nothing", type: "tcp", bytes: Buffer.alloc(0) },
  {
    name: "tcp ignores check_http_send",
    type: "tcp",
    send: "GET / HTTP/1.0\r\n\r\n",
    bytes: Buffer.alloc(0),
  },
  { name: "http default", type: "http", bytes: latin1("GET / HTTP/1.0\r\n\r\n") },
  {
    name: "http check_http_send",
    type: "http",
    send: "HEAD / HTTP/1.0\r\n\r\n",
    bytes: latin1("HEAD / HTTP/1.0\r\n\r\n"),
  },
  {
    name: "http send as latin1 bytes",
    type: "http",
    send: "GET /\xe9 HTTP/1.0\r\n\r\n",
    bytes: hex("474554202fe920485454502f312e300d0a0d0a"),
  },
  { name: "mysql sends nothing", type: "mysql", bytes: Buffer.alloc(0) },
  { name: "ajp CPING", type: "ajp", bytes: hex("12 34 00 01 0a") },
  { name: "ajp replaced by check_http_send (yao)", type: "ajp", send: "x", bytes: latin1("x") },
  { name: "ssl_hello replaced by check_http_send (yao)", type: "ssl_hello", send: "hi", bytes: latin1("hi") },
  { name: "mysql replaced by check_http_send (yao)", type: "mysql", send: "q", bytes: latin1("q") },
];

for (const c of REQUESTS) {
  test(`request: ${c.name}`, () => {
    assert.deepEqual(probeRequest(checkConf(c.type, { send: c.send ?? null })), c.bytes);
  });
}

test("ajp CPING is 5 bytes, without the C array's trailing NUL", () => {
  assert.equal(AJP_CPING.length, 5);
});

// ---------------------------------------------------------------- http status line

const STATUS_LINES: { line: string; parsed: StatusLine }[] = [
  { line: "HTTP/1.1 200 OK\r\n", parsed: { code: 200 } },
  { line: "HTTP/1.0 302 Found\n", parsed: { code: 302 } },
  { line: "HTTP/1.1 204\r\n", parsed: { code: 204 } },
  { line: "HTTP/1.1 204\n", parsed: { code: 204 } },
  { line: "HTTP/1.1    200 OK\r\n", parsed: { code: 200 } },
  { line: "HTTP/1.1 403.1 Forbidden\r\n", parsed: { code: 403 } },
  { line: "HTTP/12.34 200 x\r\n", parsed: { code: 200 } },
  { line: "HTTP/1.1 000 zero\r\n", parsed: { code: 0 } },
  { line: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", parsed: { code: 200 } },
  { line: "", parsed: "again" },
  { line: "HTT", parsed: "again" },
  { line: "HTTP/1.1 200 OK", parsed: "again" },
  { line: "HTTP/1.1 200 OK\r", parsed: "again" },
  { line: "HTTP/1.1 20", parsed: "again" },
  { line: "http/1.1 200 OK\r\n", parsed: "error" },
  { line: "HTTP/0.9 200 OK\r\n", parsed: "error" },
  { line: "HTTP/1 200 OK\r\n", parsed: "error" },
  { line: "HTTP/1. 200 OK\r\n", parsed: "error" },
  { line: "HTTP/1.1 2000 OK\r\n", parsed: "error" },
  { line: "HTTP/1.1 20x OK\r\n", parsed: "error" },
  { line: "HTTP/1.1\t200 OK\r\n", parsed: "error" },
  { line: "HTTP/1.1 200\rX", parsed: "error" },
  { line: "SSH-2.0-OpenSSH_9.6\r\n", parsed: "error" },
  { line: "<html>", parsed: "error" },
];

for (const c of STATUS_LINES) {
  test(`status line ${JSON.stringify(c.line)}`, () => {
    assert.deepEqual(parseStatusLine(latin1(c.line)), c.parsed);
  });
}

const HTTP_VERDICTS: { answer: string; expect: CheckConf["expectAlive"]; verdict: string }[] = [
  { answer: "HTTP/1.1 200 OK\r\n", expect: null, verdict: "alive" },
  { answer: "HTTP/1.1 301 Moved\r\n", expect: null, verdict: "alive" },
  { answer: "HTTP/1.1 404 Not Found\r\n", expect: null, verdict: "error" },
  { answer: "HTTP/1.1 503 Busy\r\n", expect: null, verdict: "error" },
  { answer: "HTTP/1.1 101 Switching\r\n", expect: null, verdict: "error" },
  {
    answer: "HTTP/1.1 101 Switching\r\n",
    expect: ["http_2xx", "http_3xx", "http_4xx", "http_5xx"],
    verdict: "error",
  },
  {
    answer: "HTTP/1.1 600 Odd\r\n",
    expect: ["http_2xx", "http_3xx", "http_4xx", "http_5xx"],
    verdict: "error",
  },
  { answer: "HTTP/1.1 302 Found\r\n", expect: ["http_2xx"], verdict: "error" },
  { answer: "HTTP/1.1 200 OK\r\n", expect: ["http_2xx"], verdict: "alive" },
  { answer: "HTTP/1.1 200 OK\r\n", expect: ["http_4xx"], verdict: "error" },
  { answer: "HTTP/1.1 401 Unauthorized\r\n", expect: ["http_4xx"], verdict: "alive" },
  { answer: "HTTP/1.1 500 Error\r\n", expect: ["http_5xx"], verdict: "alive" },
  { answer: "HTTP/1.1 200 OK", expect: null, verdict: "again" },
  { answer: "garbage\r\n", expect: null, verdict: "error" },
];

for (const c of HTTP_VERDICTS) {
  test(`http ${JSON.stringify(c.answer)} expect ${c.expect?.join(",") ?? "default"} → ${c.verdict}`, () => {
    assert.equal(judge(checkConf("http", { expectAlive: c.expect }), latin1(c.answer)), c.verdict);
  });
}

// ---------------------------------------------------------------- ssl_hello, mysql, ajp, tcp

/** A ServerHello record's first 47 bytes (record, handshake header, version, 36 bytes of random and more). */
const serverHello = (record = 0x16, handshake = 0x02): Buffer =>
  Buffer.concat([Buffer.from([record, 3, 3, 0, 0x5d, handshake, 0, 0, 0x59, 3, 3]), Buffer.alloc(36, 0xaa)]);

const OTHER_VERDICTS: { name: string; type: CheckType; answer: Buffer; verdict: string }[] = [
  { name: "ssl_hello: ServerHello", type: "ssl_hello", answer: serverHello(), verdict: "alive" },
  {
    name: "ssl_hello: 46 bytes wait",
    type: "ssl_hello",
    answer: serverHello().subarray(0, 46),
    verdict: "again",
  },
  {
    name: "ssl_hello: alert (7 bytes) waits, then closed fails",
    type: "ssl_hello",
    answer: hex("15 03 03 00 02 02 28"),
    verdict: "again",
  },
  { name: "ssl_hello: alert record", type: "ssl_hello", answer: serverHello(0x15), verdict: "error" },
  {
    name: "ssl_hello: handshake not ServerHello",
    type: "ssl_hello",
    answer: serverHello(0x16, 0x0b),
    verdict: "error",
  },
  {
    name: "ssl_hello: versions are not checked",
    type: "ssl_hello",
    answer: Buffer.concat([hex("16 09 09 ff ff 02"), Buffer.alloc(41)]),
    verdict: "alive",
  },
  {
    name: "ssl_hello: an HTTP answer",
    type: "ssl_hello",
    answer: latin1("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"),
    verdict: "error",
  },
  {
    name: "mysql: greeting",
    type: "mysql",
    answer: hex("4a 00 00 00 0a 38 2e 30 2e 33 36 00"),
    verdict: "alive",
  },
  {
    name: "mysql: error packet with seq 0 is alive (module)",
    type: "mysql",
    answer: Buffer.concat([hex("17 00 00 00 ff 6a 04"), latin1("Host 'x' is not allowed")]),
    verdict: "alive",
  },
  { name: "mysql: sequence id 1", type: "mysql", answer: hex("4a 00 00 01 0a"), verdict: "error" },
  { name: "mysql: 4 bytes wait", type: "mysql", answer: hex("4a 00 00 00"), verdict: "again" },
  { name: "ajp: CPONG", type: "ajp", answer: hex("41 42 00 01 09"), verdict: "alive" },
  { name: "ajp: CPONG and more", type: "ajp", answer: hex("41 42 00 01 09 41 42"), verdict: "alive" },
  { name: "ajp: 4 bytes wait", type: "ajp", answer: hex("41 42 00 01"), verdict: "again" },
  { name: "ajp: CPING echoed", type: "ajp", answer: hex("12 34 00 01 0a"), verdict: "error" },
  { name: "ajp: wrong type", type: "ajp", answer: hex("41 42 00 01 04"), verdict: "error" },
  { name: "tcp: a byte is alive (the module's peek)", type: "tcp", answer: latin1("x"), verdict: "alive" },
  { name: "tcp: nothing yet", type: "tcp", answer: Buffer.alloc(0), verdict: "again" },
];

for (const c of OTHER_VERDICTS) {
  test(c.name, () => {
    assert.equal(judge(checkConf(c.type), c.answer), c.verdict);
  });
}

test("again + ended is a failure for every type, even with nothing received", () => {
  for (const type of ["tcp", "http", "ssl_hello", "mysql", "ajp", "fastcgi"] as const) {
    const v = probeParser(checkConf(type))(Buffer.alloc(0), true);
    assert.equal(kind(v), "error", type);
  }
});
