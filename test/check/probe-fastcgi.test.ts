/**
 * `type=fastcgi` without sockets (check spec §2.6): the request bytes (the module's, with a real empty STDIN
 * record and correct lengths for long keys) and the parser's verdict for tables of first records.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fastcgiStatus } from "../../src/check/probes/fastcgi.js";
import { FCGI, fastcgiRequest } from "../../src/check/probes/fastcgi-request.js";
import { probeParser, probeRequest } from "../../src/check/probes/registry.js";
import type { ProbeVerdict } from "../../src/check/probes/types.js";
import type { CheckConf } from "../../src/config/types.js";
import { checkConf, FCGI_END, fcgiRecord } from "../support/probe-peers.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const ascii = (s: string): string => Buffer.from(s, "latin1").toString("hex");
const kind = (v: ProbeVerdict): string => (typeof v === "string" ? v : "error");

/** Splits a request into its records: [type, content] each, checking ids, padding and the 8-byte framing. */
function records(b: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let at = 0; at < b.length;) {
    assert.equal(b[at], 1, "version 1");
    assert.equal(b.readUInt16BE(at + 2), 1, "request id 1");
    const len = b.readUInt16BE(at + 4);
    const pad = b[at + 6]!;
    assert.equal((len + pad) % 8, 0, "records stay 8-byte aligned");
    assert.deepEqual(b.subarray(at + 8 + len, at + 8 + len + pad), Buffer.alloc(pad), "zero padding");
    out.push([b[at + 1]!, b.subarray(at + 8, at + 8 + len)]);
    at += 8 + len + pad;
    assert.ok(at <= b.length, "record inside the request");
  }
  return out;
}

test("default request: the module's 104 bytes of spec §2.6, ending with a real empty STDIN record", () => {
  const expected = hex(`
    01 01 00 01 00 08 00 00  00 01 00 00 00 00 00 00
    01 04 00 01 00 3b 05 00
    0e 03 ${ascii("REQUEST_METHOD")} ${ascii("GET")}
    0b 01 ${ascii("REQUEST_URI")} ${ascii("/")}
    0f 09 ${ascii("SCRIPT_FILENAME")} ${ascii("index.php")}
    00 00 00 00 00
    01 04 00 01 00 00 00 00
    01 05 00 01 00 00 00 00`);
  assert.equal(expected.length, 104);
  assert.deepEqual(probeRequest(checkConf("fastcgi")), expected);
});

test("check_fastcgi_param pairs replace the defaults, in order", () => {
  const b = fastcgiRequest([
    ["SCRIPT_FILENAME", "/srv/ping.php"],
    ["REQUEST_METHOD", "HEAD"],
  ]);
  const recs = records(b);
  assert.deepEqual(
    recs.map(([type]) => type),
    [FCGI.BEGIN_REQUEST, FCGI.PARAMS, FCGI.PARAMS, FCGI.STDIN],
  );
  assert.deepEqual(recs[0]![1], hex("00 01 00 00 00 00 00 00"), "responder, no FCGI_KEEP_CONN");
  assert.deepEqual(
    recs[1]![1],
    Buffer.concat([
      hex("0f 0d"),
      Buffer.from("SCRIPT_FILENAME/srv/ping.php"),
      hex("0e 04"),
      Buffer.from("REQUEST_METHODHEAD"),
    ]),
  );
  assert.deepEqual(recs[2]![1], Buffer.alloc(0));
  assert.deepEqual(recs[3]![1], Buffer.alloc(0));
  assert.deepEqual(
    probeRequest(checkConf("fastcgi", { fastcgiParams: [["A", "b"]] })).subarray(16, 24),
    hex("01 04 00 01 00 04 04 00"),
  );
});

test("regression: a key longer than 127 bytes is counted with its 4-byte length (the module counts 1)", () => {
  const key = "K".repeat(200);
  const value = "v".repeat(130);
  const recs = records(
    fastcgiRequest([
      [key, value],
      ["X", "y"],
    ]),
  );
  const params = recs[1]![1];
  // 4-byte key length, 4-byte value length, key, value; then the short pair.
  assert.equal(params.length, 4 + 4 + 200 + 130 + 1 + 1 + 1 + 1);
  assert.deepEqual(params.subarray(0, 8), hex("80 00 00 c8 80 00 00 82"));
  assert.equal(params.subarray(8, 208).toString(), key);
  assert.equal(params.subarray(208, 338).toString(), value);
  assert.deepEqual(params.subarray(338), Buffer.from([1, 1, 0x58, 0x79]));
});

test("params over 65535 bytes are split into several PARAMS records", () => {
  const big = "v".repeat(70_000);
  const recs = records(fastcgiRequest([["BIG", big]]));
  const params = recs.filter(([t]) => t === FCGI.PARAMS).map(([, c]) => c);
  assert.ok(params.length >= 3, "two with content and the empty one");
  assert.ok(params.every((c) => c.length <= 65535));
  assert.equal(params.at(-1)!.length, 0);
  const joined = Buffer.concat(params);
  assert.deepEqual(joined.subarray(0, 8), Buffer.concat([hex("03 80 01 11 70"), Buffer.from("BIG")]));
  assert.equal(joined.length, 1 + 4 + 3 + 70_000);
  assert.deepEqual(recs.at(-1), [FCGI.STDIN, Buffer.alloc(0)]);
});

// ---------------------------------------------------------------- parser

const STDOUT = FCGI.STDOUT;
const ok200 = "Status: 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hi</p>";
const answer = (content: string): Buffer => Buffer.concat([fcgiRecord(STDOUT, content), FCGI_END]);

const VERDICTS: { name: string; answer: Buffer; expect?: CheckConf["expectAlive"]; verdict: string }[] = [
  { name: "Status 200, no expect", answer: answer(ok200), verdict: "alive" },
  { name: "Status 200, expect 2xx", answer: answer(ok200), expect: ["http_2xx"], verdict: "alive" },
  {
    name: "Status 500, no expect (the fastcgi default: don't check)",
    answer: answer("Status: 500 Oops\r\n\r\n"),
    verdict: "alive",
  },
  {
    name: "Status 500, expect 2xx",
    answer: answer("Status: 500 Oops\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "error",
  },
  {
    name: "Status 500, expect 5xx",
    answer: answer("Status: 500 Oops\r\n\r\n"),
    expect: ["http_5xx"],
    verdict: "alive",
  },
  {
    name: "no Status header, expect 2xx",
    answer: answer("Content-Type: text/plain\r\n\r\nok"),
    expect: ["http_2xx"],
    verdict: "alive",
  },
  {
    name: "lower-case status",
    answer: answer("status: 404\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "error",
  },
  {
    name: "Status after other headers",
    answer: answer("X-Powered-By: PHP\r\nStatus: 302 Found\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "error",
  },
  { name: "prefix match: S", answer: answer("S: 404\r\n\r\n"), expect: ["http_2xx"], verdict: "error" },
  { name: "prefix match: Stat", answer: answer("Stat: 200\r\n\r\n"), expect: ["http_2xx"], verdict: "alive" },
  {
    name: "Statusx is not status",
    answer: answer("Statusx: 500\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "alive",
  },
  {
    name: "X-Status is not status",
    answer: answer("X-Status: 500\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "alive",
  },
  {
    name: "Status without space",
    answer: answer("Status:503\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "error",
  },
  {
    name: "Status with a leading 0",
    answer: answer("Status: 0200\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "error",
  },
  {
    name: "Status with 2 digits",
    answer: answer("Status: 20 OK\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "error",
  },
  {
    name: "Status with 4 digits reads 3",
    answer: answer("Status: 2000\r\n\r\n"),
    expect: ["http_2xx"],
    verdict: "alive",
  },
  {
    name: "Status checked even without expect: malformed fails",
    answer: answer("Status: x\r\n\r\n"),
    verdict: "error",
  },
  {
    name: "NUL in the body fails (the module parses the body as lines)",
    answer: answer("Content-Type: text/plain\r\n\r\na\0b"),
    verdict: "error",
  },
  { name: "bare CR then a letter fails", answer: answer("A: b\rc\r\n\r\n"), verdict: "error" },
  {
    name: "STDERR first",
    answer: Buffer.concat([fcgiRecord(FCGI.STDERR, "PHP Warning"), answer(ok200)]),
    verdict: "error",
  },
  { name: "END_REQUEST first", answer: FCGI_END, verdict: "error" },
  { name: "empty STDOUT", answer: Buffer.concat([fcgiRecord(STDOUT, ""), FCGI_END]), verdict: "error" },
  { name: "version 2", answer: hex("02 06 00 01 00 00 00 00"), verdict: "error" },
  { name: "record type 5", answer: hex("01 05 00 01 00 00 00 00"), verdict: "error" },
  { name: "request id 0x0101", answer: hex("01 06 01 01"), verdict: "error" },
  { name: "request id 2", answer: hex("01 06 00 02"), verdict: "error" },
  { name: "half a header waits", answer: hex("01 06 00 01 00"), verdict: "again" },
  {
    name: "STDOUT content incomplete waits",
    answer: fcgiRecord(STDOUT, ok200).subarray(0, 20),
    verdict: "again",
  },
  // The module needs one byte past the content: exactly the content (no padding) waits here, fails if closed.
  {
    name: "STDOUT content and nothing more waits",
    answer: fcgiRecord(STDOUT, "Status: 200 OK\r\n\r\n123456", 0),
    verdict: "again",
  },
  {
    name: "STDOUT content and its padding",
    answer: fcgiRecord(STDOUT, "Status: 200 OK\r\n\r\n"),
    verdict: "alive",
  },
];

for (const c of VERDICTS) {
  test(`fastcgi: ${c.name} → ${c.verdict}`, () => {
    const parse = probeParser(checkConf("fastcgi", { expectAlive: c.expect ?? null }));
    const whole = kind(parse(c.answer, false));
    assert.equal(whole, c.verdict);
    let seen = "again";
    for (let n = 1; n <= c.answer.length && seen === "again"; n++)
      seen = kind(parse(c.answer.subarray(0, n), false));
    assert.equal(seen, whole, "fed byte by byte");
    if (whole === "again") assert.equal(kind(parse(c.answer, true)), "error", "closed while waiting");
  });
}

test("fastcgiStatus reads the first Status code, null without one", () => {
  assert.equal(fastcgiStatus(Buffer.from("Status: 404 Not Found\r\n\r\n")), 404);
  assert.equal(
    fastcgiStatus(Buffer.from("Content-Type: a\r\n\r\nStatus: 503\r\n")),
    503,
    "found in the body too",
  );
  assert.equal(fastcgiStatus(Buffer.from("Content-Type: a\r\n\r\nbody")), null);
  assert.equal(fastcgiStatus(Buffer.from("Status: 2")), null, "cut short: no code");
  assert.equal(fastcgiStatus(Buffer.from("Status: 2\r\n")), "error");
});
