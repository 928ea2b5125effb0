/**
 * Registry sync through the real proxy (issue 4): the seed's upstream block (placeholder server, `upsync`,
 * `upsync_dump_path`, `include` of the dump) against the Consul double, real backends, real sockets. Adding,
 * removing, refusing to empty, the registry going away, a restart from the dump, strong_dependency, the watched
 * file source, and the upstream_show / upsync_status handlers.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { loadConfig } from "../../src/config/adapt.js";
import { ProxyServer } from "../../src/proxy/server.js";
import { type Backend, startBackend } from "../support/backend.js";
import { answers, send } from "../support/client.js";
import { type ConsulDouble, startConsulDouble } from "../support/consul-double.js";
import { probePort, startSyncgate } from "../support/daemon.js";
import { testEnv } from "../support/env.js";
import { errorLines, logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { startProxy, type TestProxy } from "../support/proxy.js";
import { tempDir } from "../support/tmp.js";
import { eventually } from "../support/wait.js";

const KEY = "upstreams/con_server/";

async function consul(t: TestContext): Promise<ConsulDouble> {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  return c;
}

/** The seed's upstream block with loopback addresses, plus a server with the proxy and both status handlers. */
function seedHttp(c: ConsulDouble, dir: string, port: number, upsyncExtra = ""): string {
  const dump = join(dir, "servers", "con_server.conf");
  return `
upstream con_server {
    server 127.0.0.1:11111;
    upsync ${c.address}/v1/kv/${KEY} upsync_timeout=6m upsync_interval=500ms upsync_type=consul strong_dependency=off${upsyncExtra};
    upsync_dump_path ${dump};
    include ${dump};
}
server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://con_server/; }
    location = /upstream_show { upstream_show; }
    location = /upsync_status { upsync_status; }
}`;
}

interface Seed {
  c: ConsulDouble;
  a: Backend;
  b: Backend;
  port: number;
  p: TestProxy;
  dump: string;
}

/** The seed's upstream on the Consul double; `interval` replaces the seed's 500 ms (it paces retries). */
async function seed(t: TestContext, interval = "500ms"): Promise<Seed> {
  const c = await consul(t);
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const port = await freePort();
  const dir = tempDir(t);
  const p = await startProxy(
    t,
    seedHttp(c, dir, port).replace("upsync_interval=500ms", `upsync_interval=${interval}`),
  );
  return { c, a, b, port, p, dump: join(dir, "servers", "con_server.conf") };
}

const value = '{"weight":1,"max_fails":2,"fail_timeout":10,"down":0}';

test("seed upstream + Consul: add two, traffic alternates; remove one, only the other; the dump follows", async (t) => {
  const { c, a, b, port, dump } = await seed(t);
  // Before any key: the placeholder server of the config is all there is.
  assert.deepEqual(await answers(port, 1), ["502"]);

  c.put(`${KEY}${a.addr}`, value);
  await eventually("a serves", async () => (await answers(port, 1))[0] === "a");
  c.put(`${KEY}${b.addr}`, value);
  await eventually("b serves", async () => (await answers(port, 2)).includes("b"));
  assert.deepEqual((await answers(port, 4)).sort(), ["a", "a", "b", "b"]);
  await eventually("dump lists both", () => existsSync(dump) && readFileSync(dump, "utf8").includes(b.addr));
  const lines = readFileSync(dump, "utf8").split("\n");
  assert.match(
    lines[0]!,
    /^# syncgate dump of upstream con_server; source: consul 127\.0\.0\.1:\d+\/v1\/kv\/upstreams\/con_server\/; index: \d+; time: /,
  );
  assert.deepEqual(
    lines.slice(1).filter((l) => l !== ""),
    [a.addr, b.addr].sort().map((addr) => `server ${addr} weight=1 max_fails=2 fail_timeout=10s;`),
  );

  c.delete(`${KEY}${a.addr}`);
  await eventually("only b", async () => (await answers(port, 4)).every((x) => x === "b"));
  await eventually("dump lists b only", () => !readFileSync(dump, "utf8").includes(a.addr));
});

test("deleting every key keeps the last server and logs the refusal once; a stopped registry changes nothing", async (t) => {
  const { c, a, port, p } = await seed(t, "50ms");
  c.put(`${KEY}${a.addr}`, value);
  await eventually("a serves", async () => (await answers(port, 1))[0] === "a");

  c.delete(KEY, true);
  await eventually("refusal logged", () =>
    errorLines(p.errorLogPath).some((l) => l.includes("cannot delete all peers")),
  );
  assert.deepEqual(await answers(port, 3), ["a", "a", "a"]);
  assert.equal(errorLines(p.errorLogPath).filter((l) => l.includes("cannot delete all peers")).length, 1);

  await c.stop();
  await eventually("failure logged", () =>
    errorLines(p.errorLogPath).some((l) =>
      /\[error\].*upsync: upstream "con_server": .*keeps serving/.test(l),
    ),
  );
  assert.deepEqual(await answers(port, 3), ["a", "a", "a"]);
  const status = JSON.parse((await send(port, "/upsync_status")).body) as {
    upstreams: Record<string, { refused: number; last_error: { message: string } | null }>;
  };
  assert.equal(status.upstreams.con_server!.refused, 1);
  assert.notEqual(status.upstreams.con_server!.last_error, null);

  await c.start();
  await eventually("recovery logged", () =>
    logLines(p.errorLogPath).some((l) => /\[notice\].*con_server.*answers again/.test(l)),
  );
});

test("restarted while the registry is down, syncgate serves the servers of its dump", async (t) => {
  const c = await consul(t);
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const port = await freePort();
  const dir = tempDir(t);
  const file = join(dir, "syncgate.conf");
  writeFileSync(
    file,
    `error_log ${join(dir, "error.log")} info;\nevents {}\nhttp {\naccess_log off;\n${seedHttp(c, dir, port)}\n}\n`,
  );
  const start = async (): Promise<ProxyServer> => {
    const proxy = await ProxyServer.create(loadConfig(file, { env: testEnv() }));
    await proxy.start();
    await proxy.listen();
    return proxy;
  };
  const one = await start();
  c.put(`${KEY}${a.addr}`, value);
  c.put(`${KEY}${b.addr}`, value);
  await eventually("both serve", async () => new Set(await answers(port, 4)).size === 2);
  await one.close();

  await c.stop();
  const two = await start();
  t.after(() => two.close());
  assert.deepEqual((await answers(port, 4)).sort(), ["a", "a", "b", "b"]);
  const show = await send(port, "/upstream_show?con_server");
  assert.equal(
    show.body,
    `Upstream name: con_server; Backend server count: 2\n` +
      [a.addr, b.addr]
        .sort()
        .map((x) => `        server ${x} weight=1 max_fails=2 fail_timeout=10s;\n`)
        .join(""),
  );
  // upsync_status: the servers came from the dump, whose age is known from its file.
  const st = JSON.parse((await send(port, "/upsync_status")).body) as {
    upstreams: Record<
      string,
      { dump: { written: string | null; age_ms: number | null }; servers: { origin: string }[] }
    >;
  };
  const u = st.upstreams.con_server!;
  assert.deepEqual(
    u.servers.map((x) => x.origin),
    ["dump", "dump"],
  );
  assert.notEqual(u.dump.written, null);
  assert.ok(u.dump.age_ms !== null && u.dump.age_ms >= 0 && u.dump.age_ms < 60_000, JSON.stringify(u.dump));
});

test("a dump file that is not included is loaded at start, before the first registry request", async (t) => {
  const c = await consul(t);
  await c.stop();
  const a = await startBackend(t, "a");
  const port = await freePort();
  const dir = tempDir(t, {
    "u.conf": `# syncgate dump\nserver ${a.addr} weight=1 max_fails=2 fail_timeout=10s;\n`,
  });
  await startProxy(
    t,
    `upstream u {
       server 127.0.0.1:11111;
       upsync ${c.address}/v1/kv/upstreams/u/ upsync_type=consul upsync_interval=50ms;
       upsync_dump_path ${join(dir, "u.conf")};
     }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  assert.deepEqual(await answers(port, 2), ["a", "a"]);
});

test("strong_dependency=on: start-up waits for the first sync, and fails naming the upstream when it cannot", async (t) => {
  const c = await consul(t);
  const a = await startBackend(t, "a");
  c.put(`${KEY}${a.addr}`, value);
  const port = await freePort();
  const dir = tempDir(t);
  await startProxy(t, seedHttp(c, dir, port).replace("strong_dependency=off", "strong_dependency=on"));
  // The first request already goes to the registry's server, not the placeholder.
  assert.deepEqual(await answers(port, 1), ["a"]);

  await c.stop();
  const dir2 = tempDir(t);
  const file = join(dir2, "syncgate.conf");
  const port2 = await freePort();
  writeFileSync(
    file,
    `error_log ${join(dir2, "error.log")} info;\nevents {}\nhttp {\naccess_log off;\n` +
      `${seedHttp(c, dir2, port2).replace("strong_dependency=off", "strong_dependency=on").replace("upsync_interval=500ms", "upsync_interval=20ms")}\n}\n`,
  );
  const proxy = await ProxyServer.create(loadConfig(file, { env: testEnv() }));
  t.after(() => proxy.close());
  await assert.rejects(proxy.start(), (err: Error) => {
    assert.match(
      err.message,
      /upstream "con_server" has strong_dependency=on and its first sync from consul 127\.0\.0\.1:\d+\/v1\/kv\/upstreams\/con_server\/ failed: .*ECONNREFUSED|refused/,
    );
    return true;
  });
});

test("upsync_type=file: the watched file is the membership; a bad edit keeps the last good servers", async (t) => {
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const port = await freePort();
  const dir = tempDir(t, { "x.conf": `server ${a.addr};\n` });
  const list = join(dir, "x.conf");
  const p = await startProxy(
    t,
    `upstream x {
       server 127.0.0.1:11111;
       upsync ${list} upsync_type=file upsync_interval=50ms;
       upsync_dump_path ${join(dir, "dump", "x.conf")};
     }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://x; } }`,
  );
  await eventually("a serves", async () => (await answers(port, 1))[0] === "a");
  writeFileSync(list, `server ${a.addr};\nserver ${b.addr} weight=2;\n`);
  await eventually("b serves", async () => (await answers(port, 3)).includes("b"));
  assert.deepEqual((await answers(port, 3)).sort(), ["a", "b", "b"]);
  writeFileSync(list, "server 127.0.0.1:1 weight=banana;\n");
  await eventually("bad file logged", () =>
    errorLines(p.errorLogPath).some((l) => l.includes("keeps serving") || l.includes("keep serving")),
  );
  assert.deepEqual((await answers(port, 3)).sort(), ["a", "b", "b"]);
});

test("upstream_show lists every upstream in declaration order; upsync_status tells where servers came from", async (t) => {
  const { c, a, port } = await seed(t);
  c.put(`${KEY}${a.addr}`, '{"weight":3,"max_fails":0,"fail_timeout":30,"down":1}');
  await eventually("registry applied", async () =>
    (await send(port, "/upstream_show")).body.includes(a.addr),
  );
  const all = await send(port, "/upstream_show");
  assert.equal(all.status, 200);
  assert.equal(all.headers["content-type"], "text/plain");
  assert.equal(
    all.body,
    `Upstream name: con_server; Backend server count: 1\n` +
      `        server ${a.addr} weight=3 max_fails=0 fail_timeout=30s down;\n\n`,
  );
  assert.equal(
    (await send(port, "/upstream_show?nope")).body,
    "The upstream you requested does not exist. Please double-check the name",
  );
  assert.equal((await send(port, "/upstream_show", { method: "POST", body: "" })).status, 405);
  const head = await send(port, "/upstream_show", { method: "HEAD" });
  assert.equal(head.headers["content-length"], String(Buffer.byteLength(all.body)));
  assert.equal(head.body, "");

  const st = await send(port, "/upsync_status");
  assert.equal(st.headers["content-type"], "application/json");
  const doc = JSON.parse(st.body) as {
    upstreams: Record<
      string,
      { source: string; servers: { server: string; origin: string; down: boolean }[] }
    >;
  };
  assert.match(
    doc.upstreams.con_server!.source,
    /^consul 127\.0\.0\.1:\d+\/v1\/kv\/upstreams\/con_server\/$/,
  );
  assert.deepEqual(
    doc.upstreams.con_server!.servers.map((s) => [s.server, s.origin, s.down]),
    [[a.addr, "registry", true]],
  );
});

test("upsync_token_file: the ACL token is sent and never logged; a missing token file fails start-up with file:line", async (t) => {
  const secret = "b1gs3cr3t-0000-1111";
  const c = await startConsulDouble({ token: secret });
  t.after(() => c.stop());
  const a = await startBackend(t, "a");
  c.put(`upstreams/u/${a.addr}`, value);
  const port = await freePort();
  const dir = tempDir(t, { "consul.token": `${secret}\n` });
  const http = (tokenFile: string): string => `
    upstream u {
      upsync ${c.address}/v1/kv/upstreams/u/ upsync_type=consul upsync_interval=50ms upsync_token_file=${tokenFile};
      upsync_dump_path ${join(dir, "u.conf")};
    }
    server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`;
  const p = await startProxy(t, http(join(dir, "consul.token")));
  await eventually("a serves", async () => (await answers(port, 1))[0] === "a");
  await c.stop();
  await eventually("failure logged", () =>
    errorLines(p.errorLogPath).some((l) => l.includes("keeps serving")),
  );
  assert.ok(!readFileSync(p.errorLogPath, "utf8").includes(secret), "the token is not in the error log");

  const dir2 = tempDir(t);
  const file = join(dir2, "syncgate.conf");
  writeFileSync(file, `events {}\nhttp {\naccess_log off;\n${http(join(dir2, "missing.token"))}\n}\n`);
  await assert.rejects(ProxyServer.create(loadConfig(file, { env: testEnv() })), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(
        `upsync_token_file: open\\(\\) ".*missing\\.token" failed \\(2: No such file or directory\\) in ${file.replace(/[.]/g, "\\.")}:6`,
      ),
    );
    return true;
  });
});

test("strong_dependency=on with the registry down: the process exits with status 1 and says why", async (t) => {
  const closed = await freePort();
  const port = await freePort();
  const dir = tempDir(t, {
    "syncgate.conf": `pid syncgate.pid;\nerror_log error.log;\nevents {}\nhttp {\naccess_log off;
  upstream u {
    server 127.0.0.1:11111;
    upsync 127.0.0.1:${closed}/v1/kv/upstreams/u/ upsync_type=consul upsync_interval=20ms strong_dependency=on;
    upsync_dump_path u.conf;
  }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }
}
`,
  });
  const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
  const exit = await d.exited;
  assert.equal(exit.status, 1, d.stderr());
  assert.match(
    d.stderr(),
    new RegExp(
      `upstream "u" has strong_dependency=on and its first sync from consul 127\\.0\\.0\\.1:${closed}/v1/kv/upstreams/u/ failed: cannot connect to upsync_server 127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)`,
    ),
  );
  assert.equal(await probePort(port), "ECONNREFUSED");
  assert.equal(existsSync(join(dir, "syncgate.pid")), false);
});

test("strong_dependency=on with an empty registry folder fails after 3 tries, not after 30 s", async (t) => {
  const c = await consul(t);
  const port = await freePort();
  const dir = tempDir(t);
  const file = join(dir, "syncgate.conf");
  writeFileSync(
    file,
    `error_log ${join(dir, "error.log")} info;\nevents {}\nhttp {\naccess_log off;\n` +
      seedHttp(c, dir, port)
        .replace("strong_dependency=off", "strong_dependency=on")
        .replace("upsync_interval=500ms", "upsync_interval=20ms") +
      "\n}\n",
  );
  const proxy = await ProxyServer.create(loadConfig(file, { env: testEnv() }));
  t.after(() => proxy.close());
  const started = Date.now();
  await assert.rejects(proxy.start(), /first sync from consul .* failed: index \d+ lists no usable server/);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});

test("upstream_show lists primary servers only, as the module; the dump keeps the backup", async (t) => {
  const { c, a, b, port, dump } = await seed(t);
  c.put(`${KEY}${a.addr}`, value);
  c.put(`${KEY}${b.addr}`, '{"backup":1}');
  await eventually(
    "dump has the backup",
    () => existsSync(dump) && readFileSync(dump, "utf8").includes(" backup;"),
  );
  assert.equal(
    (await send(port, "/upstream_show?con_server")).body,
    `Upstream name: con_server; Backend server count: 1\n` +
      `        server ${a.addr} weight=1 max_fails=2 fail_timeout=10s;\n`,
  );
  assert.deepEqual(await answers(port, 3), ["a", "a", "a"]);
});
