/** log_format compilation and rendering: nginx's ngx_http_log_module rules, byte for byte. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../src/config/adapt.js";
import type { LogFormatConf } from "../../src/config/types.js";
import { compileLogFormat, parseLogFormat, type VariableLookup } from "../../src/log/format.js";
import { testEnv } from "../support/env.js";
import { tempDir } from "../support/tmp.js";

const table =
  (vars: Record<string, string | null>): VariableLookup =>
  (name) =>
    vars[name] ?? null;

const render = (
  format: string,
  vars: Record<string, string | null>,
  escape: LogFormatConf["escape"] = "default",
) => compileLogFormat({ escape, format })(table(vars));

const REQUEST: Record<string, string | null> = {
  remote_addr: "127.0.0.1",
  remote_user: null,
  time_local: "25/Nov/2026:12:00:00 +0000",
  time_iso8601: "2026-11-25T12:00:00+00:00",
  request: "GET /index.html?a=1 HTTP/1.1",
  upstream_addr: "10.0.0.1:8080",
  upstream_status: "200",
  request_time: "0.012",
  upstream_response_time: "0.010",
  bytes_sent: "612",
  gzip_ratio: null,
  host: "www.example.com",
  request_uri: "/index.html?a=1",
  status: "200",
  body_bytes_sent: "396",
  http_referer: null,
  http_user_agent: "curl/8.5.0",
  http_x_forwarded_for: null,
};

// The project's seed formats, verbatim, through the real configuration adapter.
const SEED = `
events {}
http {
    log_format main '$remote_addr - $remote_user [$time_local]$upstream_addr-$upstream_status-$request_time' '-$upstream_response_time-$bytes_sent-$gzip_ratio "$host$request_uri" ' '$status $body_bytes_sent "$http_referer" ' '"$http_user_agent" "$http_x_forwarded_for"';
    log_format upstream '$time_iso8601 $http_x_forwarded_for $host $upstream_response_time $request $status $upstream_addr';
}
`;

function seedFormats(t: import("node:test").TestContext): Record<string, LogFormatConf> {
  const dir = tempDir(t, { "seed.conf": SEED });
  return loadConfig(join(dir, "seed.conf"), { env: testEnv() }).config.http!.logFormats;
}

test("seed format main renders the exact line", (t) => {
  const main = compileLogFormat(seedFormats(t)["main"]!);
  assert.equal(
    main(table(REQUEST)),
    '127.0.0.1 - - [25/Nov/2026:12:00:00 +0000]10.0.0.1:8080-200-0.012-0.010-612-- "www.example.com/index.html?a=1" ' +
      '200 396 "-" "curl/8.5.0" "-"',
  );
  const agent = 'Mozilla/5.0 "evil"\\\n';
  assert.equal(
    main(table({ ...REQUEST, http_user_agent: agent, http_x_forwarded_for: "203.0.113.9, 10.0.0.2" })),
    '127.0.0.1 - - [25/Nov/2026:12:00:00 +0000]10.0.0.1:8080-200-0.012-0.010-612-- "www.example.com/index.html?a=1" ' +
      '200 396 "-" "Mozilla/5.0 \\x22evil\\x22\\x5C\\x0A" "203.0.113.9, 10.0.0.2"',
  );
});

test("seed format upstream renders the exact line", (t) => {
  const upstream = compileLogFormat(seedFormats(t)["upstream"]!);
  assert.equal(
    upstream(table(REQUEST)),
    "2026-11-25T12:00:00+00:00 - www.example.com 0.010 GET /index.html?a=1 HTTP/1.1 200 10.0.0.1:8080",
  );
});

test("predefined combined format", (t) => {
  const combined = compileLogFormat(seedFormats(t)["combined"]!);
  assert.equal(
    combined(table({ ...REQUEST, remote_user: "alice", http_referer: "http://a.example/" })),
    '127.0.0.1 - alice [25/Nov/2026:12:00:00 +0000] "GET /index.html?a=1 HTTP/1.1" 200 396 "http://a.example/" "curl/8.5.0"',
  );
});

test("not found logs as '-' with default escaping; a found empty value stays empty", () => {
  // ngx_http_log_variable(): only value->not_found gives "-".
  assert.equal(render("[$a][$b]", { a: null, b: "" }), "[-][]");
  assert.equal(render("[$a][$b]", { a: null, b: "" }, "json"), "[][]");
  assert.equal(render("[$a][$b]", { a: null, b: "" }, "none"), "[][]");
});

test("variable references: $name ends at the first non-name char, ${name} ends at }", () => {
  assert.equal(render("$host:$status.", { host: "h", status: "200" }), "h:200.");
  assert.equal(render("${host}x$hostx", { host: "h", hostx: "X" }), "hxX");
  assert.equal(render("a$1b", { "1b": "capture" }), "acapture");
  assert.equal(render("", {}), "");
  assert.equal(render("no variables", {}), "no variables");
  assert.deepEqual(parseLogFormat("a${b}c$d-e"), [
    { literal: "a" },
    { variable: "b" },
    { literal: "c" },
    { variable: "d" },
    { literal: "-e" },
  ]);
});

test("invalid references fail with nginx's messages", () => {
  const fails = (format: string, message: string): void =>
    assert.throws(() => parseLogFormat(format), { code: "SG_ERR_CONFIG", message });
  fails("a $", 'invalid parameter "$"');
  fails("a $-b", 'invalid parameter "$-b"');
  fails("a ${", 'invalid parameter "${"');
  fails("a ${}", 'invalid parameter "${}"');
  fails("a ${host", 'the closing bracket in "host" variable is missing');
  fails("a ${ho-st}", 'the closing bracket in "ho" variable is missing');
});

test('escape=default: ", \\, controls and bytes above 0x7e as \\xHH', () => {
  const rows: [string, string][] = [
    ["plain text ~!#$%&'()*+,-./:;<=>?@[]^_`{|}", "plain text ~!#$%&'()*+,-./:;<=>?@[]^_`{|}"],
    ['"', "\\x22"],
    ["\\", "\\x5C"],
    ["\x00", "\\x00"],
    ["\t\n\r", "\\x09\\x0A\\x0D"],
    ["\x1f", "\\x1F"],
    ["\x7f", "\\x7F"],
    ["\x80\xe9\xff", "\\x80\\xE9\\xFF"],
    // A char wider than a byte is logged as its UTF-8 bytes.
    ["\u20ac", "\\xE2\\x82\\xAC"],
    ["\u{1F600}", "\\xF0\\x9F\\x98\\x80"],
  ];
  for (const [value, logged] of rows) assert.equal(render("$v", { v: value }), logged, JSON.stringify(value));
});

test("escape=json: ngx_escape_json()", () => {
  const rows: [string, string][] = [
    ["plain ~'/<>", "plain ~'/<>"],
    ['"', '\\"'],
    ["\\", "\\\\"],
    ["\n\r\t\b\f", "\\n\\r\\t\\b\\f"],
    ["\x00\x01\x1f", "\\u0000\\u0001\\u001F"],
    ["\x0b", "\\u000B"],
    // DEL and non-ASCII bytes pass through unescaped.
    ["\x7f\xe9", "\x7f\xe9"],
    ["\u20ac", "\xe2\x82\xac"],
  ];
  for (const [value, logged] of rows)
    assert.equal(render("$v", { v: value }, "json"), logged, JSON.stringify(value));
  assert.equal(render('{"ua":"$v"}', { v: 'a"b' }, "json"), '{"ua":"a\\"b"}');
});

test("escape=none: values as they are", () => {
  const value = '"\\\n\x00\x7f\xe9';
  assert.equal(render("$v", { v: value }, "none"), value);
  assert.equal(render("$v", { v: "\u20ac" }, "none"), "\xe2\x82\xac");
});

test("literal text is written as its UTF-8 bytes and never escaped", () => {
  assert.equal(render('é "$v"\t', { v: "x" }), '\xc3\xa9 "x"\t');
});
