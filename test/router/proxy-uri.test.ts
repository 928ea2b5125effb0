/** The URI sent upstream, as ngx_http_proxy_create_request() builds it. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../src/config/adapt.js";
import type { ServerConf } from "../../src/config/types.js";
import { compileLocations } from "../../src/router/locations.js";
import { type ProxiedRequest, upstreamUri } from "../../src/router/proxy-uri.js";
import { normalizePath, parseTarget } from "../../src/router/uri.js";
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

// A stand-in for the variable engine: $host is "h", $request_uri and $uri the request's.
const expander =
  (req: ProxiedRequest) =>
  (template: string): string =>
    template.replace(/\$(host|request_uri|uri)\b/g, (_, v: string) =>
      v === "host" ? "h" : v === "uri" ? req.uri : req.requestUri,
    );

/** Routes `target` through the server's locations and returns the URI sent upstream. */
function sent(server: ServerConf, target: string): string | null {
  const t = parseTarget(target)!;
  const req = { uri: normalizePath(t.path)!, args: t.args, requestUri: t.requestUri, rawPath: t.path };
  const location = compileLocations(server).match(req.uri).location!;
  return upstreamUri(location.proxyPass!, location, req, expander(req));
}

function check(body: string, table: [string, string | null][]): void {
  const server = loadServer(body);
  for (const [target, want] of table) assert.equal(sent(server, target), want, target);
}

test("a URI part replaces the location's name in the normalised URI, then ?args", () => {
  check(
    `
    location / { proxy_pass http://con_server/; }
    location /api/ { proxy_pass http://b/v2/; }
    location /api { proxy_pass http://b/v2; }
    location = /exact { proxy_pass http://b/e; }
    location ^~ /static/ { proxy_pass http://b/assets/; }
    location /q/ { proxy_pass http://b/q?fixed=1; }
    location /é/ { proxy_pass http://b/ü/; }
    `,
    [
      // the seed's case: the URI unchanged apart from normalisation
      ["/a/b?x=1", "/a/b?x=1"],
      ["/a//b/./c/../d", "/a/b/d"],
      ["/a/../b%20c?x=1", "/b%20c?x=1"],
      ["/api/x?y=1", "/v2/x?y=1"],
      ["/api/", "/v2/"],
      ["/api/x?", "/v2/x"],
      ["/api/x#frag", "/v2/x"],
      ["/api/x", "/v2/x"],
      // plain string replacement of the location's name
      ["/apix", "/v2x"],
      ["/api", "/v2"],
      ["/exact?q", "/e?q"],
      ["/static/img/a.png", "/assets/img/a.png"],
      ["/q/x?a=1", "/q?fixed=1x?a=1"],
      // the $uri part is re-escaped (NGX_ESCAPE_URI) when the client escaped anything
      ["/api/a%3Fb", "/v2/a%3Fb"],
      ["/api/a%2Fb", "/v2/a/b"],
      ["/api/%C3%A9?x=%20", "/v2/%C3%A9?x=%20"],
      ["/api/a%41b%20c", "/v2/aAb%20c"],
      ["/api/a'b", "/v2/a'b"],
      ["/%C3%A9/x", "/\xC3\xBC/x"],
      ["http://host:81/api/x?y", "/v2/x?y"],
      ["http://host?y", "/?y"],
    ],
  );
});

test("without a URI part: the request URI exactly as the client sent it", () => {
  check(
    String.raw`
    location / { proxy_pass http://b; }
    location ~ \.php$ { proxy_pass http://b; }
    location /up/ { proxy_pass http://b:8081; }
    `,
    [
      ["/a/../b%20c?x=1", "/a/../b%20c?x=1"],
      ["/a//b?", "/a//b?"],
      ["/p#frag", "/p#frag"],
      ["/x.php?a=%41", "/x.php?a=%41"],
      ["/up/%2e%2E/up/x", "/up/%2e%2E/up/x"],
      ["http://Host/a/./b?q", "/a/./b?q"],
      // no path in an absolute-form target: nginx sends the normalised URI and the args
      ["http://host?q=1", "/?q=1"],
      ["http://host", "/"],
    ],
  );
});

test("with variables: the expanded URI part as is, else the request URI", () => {
  check(
    `
    location /a/ { proxy_pass http://$host/v2$uri; }
    location /b/ { proxy_pass http://$host; }
    location /c/ { proxy_pass http://$host$request_uri; }
    location /d/ { proxy_pass http://$host?x=1; }
    `,
    [
      // the URI part is taken as is: no ?args appended, no location name cut
      ["/a/x?y=1", "/v2/a/x"],
      ["/b/x%20y?z", "/b/x%20y?z"],
      ["/c/x/../y?z", "/c/x/../y?z"],
      ["/d/x", "/?x=1"],
    ],
  );
});

test("with variables that expand to no http URL: null (500)", () => {
  const server = loadServer("location / { proxy_pass http://$host; }");
  const location = compileLocations(server).match("/").location!;
  const req = { uri: "/", args: "", requestUri: "/", rawPath: "/" };
  const pp = location.proxyPass!;
  assert.equal(
    upstreamUri(pp, location, req, () => "ftp://h/x"),
    null,
  );
  assert.equal(
    upstreamUri(pp, location, req, () => "http://"),
    null,
  );
  assert.equal(
    upstreamUri(pp, location, req, () => "HTTPS://h/y?z"),
    "/y?z",
  );
  assert.equal(
    upstreamUri(pp, location, req, () => "http://h"),
    "/",
  );
  assert.equal(
    upstreamUri(pp, location, req, () => "http://[::1]:80"),
    "/",
  );
});
