/** The request target as nginx reads it: $uri normalisation, $args, $request_uri, Host validation. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeUri, normalizePath, parseHost, parseTarget, toBytes } from "../../src/router/uri.js";

test("normalizePath: nginx's $uri (ngx_http_parse_complex_uri, merge_slashes on)", () => {
  const table: [string, string | null][] = [
    ["/", "/"],
    ["/a/b/", "/a/b/"],
    ["/a+b;c=d,e", "/a+b;c=d,e"],
    // percent-decoding, to bytes
    ["/%41", "/A"],
    ["/a%20b", "/a b"],
    ["/caf%C3%A9", "/caf\xC3\xA9"],
    ["/%ff", "/\xFF"],
    ["/%0A", "/\n"],
    // a decoded "/" is a slash, a decoded "." a dot
    ["/a%2Fb", "/a/b"],
    ["/a%2F%2Fb", "/a/b"],
    ["/a/%2E%2E/b", "/b"],
    ["/a/.%2e", "/"],
    ["/a/..%2F", "/"],
    ["/a%2F..%2Fb", "/b"],
    // a decoded "%", "#" or "?" is data
    ["/%25", "/%"],
    ["/%2525", "/%25"],
    ["/%23x", "/#x"],
    ["/%3F", "/?"],
    ["/%3f/../x", "/x"],
    // dot segments
    ["/a/./b", "/a/b"],
    ["/a/.", "/a/"],
    ["/./", "/"],
    ["/a/../b", "/b"],
    ["/a/..", "/"],
    ["/a/b/../../c", "/c"],
    ["/a/b/../c/./d/..", "/a/c/"],
    ["/a/.../b", "/a/.../b"],
    ["/a/.b/..c/", "/a/.b/..c/"],
    ["/a./b..", "/a./b.."],
    // merge_slashes
    ["//a///b", "/a/b"],
    ["//", "/"],
    ["/a//..", "/"],
    // a literal "?" or "#" ends the path
    ["/a/.?x", "/a/"],
    ["/a#/../..", "/a"],
    // 400
    ["/../x", null],
    ["/..", null],
    ["/a/../..", null],
    ["/%2e%2e/x", null],
    ["//../x", null],
    ["/%00", null],
    ["/a%00b", null],
    ["/%zz", null],
    ["/%4", null],
    ["/%", null],
    ["/%G1", null],
    ["", null],
    ["a/b", null],
  ];
  for (const [raw, uri] of table) assert.equal(normalizePath(raw), uri, JSON.stringify(raw));
});

test("normalizePath: merge_slashes off keeps empty segments", () => {
  assert.equal(normalizePath("//a//b", false), "//a//b");
  assert.equal(normalizePath("//..", false), "/");
  assert.equal(normalizePath("/a//../b", false), "/a/b");
});

test("parseTarget: origin form, absolute form, $args and $request_uri", () => {
  const table: [string, [string, string, string, string | null] | null][] = [
    ["/", ["/", "", "/", null]],
    ["/p?q=1&r", ["/p", "q=1&r", "/p?q=1&r", null]],
    ["/p?", ["/p", "", "/p?", null]],
    ["/p?a?b", ["/p", "a?b", "/p?a?b", null]],
    ["/p#frag", ["/p", "", "/p#frag", null]],
    ["/p?a#frag", ["/p", "a", "/p?a#frag", null]],
    ["/p#f?a", ["/p", "", "/p#f?a", null]],
    ["/a/../b%20?x", ["/a/../b%20", "x", "/a/../b%20?x", null]],
    ["http://Example.COM:8080/p?q", ["/p", "q", "/p?q", "example.com"]],
    ["HTTP://h/p", ["/p", "", "/p", "h"]],
    ["http://h", ["/", "", "/", "h"]],
    ["http://h:81", ["/", "", "/", "h"]],
    ["http://h?x=1", ["/", "x=1", "?x=1", "h"]],
    ["http://h./p", ["/p", "", "/p", "h"]],
    ["http://[::1]:80/p", ["/p", "", "/p", "[::1]"]],
    ["web+x://h/p", ["/p", "", "/p", "h"]],
    // 400
    ["*", null],
    ["p", null],
    ["", null],
    ["h:80", null],
    ["http:/h/p", null],
    ["http://h_x/p", null],
    ["http://h#f", null],
    ["http:///p", null],
    ["http://a..b/p", null],
    ["http://h:8x/p", null],
    ["1http://h/", null],
    ["/a\x01b", null],
    ["/a?\x7f", null],
  ];
  for (const [target, want] of table) {
    const t = parseTarget(target);
    assert.deepEqual(t && [t.path, t.args, t.requestUri, t.host], want, JSON.stringify(target));
  }
});

test("parseHost: ngx_http_validate_host", () => {
  const table: [string, string | null][] = [
    ["example.com", "example.com"],
    ["Example.COM", "example.com"],
    ["example.com:8080", "example.com"],
    ["example.com.", "example.com"],
    ["EXAMPLE.com.:80", "example.com"],
    ["example.com:junk", "example.com"],
    [".example.com", ".example.com"],
    ["[::1]", "[::1]"],
    ["[::1]:8080", "[::1]"],
    ["[FE80::1]", "[fe80::1]"],
    ["127.0.0.1:80", "127.0.0.1"],
    ["h\xC3\xA9", "h\xC3\xA9"],
    ["", null],
    [":80", null],
    [".", null],
    ["a..b", null],
    ["a/b", null],
    ["a b", null],
    ["a\tb", null],
    ["a\x00b", null],
    ["a\x7f", null],
    ["a:80/x", null],
  ];
  for (const [raw, host] of table) assert.equal(parseHost(raw), host, JSON.stringify(raw));
});

test("escapeUri: NGX_ESCAPE_URI", () => {
  assert.equal(escapeUri('/a b/"#%<>?\\^`{|}\x7f'), "/a%20b/%22%23%25%3C%3E%3F%5C%5E%60%7B%7C%7D%7F");
  assert.equal(escapeUri("/\x00\x1f\x80\xff"), "/%00%1F%80%FF");
  assert.equal(escapeUri("/AZaz09-._~:@!$&'()*+,;=[]/"), "/AZaz09-._~:@!$&'()*+,;=[]/");
});

test("toBytes: configuration text as the bytes nginx compares", () => {
  assert.equal(toBytes("/api/"), "/api/");
  assert.equal(toBytes("/café/"), "/caf\xC3\xA9/");
  assert.equal(toBytes("ü"), "\xC3\xBC");
});
