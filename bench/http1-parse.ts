/**
 * Micro benchmark of the HTTP/1.1 codec: ns per parse of a typical browser GET head, a typical upstream
 * response head, and a small chunked body. Not a test: run `npx tsc -p . && node dist/bench/http1-parse.js`.
 */
import { ChunkedDecoder } from "../src/http1/chunked.js";
import { parseRequestHead } from "../src/http1/request-head.js";
import { parseResponseHead } from "../src/http1/response-head.js";

const LIMITS = { maxRequestLine: 8192, maxHeaderLine: 8192, maxHead: 32768 };

const GET = Buffer.from(
  "GET /api/v1/items?page=2&sort=name HTTP/1.1\r\n" +
    "Host: shop.example.com\r\n" +
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n" +
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
    "Accept-Language: en-US,en;q=0.5\r\n" +
    "Accept-Encoding: gzip, deflate, br\r\n" +
    "Connection: keep-alive\r\n" +
    "\r\n",
  "latin1",
);

const RESPONSE = Buffer.from(
  "HTTP/1.1 200 OK\r\n" +
    "Server: backend\r\n" +
    "Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n" +
    "Content-Type: application/json\r\n" +
    "Content-Length: 1234\r\n" +
    "Connection: keep-alive\r\n" +
    "\r\n",
  "latin1",
);

const CHUNKED = Buffer.from(
  "400\r\n" + "x".repeat(1024) + "\r\n10;ext=1\r\n" + "y".repeat(16) + "\r\n0\r\n\r\n",
);

let sink = 0;

function bench(name: string, run: () => number): void {
  for (let i = 0; i < 200_000; i++) sink += run();
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const n = 500_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += run();
    const ns = Number(process.hrtime.bigint() - t0) / n;
    if (ns < best) best = ns;
  }
  console.log(`${name.padEnd(40)} ${best.toFixed(0).padStart(6)} ns/op`);
}

bench(`request head: GET, 6 headers (${GET.length} B)`, () => {
  const r = parseRequestHead(GET, 0, GET.length, LIMITS);
  return r.kind === "head" ? r.head.headBytes : 0;
});
bench(`response head: 200, 5 headers (${RESPONSE.length} B)`, () => {
  const r = parseResponseHead(RESPONSE, 0, RESPONSE.length, 8192);
  return r.kind === "head" ? r.head.headBytes : 0;
});
const decoder = new ChunkedDecoder();
const onData = (_b: Buffer, s: number, e: number): void => {
  sink += e - s;
};
bench(`chunked body: 2 chunks (${CHUNKED.length} B)`, () => {
  decoder.reset();
  const r = decoder.feed(CHUNKED, 0, CHUNKED.length, onData);
  return "consumed" in r ? r.consumed : 0;
});
if (sink === 0) console.log("(unreachable)");
