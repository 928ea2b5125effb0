/**
 * `syncgate ctl` with a running syncgate (issue 6): the real `bin/syncgate ctl` process against the proxy (as a
 * library) whose configuration has an `api write=on;` location behind allow/deny and auth_basic (the walkthrough's
 * root/123456, apr1). Live columns of `list`, `status`, `drain` under load (no failed request, then the server
 * leaves the registry), an upstream with no registry changed through the API, credentials from a file or the
 * environment only, and the API's failures.
 */
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { type Backend, startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { type ConsulDouble, startConsulDouble } from "../support/consul-double.js";
import { failed, ok, runCtl } from "../support/ctl.js";
import { freePort } from "../support/ports.js";
import type { ProcessResult } from "../support/process.js";
import { startProxy } from "../support/proxy.js";
import { tempDir } from "../support/tmp.js";
import { eventually } from "../support/wait.js";

const HTPASSWD = fileURLToPath(new URL("../../../test/fixtures/htpasswd/apr1.htpasswd", import.meta.url));
const KEY = "upstreams/con_server/";
const AUTH = `Basic ${Buffer.from("root:123456").toString("base64")}`;

/** `syncgate ctl ARGS` in `cwd`, bounded at 30 s. */
const ctl = (cwd: string, ...args: string[]): Promise<ProcessResult> => runCtl(cwd, args, 30_000);

/** A backend that holds `/hold/...` requests until released; others answer "NAME". */
async function holdingBackend(t: TestContext, name: string): Promise<Backend & { held: ServerResponse[] }> {
  const held: ServerResponse[] = [];
  const b = await startBackend(t, name, (req, res) => {
    if (req.url?.startsWith("/hold")) {
      held.push(res);
      return;
    }
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(name);
  });
  t.after(() => held.forEach((r) => r.destroy()));
  return Object.assign(b, { held });
}

interface Live {
  c: ConsulDouble;
  a: Backend & { held: ServerResponse[] };
  b: Backend & { held: ServerResponse[] };
  s1: Backend;
  s2: Backend;
  port: number;
  /** The folder ctl runs in: `auth` holds root:123456, `bad` a wrong password. */
  cwd: string;
  /** `-c` and the proxy's own configuration file, with `--auth-file auth`. */
  conf: string[];
  api: string;
}

/** Consul double with a and b registered, the proxy following it, plus `static` (no registry) with s1 and s2. */
async function live(t: TestContext): Promise<Live> {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const a = await holdingBackend(t, "a");
  const b = await holdingBackend(t, "b");
  const s1 = await startBackend(t, "s1");
  const s2 = await startBackend(t, "s2");
  c.put(`${KEY}${a.addr}`, null);
  c.put(`${KEY}${b.addr}`, null);
  const port = await freePort();
  const dump = tempDir(t);
  const p = await startProxy(
    t,
    `upstream con_server {
       upsync ${c.address}/v1/kv/${KEY} upsync_timeout=6m upsync_interval=100ms upsync_type=consul strong_dependency=off;
       upsync_dump_path ${join(dump, "con_server.conf")};
       check interval=100 rise=1 fall=2 timeout=1000 type=tcp;
     }
     upstream static { server ${s1.addr}; server ${s2.addr}; }
     server {
       listen 127.0.0.1:${port};
       location / { proxy_pass http://con_server; }
       location /static/ { proxy_pass http://static/; }
       location /api/ {
         allow 127.0.0.1; deny all;
         auth_basic "syncgate api"; auth_basic_user_file ${HTPASSWD};
         api write=on;
       }
       location /ro/ { api; }
     }`,
  );
  const cwd = tempDir(t, { auth: "root:123456\n", bad: "root:wrong-pa55\n" });
  const api = `http://127.0.0.1:${port}/api/`;
  await eventually("both registered servers up", async () => {
    const peers = await peersOf(port, "con_server");
    return peers.length === 2 && peers.every((x) => x.state === "up");
  });
  return {
    c,
    a,
    b,
    s1,
    s2,
    port,
    cwd,
    conf: ["-c", join(p.dir, "syncgate.conf"), "--auth-file", "auth"],
    api,
  };
}

/** The API's peers of an upstream. */
async function peersOf(
  port: number,
  upstream: string,
): Promise<{ server: string; state: string; active: number }[]> {
  const r = await send(port, "/api/9/http/upstreams", { headers: { Authorization: AUTH } });
  if (r.status !== 200) return [];
  const doc = JSON.parse(r.body) as Record<
    string,
    { peers: { server: string; state: string; active: number }[] }
  >;
  return doc[upstream]?.peers ?? [];
}

test(
  "list with a running syncgate: live state and active connections next to the registry's values",
  { timeout: 60_000 },
  async (t) => {
    const L = await live(t);
    const out = ok(await ctl(L.cwd, ...L.conf, "list", "con_server"));
    const lines = out.split("\n");
    assert.match(
      lines[0]!,
      /^upstream con_server: consul 127\.0\.0\.1:\d+\/v1\/kv\/upstreams\/con_server\/$/,
    );
    assert.match(lines[1]!, /^SERVER +WEIGHT +MAX_FAILS +FAIL_TIMEOUT +BACKUP +DOWN +STATE +ACTIVE$/);
    const rows = lines.slice(2, -1).map((l) => l.split(/ +/));
    assert.deepEqual(
      rows.sort((x, y) => x[0]!.localeCompare(y[0]!)),
      [L.a.addr, L.b.addr].sort().map((s) => [s, "1", "2", "10s", "no", "no", "up", "0"]),
    );
    const json = JSON.parse(ok(await ctl(L.cwd, ...L.conf, "--json", "list", "static"))) as Record<
      string,
      unknown
    >;
    assert.deepEqual(json, {
      upstreams: [
        {
          upstream: "static",
          source: `api ${L.api}`,
          read_only: null,
          servers: [L.s1.addr, L.s2.addr].map((s) => ({
            server: s,
            weight: 1,
            max_fails: 1,
            fail_timeout: 10,
            backup: false,
            down: false,
            listed: true,
            state: "up",
            active: 0,
          })),
        },
      ],
      live: L.api,
      live_error: null,
    });
    // The API down: the list still comes from the registry, and says why there is no live state.
    const r = await ctl(L.cwd, ...L.conf, "--api", "http://127.0.0.1:1/api/", "list", "con_server");
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^SERVER +WEIGHT +MAX_FAILS +FAIL_TIMEOUT +BACKUP +DOWN$/m);
    assert.match(
      r.stdout,
      /\(no live state: API http:\/\/127\.0\.0\.1:1\/api\/ unreachable \(111: Connection refused\)\)\n$/,
    );
  },
);

test("status: the running syncgate's health table", { timeout: 60_000 }, async (t) => {
  const L = await live(t);
  await eventually("checks passed", async () => {
    const r = await ctl(L.cwd, ...L.conf, "status", "con_server");
    return r.status === 0 && (r.stdout.match(/ passed$/gm) ?? []).length === 2;
  });
  const out = ok(await ctl(L.cwd, ...L.conf, "status"));
  const lines = out.trimEnd().split("\n");
  assert.match(
    lines[0]!,
    /^UPSTREAM +ID +SERVER +STATE +ACTIVE +REQUESTS +FAILS +CHECKS +CHECK_FAILS +LAST_CHECK$/,
  );
  const rows = lines.slice(1).map((l) => l.split(/ +/));
  // Declaration order; a synced upstream's servers in registry (key) order.
  assert.deepEqual(
    rows.map((r) => [r[0], r[2], r[3], r[4]]),
    [
      ...[L.a.addr, L.b.addr].sort().map((s) => ["con_server", s, "up", "0"]),
      ["static", L.s1.addr, "up", "0"],
      ["static", L.s2.addr, "up", "0"],
    ],
  );
  assert.deepEqual(
    rows.slice(0, 2).map((r) => r[9]),
    ["passed", "passed"],
  );
  assert.deepEqual(
    rows.slice(2).map((r) => r.slice(7)),
    [
      ["-", "-", "-"],
      ["-", "-", "-"],
    ],
  );
  const json = JSON.parse(ok(await ctl(L.cwd, ...L.conf, "status", "static", "--json"))) as {
    servers: { upstream: string; server: string; state: string; active: number }[];
  };
  assert.deepEqual(
    json.servers.map((s) => [s.upstream, s.server, s.state, s.active]),
    [
      ["static", L.s1.addr, "up", 0],
      ["static", L.s2.addr, "up", 0],
    ],
  );
  failed(await ctl(L.cwd, ...L.conf, "status", "nope"), 3, 'unknown upstream "nope"');
});

test(
  "drain under load: no new requests, waits for the active ones, no failed request, then leaves the registry",
  { timeout: 60_000 },
  async (t) => {
    const L = await live(t);
    const { a, b } = L;
    // Four requests in flight, two on each server (round robin).
    const inFlight = [0, 1, 2, 3].map((i) => send(L.port, `/hold/${i}`));
    await eventually("four held", () => a.held.length + b.held.length === 4);
    assert.equal(a.held.length, 2);

    const drain = ctl(L.cwd, ...L.conf, "drain", "con_server", a.addr, "--timeout", "20");
    await eventually(
      "a draining",
      async () =>
        (await peersOf(L.port, "con_server")).find((p) => p.server === a.addr)?.state === "draining",
      10_000,
    );
    // New requests go to b only, while a's two finish.
    const seenByA = a.seen.length;
    for (let i = 0; i < 6; i++) assert.equal((await send(L.port, `/new/${i}`)).body, "b");
    assert.equal(a.seen.length, seenByA);
    assert.ok(L.c.get(`${KEY}${a.addr}`), "still in the registry while it drains");
    for (const r of a.held.splice(0)) r.end("a");

    const r = await drain;
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines[0], `draining ${a.addr} of upstream "con_server": no new requests (timeout 20.0 s)`);
    assert.ok(
      lines.includes("  2 active connections after 0.0 s") ||
        lines.some((l) => /^ {2}2 active connections after \d+\.\d s$/.test(l)),
      r.stdout,
    );
    assert.match(r.stdout, /^ {2}drained after \d+\.\d s$/m);
    assert.match(
      r.stdout,
      new RegExp(`^removed ${a.addr} from consul 127\\.0\\.0\\.1:\\d+/v1/kv/upstreams/con_server/$`, "m"),
    );
    assert.equal(lines.at(-1), `drained and removed ${a.addr} from upstream "con_server"`);
    assert.equal(L.c.get(`${KEY}${a.addr}`), undefined);
    await eventually(
      "a gone from the running syncgate",
      async () => (await peersOf(L.port, "con_server")).length === 1,
    );

    for (const res of b.held.splice(0)) res.end("b");
    const answers = await Promise.all(inFlight);
    assert.deepEqual(
      answers.map((x) => x.status),
      [200, 200, 200, 200],
      "no failed request",
    );

    // ctl add brings it back (the walkthrough's next step).
    ok(await ctl(L.cwd, ...L.conf, "add", "con_server", a.addr));
    await eventually(
      "a serves again",
      async () => (await send(L.port, "/x")).body === "a" || (await send(L.port, "/y")).body === "a",
    );
  },
);

test(
  "drain --timeout: a request that outlasts it does not stop the removal; --json reports it",
  { timeout: 60_000 },
  async (t) => {
    const L = await live(t);
    const inFlight = [0, 1].map((i) => send(L.port, `/hold/${i}`));
    await eventually("two held", () => L.a.held.length === 1 && L.b.held.length === 1);
    const r = await ctl(L.cwd, ...L.conf, "--json", "drain", "con_server", L.a.addr, "--timeout", "600ms");
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(doc.drained, false);
    assert.equal(doc.active, 1);
    assert.ok((doc.waited_ms as number) >= 600);
    assert.match(doc.source as string, /^consul /);
    assert.equal(L.c.get(`${KEY}${L.a.addr}`), undefined);
    for (const res of [...L.a.held.splice(0), ...L.b.held.splice(0)]) res.end("x");
    assert.deepEqual(
      (await Promise.all(inFlight)).map((x) => x.status),
      [200, 200],
    );
  },
);

test(
  "an upstream with no registry: add, weight, down, up, remove and drain through the API",
  { timeout: 60_000 },
  async (t) => {
    const L = await live(t);
    const s3 = await startBackend(t, "s3");
    const where = `api ${L.api}`;
    assert.equal(
      ok(await ctl(L.cwd, ...L.conf, "add", "static", s3.addr, "--weight", "2", "--fail-timeout", "30s")),
      `added ${s3.addr} to upstream "static" (${where}): weight=2 max_fails=2 fail_timeout=30 backup=0 down=0\n`,
    );
    assert.equal(
      ok(await ctl(L.cwd, ...L.conf, "weight", "static", s3.addr, "3")),
      `updated ${s3.addr} in upstream "static" (${where}): weight=3 max_fails=2 fail_timeout=30 backup=0 down=0\n`,
    );
    ok(await ctl(L.cwd, ...L.conf, "down", "static", L.s1.addr));
    let peers = await peersOf(L.port, "static");
    assert.deepEqual(
      peers.map((p) => [p.server, p.state]),
      [
        [L.s1.addr, "down"],
        [L.s2.addr, "up"],
        [s3.addr, "up"],
      ],
    );
    ok(await ctl(L.cwd, ...L.conf, "up", "static", L.s1.addr));
    assert.match(ok(await ctl(L.cwd, ...L.conf, "remove", "static", L.s2.addr)), /^removed /);
    const d = await ctl(L.cwd, ...L.conf, "drain", "static", s3.addr, "--timeout", "5");
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, new RegExp(`^removed ${s3.addr} from ${where.replace(/[/.]/g, "\\$&")}$`, "m"));
    peers = await peersOf(L.port, "static");
    assert.deepEqual(
      peers.map((p) => p.server),
      [L.s1.addr],
    );
    // The last one: ctl refuses first; with --force the API itself still refuses to empty the upstream.
    failed(
      await ctl(L.cwd, ...L.conf, "remove", "static", L.s1.addr),
      4,
      /^syncgate ctl: refusing to remove .*the last server of upstream "static"/,
    );
    failed(
      await ctl(L.cwd, ...L.conf, "remove", "static", L.s1.addr, "--force"),
      4,
      /last primary server of upstream "static"/,
    );
  },
);

test(
  "API failures and credentials: one line, exit status; secrets from files or the environment, never shown",
  { timeout: 60_000 },
  async (t) => {
    const L = await live(t);
    const conf = L.conf.slice(0, 2);
    const down = "http://127.0.0.1:1/api/";
    const unreachable = `API ${down} unreachable (111: Connection refused)`;
    failed(await ctl(L.cwd, ...conf, "--api", down, "status"), 1, unreachable);
    failed(await ctl(L.cwd, ...conf, "--api", down, "drain", "con_server", L.a.addr), 1, unreachable);
    failed(await ctl(L.cwd, ...conf, "--api", down, "add", "static", "10.0.0.1:80"), 1, unreachable);

    failed(
      await ctl(L.cwd, ...conf, "status"),
      1,
      `API ${L.api} needs valid credentials (401): give --auth-file FILE or SYNCGATE_API_AUTH`,
    );
    const bad = await ctl(L.cwd, ...conf, "--auth-file", "bad", "status");
    failed(bad, 1, `API ${L.api} needs valid credentials (401): check the --auth-file`);
    assert.doesNotMatch(bad.stderr, /wrong-pa55/);
    failed(
      await ctl(L.cwd, ...conf, "--auth-file", "missing", "status"),
      1,
      '--auth-file: open() "missing" failed (2: No such file or directory)',
    );
    failed(
      await ctl(L.cwd, ...conf, "--api", `http://root:123456@127.0.0.1:${L.port}/api/`, "status"),
      2,
      "--api must not carry credentials (visible in ps): use --auth-file FILE or SYNCGATE_API_AUTH",
    );
    // $SYNCGATE_API_AUTH instead of a file (the child inherits this process's environment at spawn).
    process.env.SYNCGATE_API_AUTH = "root:123456";
    const viaEnv = ctl(L.cwd, ...conf, "status", "static");
    delete process.env.SYNCGATE_API_AUTH;
    assert.match(ok(await viaEnv), /^UPSTREAM +ID/);

    // A read-only API (api without write=on) refuses writes.
    failed(
      await ctl(L.cwd, ...conf, "--api", `http://127.0.0.1:${L.port}/ro/`, "add", "static", "10.0.0.1:80"),
      4,
      `API http://127.0.0.1:${L.port}/ro/ does not allow writes (405: "api write=on" is needed)`,
    );
    // drain of a server the registry does not list, of the last one, of an unknown upstream.
    failed(
      await ctl(L.cwd, ...L.conf, "drain", "con_server", "10.9.9.9:80"),
      3,
      /^syncgate ctl: server 10\.9\.9\.9:80 is not in upstream "con_server"/,
    );
    failed(
      await ctl(L.cwd, ...L.conf, "drain", "con_servr", L.a.addr),
      3,
      'unknown upstream "con_servr" (did you mean "con_server"?)',
    );
    L.c.delete(`${KEY}${L.b.addr}`);
    failed(
      await ctl(L.cwd, ...L.conf, "drain", "con_server", L.a.addr),
      4,
      /^syncgate ctl: refusing to remove .*, the last server of upstream "con_server"/,
    );
  },
);

test(
  "--api URL alone, no configuration: every upstream through the API, which writes to the registry",
  { timeout: 60_000 },
  async (t) => {
    const L = await live(t);
    const cwd = tempDir(t, { auth: "root:123456\n" });
    const api = ["--api", `127.0.0.1:${L.port}/api/`, "--auth-file", "auth"];
    const c3 = "127.0.0.1:9";
    assert.equal(
      ok(await ctl(cwd, ...api, "add", "con_server", c3, "--down")),
      `added ${c3} to upstream "con_server" (api ${L.api}): weight=1 max_fails=2 fail_timeout=10 backup=0 down=1\n`,
    );
    // The API put it in the registry, where every syncgate following it sees it.
    assert.equal(
      L.c.get(`${KEY}${c3}`)?.value?.toString(),
      '{"weight":1,"max_fails":2,"fail_timeout":10,"down":1,"backup":0}',
    );
    const json = JSON.parse(ok(await ctl(cwd, ...api, "--json", "list"))) as {
      upstreams: { upstream: string; servers: unknown[] }[];
    };
    assert.deepEqual(
      json.upstreams.map((u) => [u.upstream, u.servers.length]),
      [
        ["con_server", 3],
        ["static", 2],
      ],
    );
    ok(await ctl(cwd, ...api, "remove", "con_server", c3));
    assert.equal(L.c.get(`${KEY}${c3}`), undefined);
    failed(await ctl(cwd, ...api, "list", "nope"), 3, 'upstream not found: "nope"');
  },
);
