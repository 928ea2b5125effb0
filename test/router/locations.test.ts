/** Location matching with nginx's algorithm, on configurations loaded as a user writes them. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../src/config/adapt.js";
import type { LocationConf, ServerConf } from "../../src/config/types.js";
import { compileLocations, redirectLocation } from "../../src/router/locations.js";
import { normalizePath } from "../../src/router/uri.js";
import { testEnv } from "../support/env.js";

function loadServer(body: string): ServerConf {
  const dir = mkdtempSync(join(tmpdir(), "syncgate-router-"));
  try {
    const file = join(dir, "nginx.conf");
    writeFileSync(file, `events {}\nhttp {\nserver {\nlisten 8080;\n${body}\n}\n}\n`);
    return loadConfig(file, { env: testEnv() }).config.http!.servers[0]!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MODIFIER: Record<LocationConf["match"], string> = {
  exact: "= ",
  prefix: "",
  prefix_no_regex: "^~ ",
  regex: "~ ",
  regex_caseless: "~* ",
  named: "",
};
const label = (l: LocationConf | null): string | null => (l ? MODIFIER[l.match] + l.path : null);

function check(body: string, table: [string, string | null][]): void {
  const m = compileLocations(loadServer(body));
  for (const [uri, want] of table) assert.equal(label(m.match(uri).location), want, uri);
}

const FLAT = String.raw`
  location = / { }
  location / { }
  location = /exact { }
  location /exact { }
  location /docs/ { }
  location /docs/api/ { }
  location ^~ /static/ { }
  location /Case/ { }
  location ~ \.php$ { }
  location ~ ^/docs/.*\.php$ { }
  location ~* \.(gif|jpg)$ { }
  location ~ \.JPEG$ { }
  location ~ ^/users/(\d+)/(?<tab>\w+)(/x)?$ { }
  location @fallback { }
`;

test("exact, longest prefix, ^~, regexes in order, caseless regexes", () => {
  check(FLAT, [
    ["/", "= /"],
    ["/index.html", "/"],
    ["/exact", "= /exact"],
    ["/exact/x", "/exact"],
    ["/exactly", "/exact"],
    ["/docs/", "/docs/"],
    ["/docs/api", "/docs/"],
    ["/docs/api/x", "/docs/api/"],
    // a regex beats the longest prefix; the first matching regex wins
    ["/docs/x.php", "~ \\.php$"],
    ["/docs/api/x.php", "~ \\.php$"],
    // ^~ stops before the regexes
    ["/static/x.php", "^~ /static/"],
    ["/static", "/"],
    ["/x.GIF", "~* \\.(gif|jpg)$"],
    ["/x.jpg", "~* \\.(gif|jpg)$"],
    ["/x.jpeg", "/"],
    ["/x.JPEG", "~ \\.JPEG$"],
    // prefixes are case-sensitive
    ["/case/x", "/"],
    ["/Case/x", "/Case/"],
    // a named location is never matched by URI
    ["@fallback", null],
  ]);
});

test("regex captures and named captures", () => {
  const m = compileLocations(loadServer(FLAT));
  const r = m.match("/users/42/posts");
  assert.equal(label(r.location), String.raw`~ ^/users/(\d+)/(?<tab>\w+)(/x)?$`);
  assert.deepEqual(r.captures, ["/users/42/posts", "42", "posts", ""]);
  assert.deepEqual(r.named, { tab: "posts" });
  assert.equal(r.redirect, false);
  const plain = m.match("/docs/");
  assert.deepEqual([plain.captures, plain.named, plain.redirect], [[], {}, false]);
  const noGroups = m.match("/a.php");
  assert.deepEqual([noGroups.captures, noGroups.named], [[], {}]);
  assert.equal(label(m.named("@fallback")), "@fallback");
  assert.equal(m.named("@nope"), null);
});

const NESTED = String.raw`
  location /a/ {
    location /a/b/ { }
    location ^~ /a/c/ { }
    location ~ \.x$ { }
  }
  location ^~ /s/ {
    location ~ \.y$ { }
  }
  location ~ ^/r/ {
    location ~ \.z$ { }
  }
  location ~ ^/g/(?<first>\w+) {
    location ~ \.(?<ext>\w+)$ { }
    location ~ nogroups { }
  }
  location ~ \.(x|y|w)$ { }
`;

test("nested locations: searched before the outer regexes; ^~ skips only its own level's regexes", () => {
  check(NESTED, [
    ["/a/f.x", "~ \\.x$"],
    ["/a/b/f.x", "~ \\.x$"],
    ["/a/b/f", "/a/b/"],
    // nested ^~ skips the nested regexes, not the outer ones (ngx_http_core_find_location's noregex)
    ["/a/c/f.x", "~ \\.(x|y|w)$"],
    ["/a/c/f", "^~ /a/c/"],
    ["/a/f.w", "~ \\.(x|y|w)$"],
    ["/a/f", "/a/"],
    // outer ^~ skips the outer regexes, not the nested ones
    ["/s/f.y", "~ \\.y$"],
    ["/s/f.w", "^~ /s/"],
    // a matching regex's nested locations are searched too
    ["/r/f.z", "~ \\.z$"],
    ["/r/f.w", "~ ^/r/"],
    ["/q.w", "~ \\.(x|y|w)$"],
    // no location matches
    ["/q", null],
  ]);
});

test("nested regexes: the inner captures replace the outer ones only when the inner regex has groups", () => {
  const m = compileLocations(loadServer(NESTED));
  const inner = m.match("/g/abc.txt");
  assert.equal(label(inner.location), String.raw`~ \.(?<ext>\w+)$`);
  assert.deepEqual(inner.captures, [".txt", "txt"]);
  assert.deepEqual(inner.named, { first: "abc", ext: "txt" });
  const noGroups = m.match("/g/nogroups");
  assert.equal(label(noGroups.location), "~ nogroups");
  assert.deepEqual(noGroups.captures, ["/g/nogroups", "nogroups"]);
  assert.deepEqual(noGroups.named, { first: "nogroups" });
});

const REDIRECTS = String.raw`
  location /api/ { proxy_pass http://b; }
  location ~ ^/api$ { }
  location = /exact/ { proxy_pass http://b; }
  location = /both/ { }
  location /both/ { proxy_pass http://b; }
  location /plain/ { }
  location /pre { }
  location /pre/ { proxy_pass http://b; }
  location /outer/ { location /outer/inner/ { proxy_pass http://b/x/; } }
  location "/sp ace/" { proxy_pass http://b; }
  location / { proxy_pass http://b; }
`;

test("auto redirect: a proxy_pass location's name without its final / answers 301, before regexes", () => {
  const m = compileLocations(loadServer(REDIRECTS));
  const table: [string, string | null, boolean][] = [
    ["/api", "/api/", true],
    ["/api/", "/api/", false],
    ["/api/x", "/api/", false],
    ["/exact", "= /exact/", true],
    ["/exact/", "= /exact/", false],
    // nginx's tree node for "/both/" holds both; the exact one is its configuration
    ["/both", "= /both/", true],
    ["/both/", "= /both/", false],
    ["/both/x", "/both/", false],
    ["/plain", "/", false],
    // an inclusive location equal to the URI wins
    ["/pre", "/pre", false],
    ["/outer/inner", "/outer/inner/", true],
    ["/sp ace", "/sp ace/", true],
    ["/", "/", false],
  ];
  for (const [uri, want, redirect] of table) {
    const r = m.match(uri);
    assert.deepEqual([label(r.location), r.redirect], [want, redirect], uri);
  }
  assert.equal(redirectLocation(m.match("/api").location!, ""), "/api/");
  assert.equal(redirectLocation(m.match("/api").location!, "a=1&b"), "/api/?a=1&b");
  assert.equal(redirectLocation(m.match("/sp ace").location!, ""), "/sp%20ace/");
});

test("names are compared as bytes, as the normalised URI holds them", () => {
  const m = compileLocations(loadServer("location /café/ { }\nlocation ~ ^/ü$ { }"));
  assert.equal(label(m.match(normalizePath("/caf%C3%A9/x")!).location), "/café/");
  assert.equal(label(m.match(normalizePath("/%C3%BC")!).location), "~ ^/ü$");
  assert.equal(m.match("/café/x").location, null);
});

test("a server without locations matches nothing", () => {
  const r = compileLocations(loadServer("")).match("/");
  assert.deepEqual(r, { location: null, captures: [], named: {}, redirect: false });
});
