/**
 * Issue 5's acceptance with the seed configuration: the seed's upstream (registry on the Consul double, its
 * `check interval=5000 rise=1 fall=3 timeout=4000 type=http` line with a shorter interval and without `port=80`,
 * plus the walkthrough's `check_http_send "HEAD / HTTP/1.0\r\n\r\n"` and `check_http_expect_alive http_2xx
 * http_3xx`), and its status server with `check_status` behind `auth_basic`, with htpasswd files made by Apache's
 * `htpasswd -bcm` (apr1) and `-bcB` (bcrypt). A real syncgate process, real backends, real sockets.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { type Backend, startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { startConsulDouble } from "../support/consul-double.js";
import { startSyncgate, waitListening } from "../support/daemon.js";
import { logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { seedConfig, seedHtpasswd } from "../support/seed.js";
import { tempDir } from "../support/tmp.js";
import { eventually } from "../support/wait.js";

const VALUE = '{"weight":1, "max_fails":2, "fail_timeout":3}';
const auth = (user: string, pass: string): string =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

const www = (port: number, path = "/"): ReturnType<typeof send> =>
  send(port, path, { headers: { Host: "www.linux08.com" } });
const status = (port: number, query: string, authorization?: string): ReturnType<typeof send> =>
  send(port, `/${query}`, {
    headers: { Host: "status.linux08.com", ...(authorization ? { Authorization: authorization } : {}) },
  });

for (const scheme of ["apr1", "bcrypt"] as const) {
  test(`seed: checks mark a dead backend down and back up; check_status behind auth_basic (${scheme})`, async (t: TestContext) => {
    const consul = await startConsulDouble();
    t.after(() => consul.stop());
    let failing = false;
    const heads: string[] = [];
    const mk = (name: string): Promise<Backend> =>
      startBackend(t, name, (req, res) => {
        if (req.method === "HEAD") heads.push(name);
        if (name === "b" && failing) {
          res.writeHead(500);
          res.end();
          return;
        }
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end(`${name} ${req.url}`);
      });
    const a = await mk("a");
    const b = await mk("b");
    const port = await freePort();
    const dir = tempDir(t);
    const htpasswd = seedHtpasswd(dir, scheme);
    writeFileSync(
      join(dir, "syncgate.conf"),
      seedConfig(dir, { registry: ["10.10.78.17:8500", consul.address], port, htpasswd }),
    );
    const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
    await waitListening(port);

    consul.put(`upstreams/con_server/${a.addr}`, VALUE);
    consul.put(`upstreams/con_server/${b.addr}`, VALUE);
    await eventually("both serve", async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add((await www(port)).body.split(" ")[0]!);
      return seen.has("a") && seen.has("b");
    });
    assert.ok(heads.length > 0, "the probes are the walkthrough's HEAD requests");

    // The status page needs the password.
    assert.equal((await status(port, "")).status, 401);
    assert.equal((await status(port, "", auth("root", "wrong"))).status, 401);
    const page = await status(port, "", auth("root", "123456"));
    assert.equal(page.status, 200);
    assert.equal(page.headers["content-type"], "text/html");
    assert.match(page.body, /<h2>Check upstream server number: 2, generation: 1<\/h2>/);
    for (const x of [a, b]) {
      assert.match(page.body, new RegExp(`<td>con_server</td>\\n    <td>${x.addr}</td>\\n    <td>up</td>`));
    }

    // b answers 500 to everything: after fall=3 probes it is down, no request reaches it, the page says so.
    failing = true;
    await eventually("b disabled", () =>
      logLines(join(dir, "error.log")).some((l) => l.includes(`disable check peer: ${b.addr}`)),
    );
    const after: string[] = [];
    for (let i = 0; i < 6; i++) after.push((await www(port)).body.split(" ")[0]!);
    assert.deepEqual(after, ["a", "a", "a", "a", "a", "a"]);
    const json = JSON.parse(
      (await status(port, "?format=json&status=down", auth("root", "123456"))).body,
    ) as {
      servers: { total: number; server: { name: string; status: string; type: string }[] };
    };
    assert.equal(json.servers.total, 1);
    assert.deepEqual(
      json.servers.server.map((s) => [s.name, s.status, s.type]),
      [[b.addr, "down", "http"]],
    );
    const csv = (await status(port, "?format=csv", auth("root", "123456"))).body;
    assert.match(csv, new RegExp(`^\\d+,con_server,${b.addr},down,0,\\d+,http,0$`, "m"));

    // Revived: rise=1, one good probe brings it back.
    failing = false;
    await eventually("b enabled", () =>
      logLines(join(dir, "error.log")).some((l) => l.includes(`enable check peer: ${b.addr}`)),
    );
    await eventually("b serves again", async () => (await www(port)).body.startsWith("b"));

    d.child.kill("SIGTERM");
    assert.equal((await d.exited).status, 0, d.stderr());
  });
}

test("every server down by check: 502 and `no live upstreams`, as the module", async (t) => {
  const port = await freePort();
  const dead = await freePort();
  const dir = tempDir(t, {
    "syncgate.conf": `pid syncgate.pid;\nerror_log error.log info;\nevents {}\nhttp {\n  access_log off;
  upstream u { server 127.0.0.1:${dead}; check interval=50 fall=1 rise=1 timeout=500 type=tcp; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }\n}\n`,
  });
  const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
  await waitListening(port).catch((err: Error) => assert.fail(`${err.message}: ${d.stderr()}`));
  assert.equal((await send(port, "/")).status, 502);
  await eventually("logged", () =>
    logLines(join(dir, "error.log")).some((l) =>
      l.includes("no live upstreams while connecting to upstream"),
    ),
  );
  d.child.kill("SIGTERM");
  await d.exited;
});
