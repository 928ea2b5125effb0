/** upstream_show (upsync spec §5): exact bytes, selection by the whole query string, methods. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { renderUpstreamShow, type ShowUpstream } from "../../src/status/upstream-show.js";
import { server } from "../support/servers.js";

// The module's test-suite example (spec §5): two upstreams.
const SPEC_EXAMPLE: ShowUpstream[] = [
  {
    name: "test",
    servers: [
      server("127.0.0.1:8089", { weight: 20, maxFails: 0, failTimeout: 30_000 }),
      server("127.0.0.1:8088", { weight: 10, maxFails: 3, failTimeout: 10_000 }),
    ],
  },
  { name: "backend", servers: [server("127.0.0.1:8090", { weight: 10, maxFails: 3, failTimeout: 10_000 })] },
];

const ok = (body: string) => ({
  status: 200,
  headers: ["Content-Type", "text/plain", "Content-Length", String(Buffer.byteLength(body))],
  body,
});

test("no query: every upstream in declaration order, each block followed by a blank line (spec §5 example)", () => {
  const want =
    "Upstream name: test; Backend server count: 2\n" +
    "        server 127.0.0.1:8089 weight=20 max_fails=0 fail_timeout=30s;\n" +
    "        server 127.0.0.1:8088 weight=10 max_fails=3 fail_timeout=10s;\n" +
    "\n" +
    "Upstream name: backend; Backend server count: 1\n" +
    "        server 127.0.0.1:8090 weight=10 max_fails=3 fail_timeout=10s;\n" +
    "\n";
  assert.deepEqual(renderUpstreamShow(SPEC_EXAMPLE, { method: "GET", args: null }), ok(want));
  assert.deepEqual(renderUpstreamShow(SPEC_EXAMPLE, { method: "GET", args: "" }), ok(want));
});

test("?name selects one upstream by the whole query string, ASCII case-insensitive, no blank line after", () => {
  const backend =
    "Upstream name: backend; Backend server count: 1\n        server 127.0.0.1:8090 weight=10 max_fails=3 fail_timeout=10s;\n";
  const unknown = "The upstream you requested does not exist. Please double-check the name";
  const rows: [string, string][] = [
    ["backend", backend],
    ["BACKEND", backend],
    ["BackEnd", backend],
    ["test&x=1", unknown],
    ["name=test", unknown],
    ["back", unknown],
    ["backend ", unknown],
    ["backen%64", unknown], // $args is not decoded
  ];
  for (const [args, body] of rows)
    assert.deepEqual(renderUpstreamShow(SPEC_EXAMPLE, { method: "GET", args }), ok(body), args);
});

test("no upstreams at all, and an upstream without servers", () => {
  assert.deepEqual(renderUpstreamShow([], { method: "GET", args: null }), ok("No upstreams defined"));
  assert.deepEqual(
    renderUpstreamShow([], { method: "GET", args: "x" }),
    ok("The upstream you requested does not exist. Please double-check the name"),
  );
  assert.deepEqual(
    renderUpstreamShow([{ name: "empty", servers: [] }], { method: "GET", args: null }),
    ok("Upstream name: empty; Backend server count: 0\n\n"),
  );
});

test("servers in the order given (registry order), down and backup marked, IPv6 bracketed", () => {
  const u: ShowUpstream = {
    name: "test",
    servers: [
      server("10.0.0.9:80", { maxFails: 2, down: true }),
      server("10.0.0.10:80", { maxFails: 2, backup: true }),
      server("10.0.0.1:80", { maxFails: 2, down: true, backup: true }),
      server("[::1]:8080", { maxFails: 2, host: "::1" }),
    ],
  };
  assert.equal(
    renderUpstreamShow([u], { method: "GET", args: "test" }).body,
    "Upstream name: test; Backend server count: 4\n" +
      "        server 10.0.0.9:80 weight=1 max_fails=2 fail_timeout=10s down;\n" +
      "        server 10.0.0.10:80 weight=1 max_fails=2 fail_timeout=10s backup;\n" +
      "        server 10.0.0.1:80 weight=1 max_fails=2 fail_timeout=10s down backup;\n" +
      "        server [::1]:8080 weight=1 max_fails=2 fail_timeout=10s;\n",
  );
});

test("HEAD: GET's headers, no body; other methods: 405 with nginx's error page", () => {
  const get = renderUpstreamShow(SPEC_EXAMPLE, { method: "GET", args: null });
  assert.deepEqual(renderUpstreamShow(SPEC_EXAMPLE, { method: "HEAD", args: null }), { ...get, body: "" });
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"]) {
    assert.deepEqual(
      renderUpstreamShow(SPEC_EXAMPLE, { method, args: null }),
      { status: 405, headers: [], body: null },
      method,
    );
  }
});

test("Content-Length counts bytes", () => {
  const r = renderUpstreamShow([{ name: "café", servers: [] }], { method: "GET", args: null });
  assert.equal(r.body, "Upstream name: café; Backend server count: 0\n\n");
  assert.deepEqual(r.headers, ["Content-Type", "text/plain", "Content-Length", "47"]);
});
