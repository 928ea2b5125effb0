/**
 * The first users' configuration (test/fixtures/seed-nginx.conf, a copy of ../shared/examples/), proxied as written: its server and
 * location blocks, log formats and basic auth, with `con_server` given static servers until registry sync
 * lands (the upsync and check lines are taken out), addresses and paths moved to loopback and a temp folder.
 */
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/adapt.js";
import { ProxyServer } from "../../src/proxy/server.js";
import { startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { testEnv } from "../support/env.js";
import { freePort } from "../support/ports.js";
import { tempDir } from "../support/tmp.js";

// A verbatim copy of ../shared/examples/seed-nginx.conf, so the suite runs wherever the checkout is.
const SEED = fileURLToPath(new URL("../../../test/fixtures/seed-nginx.conf", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/htpasswd/", import.meta.url));
const MIME = fileURLToPath(new URL("../../../conf/mime.types", import.meta.url));

test("the seed's servers and locations work as written", async (t) => {
  const b1 = await startBackend(t, "web1");
  const b2 = await startBackend(t, "web2");
  const port = await freePort();
  const dir = tempDir(t, { "logs/.keep": "" });
  copyFileSync(MIME, join(dir, "mime.types"));
  copyFileSync(join(FIXTURES, "apr1.htpasswd"), join(dir, ".htpasswd"));
  const text = readFileSync(SEED, "utf8")
    .replace(/^user .*\n/m, "")
    .replace(/^\s*upsync.*\n/gm, "")
    .replace(/^\s*check .*\n/gm, "")
    // The module's placeholder server and the dump include become the two backends.
    .replace(/^\s*server 127\.0\.0\.1:11111;\n/m, `        server ${b1.addr};\n        server ${b2.addr};\n`)
    .replace(/^\s*include \/data\/work\/nginx\/conf\/servers\/con_server.conf;\n/m, "")
    .replace(/check_status;/, 'return 200 "status page\\n";')
    .replace(/listen 80;/g, `listen 127.0.0.1:${port};`)
    .replace("/data/work/nginx/logs/error.log", join(dir, "logs/error.log"))
    .replace("/data/logs/nginx/access.log", join(dir, "logs/access.log"))
    .replace("/data/work/nginx/conf/.htpasswd", join(dir, ".htpasswd"));
  assert.doesNotMatch(text, /^\s*(upsync|check)|\/data\//m);
  writeFileSync(join(dir, "nginx.conf"), text);
  const proxy = await ProxyServer.create(loadConfig(join(dir, "nginx.conf"), { env: testEnv() }));
  await proxy.listen();
  t.after(() => proxy.close());

  const bodies: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await send(port, `/page${i}?q=${i}`, {
      headers: { Host: "www.linux08.com", "User-Agent": "seed-test" },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/plain; charset=utf-8", "charset utf-8 from the seed");
    bodies.push(r.body);
  }
  assert.deepEqual(bodies, [
    "web1 GET /page0?q=0",
    "web2 GET /page1?q=1",
    "web1 GET /page2?q=2",
    "web2 GET /page3?q=3",
  ]);
  assert.equal(b1.seen[0]!.headers["host"], "www.linux08.com");
  assert.equal(b1.seen[0]!.headers["x-real-ip"], "127.0.0.1");

  const status = await send(port, "/", { headers: { Host: "status.linux08.com" } });
  assert.equal(status.status, 401);
  assert.equal(status.headers["www-authenticate"], 'Basic realm="login"');
  const authed = await send(port, "/", {
    headers: {
      Host: "status.linux08.com",
      Authorization: `Basic ${Buffer.from("root:123456").toString("base64")}`,
    },
  });
  assert.deepEqual([authed.status, authed.body], [200, "status page\n"]);

  await proxy.close();
  const line = readFileSync(join(dir, "logs/access.log"), "utf8").split("\n")[0]!;
  // The seed's `main` format, verbatim: $gzip_ratio is "-", $upstream_* list the server tried.
  assert.match(
    line,
    new RegExp(
      `^127\\.0\\.0\\.1 - - \\[\\d{2}/\\w{3}/\\d{4}:\\d{2}:\\d{2}:\\d{2} [+-]\\d{4}\\]${b1.addr.replace(/\./g, "\\.")}-200-\\d+\\.\\d{3}-\\d+\\.\\d{3}-\\d+-- "www\\.linux08\\.com/page0\\?q=0" 200 \\d+ "-" "seed-test" "-"$`,
    ),
  );
});
