/** allow/deny and basic authentication on any location, with htpasswd fixtures made by Apache's htpasswd. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/htpasswd/", import.meta.url));
const basic = (user: string, pass: string): string =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

test("allow/deny: first match wins, denied clients get 403", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  await startProxy(
    t,
    `server { listen 127.0.0.1:${port};
       location /open/ { allow 127.0.0.1; deny all; proxy_pass http://${b.addr}; }
       location /closed/ { deny 127.0.0.0/8; allow all; proxy_pass http://${b.addr}; }
       location /v6/ { allow ::1; deny all; proxy_pass http://${b.addr}; } }`,
  );
  assert.equal((await send(port, "/open/")).status, 200);
  const denied = await send(port, "/closed/");
  assert.equal(denied.status, 403);
  assert.match(denied.body, /403 Forbidden/);
  assert.equal((await send(port, "/v6/")).status, 403);
  assert.equal(b.seen.length, 1);
});

for (const [kind, file] of [
  ["apr1", "apr1.htpasswd"],
  ["bcrypt", "bcrypt.htpasswd"],
  ["sha", "sha.htpasswd"],
] as const) {
  test(`auth_basic with ${kind} passwords: 401 with the realm, 200 with the right password`, async (t) => {
    const b = await startBackend(t, "b");
    const port = await freePort();
    const p = await startProxy(
      t,
      `server { listen 127.0.0.1:${port};
         location / { auth_basic "login"; auth_basic_user_file ${FIXTURES}${file}; proxy_pass http://${b.addr}; } }`,
    );
    const none = await send(port, "/");
    assert.equal(none.status, 401);
    assert.equal(none.headers["www-authenticate"], 'Basic realm="login"');
    assert.equal((await send(port, "/", { headers: { Authorization: basic("root", "wrong") } })).status, 401);
    assert.equal(
      (await send(port, "/", { headers: { Authorization: basic("nobody", "123456") } })).status,
      401,
    );
    const ok = await send(port, "/", { headers: { Authorization: basic("root", "123456") } });
    assert.equal(ok.status, 200);
    assert.equal(b.seen.length, 1);
    await p.proxy.close();
    assert.match(readFileSync(p.errorLogPath, "utf8"), /user "root": password mismatch/);
  });
}

test("a missing password file is 403, an unreadable one 500, each with a log line; never an open door", async (t) => {
  const b = await startBackend(t, "b");
  const port = await freePort();
  const p = await startProxy(
    t,
    `server { listen 127.0.0.1:${port};
       location /missing/ { auth_basic "x"; auth_basic_user_file /nonexistent/htpasswd; proxy_pass http://${b.addr}; }
       location /unreadable/ { auth_basic "x"; auth_basic_user_file ${FIXTURES}; proxy_pass http://${b.addr}; } }`,
  );
  const auth = { Authorization: basic("root", "123456") };
  assert.equal((await send(port, "/missing/", { headers: auth })).status, 403);
  assert.equal((await send(port, "/unreadable/", { headers: auth })).status, 500);
  assert.equal(b.seen.length, 0);
  await p.proxy.close();
  const log = readFileSync(p.errorLogPath, "utf8");
  assert.match(log, /\[error\] .*open\(\) "\/nonexistent\/htpasswd" failed \(2: No such file or directory\)/);
  assert.match(log, /\[crit\] .*failed \(21: Is a directory\)/);
});
