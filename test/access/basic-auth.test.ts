/** The `Authorization: Basic` header and the challenge (ngx_http_auth_basic_module). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { basicChallenge, parseBasicAuthorization } from "../../src/access/basic-auth.js";

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");

test("well-formed headers give user and password, split at the first colon", () => {
  const ok: [string, { user: string; password: string }][] = [
    [`Basic ${b64("root:123456")}`, { user: "root", password: "123456" }],
    [`basic ${b64("root:123456")}`, { user: "root", password: "123456" }],
    [`BASIC ${b64("root:123456")}`, { user: "root", password: "123456" }],
    [`Basic    ${b64("root:123456")}`, { user: "root", password: "123456" }],
    [`Basic ${b64("bob:s3cr3t:with:colons")}`, { user: "bob", password: "s3cr3t:with:colons" }],
    [`Basic ${b64("empty:")}`, { user: "empty", password: "" }],
    [`Basic ${b64("jürgen:pässwörd")}`, { user: "jürgen", password: "pässwörd" }],
    [`Basic ${b64("sp ace:pass word")}`, { user: "sp ace", password: "pass word" }],
    // nginx's decoder takes base64 without its padding.
    [`Basic ${b64("ab:c").replace(/=+$/, "")}`, { user: "ab", password: "c" }],
    ["Basic YTpi", { user: "a", password: "b" }],
    ["Basic YTpiYw", { user: "a", password: "bc" }],
    ["Basic YTpiYw==", { user: "a", password: "bc" }],
    ["Basic YTpiY2Q=", { user: "a", password: "bcd" }],
    ["Basic YTpiY2Q", { user: "a", password: "bcd" }],
  ];
  for (const [header, want] of ok) assert.deepEqual(parseBasicAuthorization(header), want, header);
});

test("absent, other schemes and malformed headers give null", () => {
  const bad: (string | undefined)[] = [
    undefined,
    "",
    "Basic",
    "Basic ",
    `Basic${b64("root:123456")}`,
    `Bearer ${b64("root:123456")}`,
    `Digest ${b64("root:123456")}`,
    `Basically ${b64("root:123456")}`,
    `${b64("root:123456")}`,
    `Basic\t${b64("root:123456")}`,
    `Basic ${b64("nocolon")}`,
    `Basic ${b64(":password")}`,
    `Basic ${b64(":")}`,
    `Basic ${b64("root:123456")} extra`,
    "Basic YTpi=", // padding on a full quantum
    "Basic YTpiY===",
    "Basic YTpiY", // 4n+1 characters never decode
    "Basic YT!i",
    "Basic YT-i", // the URL-safe alphabet is not base64
    "Basic YT_i",
    "Basic YTpiYw==YTpi", // data after padding (nginx would ignore it)
    "Basic =YTpi",
    `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}`, // a:\xff\xfe is not UTF-8
  ];
  for (const header of bad) assert.equal(parseBasicAuthorization(header), null, String(header));
});

test("trailing blanks after the credentials are optional whitespace", () => {
  assert.deepEqual(parseBasicAuthorization(`Basic ${b64("a:b")} \t`), { user: "a", password: "b" });
});

test("the challenge quotes the realm, escaping quote and backslash", () => {
  const rows: [string, string][] = [
    ["closed site", 'Basic realm="closed site"'],
    ["", 'Basic realm=""'],
    ['say "hi"', 'Basic realm="say \\"hi\\""'],
    ["C:\\path\\", 'Basic realm="C:\\\\path\\\\"'],
    ['\\"', 'Basic realm="\\\\\\""'],
    ["tab\there", 'Basic realm="tab\there"'],
    ["line\r\nSet-Cookie: x=1", 'Basic realm="lineSet-Cookie: x=1"'],
    ["nul\x00del\x7f", 'Basic realm="nuldel"'],
  ];
  for (const [realm, want] of rows) assert.equal(basicChallenge(realm), want, JSON.stringify(realm));
});

test("a non-ASCII realm goes out as its UTF-8 bytes, as nginx sends the configured text", () => {
  const value = basicChallenge("Zone privée 東京");
  assert.deepEqual(Buffer.from(value, "latin1"), Buffer.from('Basic realm="Zone privée 東京"', "utf8"));
  assert.doesNotMatch(value, /[^\t\x20-\x7e\x80-\xff]/);
});
