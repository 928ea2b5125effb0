/**
 * Issue 6 item 4: the seed walkthrough (../shared/examples/seed-walkthrough.md) end to end, with the commands an
 * operator runs. The seed configuration (test/fixtures/seed-nginx.conf) with paths, addresses and ports rewritten,
 * plus an admin API server for `ctl drain`/`ctl status`; the real `bin/syncgate` process and the real
 * `bin/syncgate ctl` command; two real backends; the registry being the Consul double, then a real etcd (v3:
 * `upsync_type=etcd3`; the v2 keys API is covered by test/cli/ctl-etcd.test.ts and the discovery tests).
 * Steps: `ctl add` both → traffic alternates; `ctl drain` one under load → no failed request, then it leaves the
 * registry and gets nothing more; `ctl add` it back; `ctl remove` the other → only one answers; the status page
 * behind basic auth shows the check table; the registry stopped → traffic still flows (and `ctl list` says why it
 * cannot read it); syncgate restarted while the registry is down → it serves from the dump.
 */
import { KeepAliveClient } from "../support/keepalive.js";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { type Backend, startBackend } from "../support/backend.js";
import { type Reply, send } from "../support/client.js";
import { startConsulDouble } from "../support/consul-double.js";
import { ok, runCtl } from "../support/ctl.js";
import { type Daemon, startSyncgate, waitListening } from "../support/daemon.js";
import { startEtcd } from "../support/etcd.js";
import { errorLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import type { ProcessResult } from "../support/process.js";
import { seedConfig, seedHtpasswd, seedText } from "../support/seed.js";
import { tempDir } from "../support/tmp.js";
import { eventually } from "../support/wait.js";

const SEED_UPSYNC =
  "upsync 10.10.78.17:8500/v1/kv/upstreams/con_server/ upsync_timeout=6m upsync_interval=500ms upsync_type=consul strong_dependency=off;";
/** The walkthrough's `curl -X PUT -d '{"weight":1, "max_fails":2, "fail_timeout":3}'`, as ctl flags. */
const VALUE_FLAGS = ["--weight", "1", "--max-fails", "2", "--fail-timeout", "3"];
const ROOT = `Basic ${Buffer.from("root:123456").toString("base64")}`;

/** The registry a run uses: how the seed's upsync line becomes its, what it holds, and stopping it. */
interface Registry {
  kind: string;
  /** The seed's `upsync` line pointed at this registry. */
  upsync: string;
  /** The servers of con_server in the registry: address → decoded value JSON. */
  values(): Promise<Map<string, Record<string, unknown>>>;
  /** What `ctl list` names as the source (a regexp source). */
  source: string;
  stop(): Promise<void>;
}

async function consulRegistry(t: TestContext): Promise<Registry> {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  return {
    kind: "consul",
    upsync: SEED_UPSYNC.replace("10.10.78.17:8500", c.address),
    source: `consul 127\\.0\\.0\\.1:${c.port}/v1/kv/upstreams/con_server/`,
    // The walkthrough's step 4: `curl -s REGISTRY/v1/kv/upstreams/con_server/?recurse`, Value in base64.
    async values() {
      const res = await fetch(`http://${c.address}/v1/kv/upstreams/con_server/?recurse`);
      const out = new Map<string, Record<string, unknown>>();
      if (res.status === 404) return out;
      assert.equal(res.status, 200);
      for (const kv of (await res.json()) as { Key: string; Value: string | null }[]) {
        const value = Buffer.from(kv.Value ?? "", "base64").toString("utf8");
        out.set(kv.Key.slice("upstreams/con_server/".length), JSON.parse(value) as Record<string, unknown>);
      }
      return out;
    },
    stop: () => c.stop(),
  };
}

async function etcdRegistry(t: TestContext): Promise<Registry> {
  const etcd = await startEtcd({ v2: true });
  t.after(() => etcd.close());
  const at = `127.0.0.1:${etcd.clientPort}`;
  return {
    kind: "etcd3",
    upsync: SEED_UPSYNC.replace(
      "10.10.78.17:8500/v1/kv/upstreams/con_server/",
      `${at}/upstreams/con_server/`,
    ).replace("upsync_type=consul", "upsync_type=etcd3"),
    source: `etcd3 127\\.0\\.0\\.1:${etcd.clientPort}/upstreams/con_server/`,
    async values() {
      const out = new Map<string, Record<string, unknown>>();
      for (const kv of (await etcd.get3("/upstreams/con_server/")).kvs) {
        out.set(
          kv.key.slice("/upstreams/con_server/".length),
          JSON.parse(kv.value) as Record<string, unknown>,
        );
      }
      return out;
    },
    stop: () => etcd.stop(),
  };
}

/**
 * The seed configuration for loopback (test/support/seed.ts), with the registry's upsync line, plus a third server
 * holding the admin API behind allow/deny and auth_basic (the apr1 htpasswd file, copied to `dir`).
 */
function walkthroughConfig(dir: string, upsync: string, port: number, apiPort: number): string {
  const htpasswd = seedHtpasswd(dir, "apr1");
  assert.ok(seedText().includes(SEED_UPSYNC), "the seed's upsync line as the test expects it");
  let conf = seedConfig(dir, { registry: [SEED_UPSYNC, upsync], port, htpasswd });
  // The http block's closing brace is the file's last one: the API server goes right before it.
  const end = conf.lastIndexOf("}");
  conf =
    conf.slice(0, end) +
    `server {
    listen 127.0.0.1:${apiPort};
    server_name api.local;
    location /api/ {
        allow 127.0.0.1;
        deny all;
        auth_basic "api";
        auth_basic_user_file ${htpasswd};
        api write=on;
    }
}
` +
    conf.slice(end);
  return conf;
}

/** `syncgate ctl -c syncgate.conf --auth-file auth ARGS` in `dir`, bounded at 15 s. */
const ctl = (dir: string, ...args: string[]): Promise<ProcessResult> =>
  runCtl(dir, ["-c", "syncgate.conf", "--auth-file", "auth", ...args]);

const www = (port: number, agent?: Agent): Promise<Reply> =>
  send(port, "/", { headers: { Host: "www.linux08.com" }, ...(agent ? { agent } : {}) });
const statusPage = (port: number, authorization?: string): Promise<Reply> =>
  send(port, "/", {
    headers: { Host: "status.linux08.com", ...(authorization ? { Authorization: authorization } : {}) },
  });

/**
 * A walkthrough backend: answers "NAME GET /" to requests after 20 ms (so a drain meets requests in flight), and
 * the checks' HEAD probes at once.
 */
function slowBackend(t: TestContext, name: string): Promise<Backend> {
  return startBackend(t, name, (req, res) => {
    const answer = (): void => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(`${name} ${req.method} ${req.url}`);
    };
    if (req.method === "HEAD") answer();
    else setTimeout(answer, 20);
  });
}

/** Errors the proxy logged for client requests (upstream failures it may have hidden by retrying). */
const requestErrors = (dir: string): string[] =>
  errorLines(join(dir, "error.log")).filter((l) => l.includes(", client: "));

/** Which backend answered (each answers "NAME METHOD URL"). */
const who = (r: Reply): string => `${r.status} ${r.body.split(" ")[0]}`;

/** `n` requests one after another: who answered each. */
async function answers(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(who(await www(port)));
  return out;
}

/** GET requests a backend has had (the checks' HEAD probes left out). */
const gets = (b: Backend): number => b.seen.filter((s) => s.method === "GET").length;

/** The running syncgate's peers of con_server, from its API. */
async function livePeers(apiPort: number): Promise<{ server: string; state: string }[]> {
  const r = await send(apiPort, "/api/9/http/upstreams/con_server/servers", {
    headers: { Authorization: ROOT },
  });
  assert.equal(r.status, 200, r.body);
  const doc = JSON.parse(r.body) as { server: string }[];
  const up = await send(apiPort, "/api/9/http/upstreams", { headers: { Authorization: ROOT } });
  const peers = (JSON.parse(up.body) as Record<string, { peers: { server: string; state: string }[] }>)
    .con_server!.peers;
  assert.deepEqual(doc.map((s) => s.server).sort(), peers.map((p) => p.server).sort());
  return peers;
}

/**
 * A bounded load: `clients` keep-alive clients, each sending requests one after another (never retried) until
 * stop() is called. Every answer's backend is counted; anything but a 200 is a failure.
 */
function load(port: number, clients: number) {
  let running = true;
  const by = new Map<string, number>();
  const failures: string[] = [];
  const agents = Array.from({ length: clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const loops = agents.map(async (agent) => {
    while (running) {
      try {
        const r = await www(port, agent);
        if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 80)}`);
        else {
          const name = r.body.split(" ")[0]!;
          by.set(name, (by.get(name) ?? 0) + 1);
        }
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  return {
    by,
    failures,
    total: (): number => [...by.values()].reduce((a, b) => a + b, 0) + failures.length,
    async stop(): Promise<void> {
      running = false;
      await Promise.all(loops);
      for (const a of agents) a.destroy();
    },
  };
}

/**
 * Both answer, and a run of requests alternates between them (round robin, equal weights). The seed runs
 * `worker_processes auto`: as in nginx without a shared `zone`, each worker keeps its own round robin, so the run
 * goes over one keep-alive connection (one worker).
 */
async function assertAlternates(port: number): Promise<void> {
  await eventually(
    "both a and b answer",
    async () => {
      const seen = new Set(await answers(port, 4));
      return seen.has("200 a") && seen.has("200 b");
    },
    10_000,
  );
  const client = new KeepAliveClient(port);
  const run: string[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await client.get(`/r${i}`);
    run.push(`${r.status} ${r.body.split(" ")[0]}`);
  }
  client.close();
  for (let i = 1; i < run.length; i++) assert.notEqual(run[i], run[i - 1], `alternates: ${run.join(", ")}`);
}

for (const make of [consulRegistry, etcdRegistry]) {
  test(
    `seed walkthrough end to end, registry: ${make === consulRegistry ? "Consul double" : "etcd v3"}`,
    { timeout: 25_000 },
    async (t) => {
      const reg = await make(t);
      const a = await slowBackend(t, "a");
      const b = await slowBackend(t, "b");
      const port = await freePort();
      const apiPort = await freePort();
      const dir = tempDir(t, { auth: "root:123456\n" });
      writeFileSync(join(dir, "syncgate.conf"), walkthroughConfig(dir, reg.upsync, port, apiPort));
      let d: Daemon = startSyncgate(t, ["-c", "syncgate.conf"], dir);
      await waitListening(port).catch((err: Error) => assert.fail(`${err.message}: ${d.stderr()}`));
      await waitListening(apiPort);

      // 1. Hosts online: `ctl add` for each (the walkthrough's curl -X PUT), the registry holds the walkthrough's
      //    values, and requests to www.linux08.com alternate between the two.
      for (const x of [a, b]) {
        const out = ok(await ctl(dir, "add", "con_server", x.addr, ...VALUE_FLAGS));
        assert.match(
          out,
          new RegExp(
            `^added ${x.addr} to upstream "con_server" \\(${reg.source}\\): ` +
              "weight=1 max_fails=2 fail_timeout=3 backup=0 down=0\n$",
          ),
        );
      }
      let values = await reg.values();
      assert.deepEqual([...values.keys()].sort(), [a.addr, b.addr].sort());
      for (const v of values.values()) {
        const { weight, max_fails, fail_timeout } = v;
        assert.deepEqual({ weight, max_fails, fail_timeout }, { weight: 1, max_fails: 2, fail_timeout: 3 });
      }
      await assertAlternates(port);
      assert.ok(
        a.seen.some((s) => s.method === "HEAD" && s.url === "/"),
        "the checks are the walkthrough's HEAD / probes",
      );

      // 2. `ctl drain` a while four keep-alive clients keep sending: no request fails, a gets nothing once the
      //    drain has ended, and it leaves the registry and the running syncgate.
      const errorsBefore = requestErrors(dir).length;
      const l = load(port, 4);
      await eventually(
        "the load reaches both",
        () => (l.by.get("a") ?? 0) >= 10 && (l.by.get("b") ?? 0) >= 10,
      );
      const drain = await ctl(dir, "drain", "con_server", a.addr, "--timeout", "10");
      const aAfterDrain = gets(a);
      assert.equal(drain.stderr, "");
      assert.equal(drain.status, 0, drain.stdout);
      const lines = drain.stdout.trimEnd().split("\n");
      assert.equal(lines[0], `draining ${a.addr} of upstream "con_server": no new requests (timeout 10.0 s)`);
      assert.match(drain.stdout, /^ {2}drained after \d+\.\d s$/m);
      assert.match(drain.stdout, new RegExp(`^removed ${a.addr} from ${reg.source}$`, "m"));
      assert.equal(lines.at(-1), `drained and removed ${a.addr} from upstream "con_server"`);
      values = await reg.values();
      assert.deepEqual([...values.keys()], [b.addr], "a left the registry");
      await eventually("a gone from the running syncgate", async () => {
        const peers = await livePeers(apiPort);
        return peers.length === 1 && peers[0]!.server === b.addr;
      });
      // The load goes on a little over the new server list.
      const total = l.total();
      await eventually("more load after a left", () => l.total() >= total + 40);
      await l.stop();
      assert.deepEqual(l.failures, [], "no failed request");
      assert.ok(l.total() >= 100, `a real load: ${l.total()} requests`);
      t.diagnostic(
        `drain under load: ${JSON.stringify(Object.fromEntries(l.by))}; ctl said: ${drain.stdout}`,
      );
      assert.equal(gets(a), aAfterDrain, "no request reached a after the drain");
      assert.deepEqual(
        requestErrors(dir).slice(errorsBefore),
        [],
        "no upstream error (the proxy did not hide failures behind proxy_next_upstream)",
      );
      assert.deepEqual(await answers(port, 4), ["200 b", "200 b", "200 b", "200 b"]);

      // 3. `ctl add` a back: both serve again, alternating.
      ok(await ctl(dir, "add", "con_server", a.addr, ...VALUE_FLAGS));
      assert.deepEqual([...(await reg.values()).keys()].sort(), [a.addr, b.addr].sort());
      await assertAlternates(port);

      // 4. `ctl remove` b (the walkthrough's curl -X DELETE): only a answers.
      assert.match(ok(await ctl(dir, "remove", "con_server", b.addr)), new RegExp(`^removed ${b.addr} `));
      assert.deepEqual([...(await reg.values()).keys()], [a.addr]);
      await eventually(
        "b gone from the running syncgate",
        async () => (await livePeers(apiPort)).length === 1,
      );
      assert.deepEqual(await answers(port, 6), Array<string>(6).fill("200 a"));

      // 5. The status page: basic auth (root / 123456, apr1), then the check module's table with a up.
      const denied = await statusPage(port);
      assert.equal(denied.status, 401);
      assert.equal(denied.headers["www-authenticate"], 'Basic realm="login"');
      assert.equal(
        (await statusPage(port, `Basic ${Buffer.from("root:wrong").toString("base64")}`)).status,
        401,
      );
      const page = await statusPage(port, ROOT);
      assert.equal(page.status, 200);
      assert.equal(page.headers["content-type"], "text/html");
      assert.match(page.body, /<h2>Check upstream server number: 1, generation: \d+<\/h2>/);
      for (const th of [
        "Index",
        "Upstream",
        "Name",
        "Status",
        "Rise counts",
        "Fall counts",
        "Check type",
        "Check port",
      ]) {
        assert.ok(page.body.includes(`<th>${th}</th>`), th);
      }
      assert.match(
        page.body,
        new RegExp(
          `<td>con_server</td>\\n {4}<td>${a.addr}</td>\\n {4}<td>up</td>\\n {4}<td>\\d+</td>\\n {4}<td>\\d+</td>\\n {4}<td>http</td>`,
        ),
      );
      assert.ok(!page.body.includes(b.addr), "b is not in the table");

      // 6. The registry stops: traffic still flows, over more than a sync interval; ctl cannot read the registry
      //    and says so in one line.
      const dump = join(dir, "servers", "con_server.conf");
      assert.match(readFileSync(dump, "utf8"), new RegExp(`^server ${a.addr}`, "m"));
      assert.doesNotMatch(readFileSync(dump, "utf8"), new RegExp(b.addr));
      await reg.stop();
      const until = Date.now() + 1500;
      while (Date.now() < until) assert.deepEqual(await answers(port, 2), ["200 a", "200 a"]);
      const list = await ctl(dir, "list", "con_server");
      assert.equal(list.stdout, "");
      assert.notEqual(list.status, 0);
      assert.equal(list.stderr.split("\n").length, 2, `one line: ${list.stderr}`);
      assert.match(list.stderr, new RegExp(`^syncgate ctl: ${reg.source}: .*\n$`));
      assert.equal(list.status, 1, list.stderr);

      // 7. syncgate restarted while the registry is down: it serves a from the dump.
      d.child.kill("SIGTERM");
      assert.equal((await d.exited).status, 0, d.stderr());
      const logged = errorLines(join(dir, "error.log")).length;
      d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
      await waitListening(port).catch((err: Error) => assert.fail(`${err.message}: ${d.stderr()}`));
      await waitListening(apiPort);
      await eventually("a answers after the restart", async () => who(await www(port)) === "200 a", 5000);
      assert.deepEqual(await answers(port, 6), Array<string>(6).fill("200 a"));
      // The upstream is the dump's (not the seed's placeholder 127.0.0.1:11111), and the registry is still down.
      assert.deepEqual(
        (await livePeers(apiPort)).map((p) => p.server),
        [a.addr],
      );
      const refused =
        /upsync: upstream "con_server": cannot connect to upsync_server .*; its server keeps serving/;
      await eventually("the restarted syncgate logs that the registry is down", () =>
        errorLines(join(dir, "error.log"))
          .slice(logged)
          .some((l) => refused.test(l)),
      );
      d.child.kill("SIGTERM");
      assert.equal((await d.exited).status, 0, d.stderr());
    },
  );
}
