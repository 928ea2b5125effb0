/** Virtual server selection: listen address tables, then server_name in nginx's order. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../src/config/adapt.js";
import type { ServerConf } from "../../src/config/types.js";
import { buildVirtualHosts, hostsFor, listenersOf, type VirtualHosts } from "../../src/router/servers.js";
import { testEnv } from "../support/env.js";

function loadServers(http: string): ServerConf[] {
  const dir = mkdtempSync(join(tmpdir(), "syncgate-router-"));
  try {
    const file = join(dir, "nginx.conf");
    writeFileSync(file, `events {}\nhttp {\n${http}\n}\n`);
    return loadConfig(file, { env: testEnv() }).config.http!.servers;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Each test server answers `return 200 "NAME"`: its name in the tables below.
const nameOf = (s: ServerConf | undefined): string | null => s?.return?.text ?? null;
const pick = (vh: VirtualHosts, host: string | null): string | null => nameOf(vh.select(host).server);

const NAMES = String.raw`
  server { listen 8080; server_name example.com www.example.com; return 200 "exact"; }
  server { listen 8080; server_name *.example.com *.example.org; return 200 "head"; }
  server { listen 8080; server_name *.deep.example.com; return 200 "head-long"; }
  server { listen 8080; server_name www.example.*; return 200 "tail"; }
  server { listen 8080; server_name www.example.co.*; return 200 "tail-long"; }
  server { listen 8080; server_name ~^(?<user>[a-z]+)\.users\.test$ ~^API\.test$; return 200 "regex1"; }
  server { listen 8080; server_name ~^([a-z]+)\.users\.test$ ~^(.+)\.any\.test$; return 200 "regex2"; }
  server { listen 8080 default_server; server_name default.test; return 200 "default"; }
  server { listen 8080; server_name .dot.test; return 200 "dot"; }
  server { listen 8080; server_name example.com; return 200 "conflict"; }
  server { listen 8080; return 200 "nameless"; }
`;

test("server_name: exact, longest *. wildcard, longest .* wildcard, first regex, default_server", () => {
  const vh = buildVirtualHosts(loadServers(NAMES)).get("0.0.0.0:8080")!;
  const table: [string | null, string | null][] = [
    ["example.com", "exact"],
    ["EXAMPLE.Com", "exact"],
    ["example.com:8080", "exact"],
    ["example.com.", "exact"],
    ["Example.COM.:80", "exact"],
    // exact beats both wildcards
    ["www.example.com", "exact"],
    ["foo.example.com", "head"],
    ["a.b.example.com", "head"],
    ["x.deep.example.com", "head-long"],
    ["deep.example.com", "head"],
    // a leading wildcard beats a trailing one
    ["www.example.org", "head"],
    ["www.example.net", "tail"],
    ["www.example.co.uk", "tail-long"],
    ["www.example", "default"],
    // regexes in config order; one with an upper-case letter is caseless
    ["bob.users.test", "regex1"],
    ["api.test", "regex1"],
    ["x.y.any.test", "regex2"],
    ["dot.test", "dot"],
    ["a.dot.test", "dot"],
    ["unknown.test", "default"],
    ["[::1]:8080", "default"],
    // without Host: the server named "" (a server without server_name), else the default
    [null, "nameless"],
    // an invalid Host (400, see parseHost) selects the default server
    ["", "default"],
    [":80", "default"],
    ["a..b", "default"],
    ["a b", "default"],
  ];
  for (const [host, want] of table) assert.equal(pick(vh, host), want, JSON.stringify(host));
  assert.equal(nameOf(vh.defaultServer), "default");
});

test("server_name regex captures", () => {
  const vh = buildVirtualHosts(loadServers(NAMES)).get("0.0.0.0:8080")!;
  const named = vh.select("Bob.Users.Test");
  assert.deepEqual([named.captures, named.named], [["bob.users.test", "bob"], { user: "bob" }]);
  const numbered = vh.select("x.y.any.test");
  assert.deepEqual([numbered.captures, numbered.named], [["x.y.any.test", "x.y"], {}]);
  const none = vh.select("api.test");
  assert.deepEqual([none.captures, none.named], [[], {}]);
  const exact = vh.select("example.com");
  assert.deepEqual([exact.captures, exact.named], [[], {}]);
});

const ADDRESSES = `
  server { listen 8081; server_name a.test; return 200 "a"; }
  server { listen 8081; server_name b.test; return 200 "b"; }
  server { listen 127.0.0.1:8081; server_name c.test; return 200 "c"; }
  server { listen [::1]:8081; listen [0:0::1]:8082; server_name v6.test; return 200 "v6"; }
`;

test("one table per address; the first server is the default without default_server", () => {
  const table = buildVirtualHosts(loadServers(ADDRESSES));
  assert.deepEqual([...table.keys()], ["0.0.0.0:8081", "127.0.0.1:8081", "[::1]:8081", "[::1]:8082"]);
  const any = table.get("0.0.0.0:8081")!;
  assert.deepEqual(
    [pick(any, "b.test"), pick(any, "zzz"), pick(any, null), pick(any, "c.test")],
    ["b", "a", "a", "a"],
  );
  assert.equal(pick(table.get("127.0.0.1:8081")!, "a.test"), "c");
});

test("hostsFor: the local address's own table, else its port's wildcard", () => {
  const table = buildVirtualHosts(loadServers(ADDRESSES));
  const cases: [string, number, string | null][] = [
    ["127.0.0.1", 8081, "127.0.0.1:8081"],
    ["10.1.2.3", 8081, "0.0.0.0:8081"],
    ["::1", 8081, "[::1]:8081"],
    ["0:0::1", 8082, "[::1]:8082"],
    ["::ffff:127.0.0.1", 8081, "127.0.0.1:8081"],
    ["::ffff:10.1.2.3", 8081, "0.0.0.0:8081"],
    ["::2", 8081, null],
    ["10.1.2.3", 9999, null],
  ];
  for (const [address, port, key] of cases) {
    assert.equal(hostsFor(table, address, port)?.key ?? null, key, `${address} ${port}`);
  }
  const dual = buildVirtualHosts(loadServers(`server { listen [::]:8083 ipv6only=off; return 200 "d"; }`));
  assert.equal(hostsFor(dual, "::ffff:127.0.0.1", 8083)?.key, "[::]:8083");
});

test("listenersOf: addresses sharing a wildcard's port are not bound, unless backlog= or reuseport", () => {
  const servers = loadServers(`
    server {
      listen 8090; listen 127.0.0.1:8090; listen 127.0.0.2:8090 backlog=100; listen 127.0.0.1:8091;
      listen [::]:8090 ipv6only=off; listen [::1]:8090;
    }
    server { listen 8090 reuseport; listen 127.0.0.3:8092 reuseport; listen 127.0.0.1:8091 backlog=5; }
  `);
  const base = { ipv6: false, ipv6only: true, backlog: null, reuseport: false };
  assert.deepEqual(listenersOf(servers), [
    { ...base, key: "0.0.0.0:8090", host: "0.0.0.0", port: 8090, reuseport: true },
    { ...base, key: "127.0.0.2:8090", host: "127.0.0.2", port: 8090, backlog: 100 },
    { ...base, key: "127.0.0.1:8091", host: "127.0.0.1", port: 8091, backlog: 5 },
    { ...base, key: "[::]:8090", host: "::", port: 8090, ipv6: true, ipv6only: false },
    { ...base, key: "127.0.0.3:8092", host: "127.0.0.3", port: 8092, reuseport: true },
  ]);
});
