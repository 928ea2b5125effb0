/**
 * `syncgate ctl` as operators run it (issue 6 item 1): the real `bin/syncgate ctl ...` process, reading the
 * configuration to learn where each upstream lives, against the Consul double (KV and catalog), a watched file and
 * a configuration-only upstream; every failure with its exit status and its one line on stderr. etcd is in
 * ctl-etcd.test.ts, the running syncgate (live columns, status, drain) in ctl-live.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { type ConsulDouble, startConsulDouble } from "../support/consul-double.js";
import { ctl, failed, ok } from "../support/ctl.js";
import { tempDir } from "../support/tmp.js";

const KEY = "upstreams/con_server/";
const A = "10.10.16.182:80";
const B = "10.10.16.183:80";

interface Setup {
  c: ConsulDouble;
  dir: string;
  /** The registry value stored for a server of con_server. */
  value: (addr: string) => string | undefined;
}

/** The Consul double and conf/syncgate.conf naming four upstreams: KV, catalog, watched file, config-only. */
async function setup(t: TestContext, consulOpts: { token?: string } = {}): Promise<Setup> {
  const c = await startConsulDouble(consulOpts);
  t.after(() => c.stop());
  const dir = tempDir(t, { "conf/servers/filed.conf": "# the file source\nserver 127.0.0.1:8081;\n" });
  writeFileSync(
    join(dir, "conf/syncgate.conf"),
    `events {}
http {
  upstream con_server {
    upsync ${c.address}/v1/kv/${KEY} upsync_timeout=6m upsync_interval=500ms upsync_type=consul strong_dependency=off;
    upsync_dump_path ${dir}/dump/con_server.conf;
  }
  upstream catalog {
    upsync ${c.address}/v1/health/service/web upsync_type=consul_health;
    upsync_dump_path ${dir}/dump/catalog.conf;
  }
  upstream filed {
    upsync servers/filed.conf upsync_type=file;
    upsync_dump_path ${dir}/dump/filed.conf;
  }
  upstream static {
    server 127.0.0.1:9 weight=3 max_fails=1 fail_timeout=5s;
    server 127.0.0.1:10 backup;
  }
}
`,
  );
  const value = (addr: string): string | undefined => c.get(`${KEY}${addr}`)?.value?.toString("utf8");
  return { c, dir, value };
}

test("add, list, weight, down, up, remove against Consul KV: the seed's values, tables and JSON", async (t) => {
  const { dir, value } = await setup(t);
  const where = /consul 127\.0\.0\.1:\d+\/v1\/kv\/upstreams\/con_server\//.source;

  let out = ok(
    await ctl(dir, "add", "con_server", A, "--weight", "1", "--max-fails", "2", "--fail-timeout", "3"),
  );
  assert.match(
    out,
    new RegExp(
      `^added ${A} to upstream "con_server" \\(${where}\\): weight=1 max_fails=2 fail_timeout=3 backup=0 down=0\n$`,
    ),
  );
  assert.equal(value(A), '{"weight":1,"max_fails":2,"fail_timeout":3,"down":0,"backup":0}');
  ok(await ctl(dir, "add", "con_server", B, "--fail-timeout", "1m", "--backup"));
  assert.equal(value(B), '{"weight":1,"max_fails":2,"fail_timeout":60,"down":0,"backup":1}');

  out = ok(await ctl(dir, "list", "con_server"));
  const src = /^upstream con_server: (consul 127\.0\.0\.1:\d+\/v1\/kv\/upstreams\/con_server\/)\n/.exec(out);
  assert.ok(src, out);
  assert.equal(
    out,
    `upstream con_server: ${src[1]}\n` +
      "SERVER           WEIGHT  MAX_FAILS  FAIL_TIMEOUT  BACKUP  DOWN\n" +
      `${A}  1       2          3s            no      no\n` +
      `${B}  1       2          60s           yes     no\n`,
  );
  const json = JSON.parse(ok(await ctl(dir, "list", "con_server", "--json"))) as unknown;
  assert.deepEqual(json, {
    upstreams: [
      {
        upstream: "con_server",
        source: src[1],
        read_only: null,
        servers: [
          {
            server: A,
            weight: 1,
            max_fails: 2,
            fail_timeout: 3,
            backup: false,
            down: false,
            listed: true,
            state: null,
            active: null,
          },
          {
            server: B,
            weight: 1,
            max_fails: 2,
            fail_timeout: 60,
            backup: true,
            down: false,
            listed: true,
            state: null,
            active: null,
          },
        ],
      },
    ],
    live: null,
    live_error: null,
  });

  // Read-modify-write: the other fields stay, the whole value is written.
  out = ok(await ctl(dir, "weight", "con_server", A, "5"));
  assert.match(
    out,
    new RegExp(
      `^updated ${A} in upstream "con_server" \\(${where}\\): weight=5 max_fails=2 fail_timeout=3 backup=0 down=0\n$`,
    ),
  );
  assert.equal(value(A), '{"weight":5,"max_fails":2,"fail_timeout":3,"down":0,"backup":0}');
  ok(await ctl(dir, "down", "con_server", A));
  assert.equal(value(A), '{"weight":5,"max_fails":2,"fail_timeout":3,"down":1,"backup":0}');
  const up = JSON.parse(ok(await ctl(dir, "--json", "up", "con_server", A))) as Record<string, unknown>;
  assert.deepEqual(up.value, { weight: 5, max_fails: 2, fail_timeout: 3, down: 0, backup: 0 });
  assert.equal(up.action, "updated");
  assert.equal(value(A), '{"weight":5,"max_fails":2,"fail_timeout":3,"down":0,"backup":0}');

  // add of a listed server replaces its whole value (as the walkthrough's curl PUT).
  out = ok(await ctl(dir, "add", "con_server", A));
  assert.match(out, /^updated /);
  assert.equal(value(A), '{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}');

  out = ok(await ctl(dir, "remove", "con_server", B));
  assert.match(out, new RegExp(`^removed ${B} from upstream "con_server" \\(${where}\\)\n$`));
  assert.equal(value(B), undefined);
  // Repeating it is not an error (as Consul's DELETE).
  out = ok(await ctl(dir, "remove", "con_server", B));
  assert.match(out, new RegExp(`^${B} is not in upstream "con_server" \\(${where}\\): nothing to remove\n$`));
});

test("remove refuses the last server without --force; with it, removes and warns that syncgates keep it", async (t) => {
  const { c, dir, value } = await setup(t);
  c.put(`${KEY}${A}`, '{"weight":1}');
  failed(
    await ctl(dir, "remove", "con_server", A),
    4,
    `refusing to remove ${A}, the last server of upstream "con_server" (--force removes it anyway; running syncgates keep serving it)`,
  );
  assert.equal(value(A), '{"weight":1}');
  const r = await ctl(dir, "remove", "con_server", A, "--force");
  assert.equal(r.status, 0);
  assert.match(r.stdout, new RegExp(`^removed ${A} from upstream "con_server"`));
  assert.equal(
    r.stderr,
    `syncgate ctl: warning: upstream "con_server" has no servers left in its source; running syncgates keep ` +
      `serving ${A}, since they never empty an upstream\n`,
  );
  assert.equal(c.get(`${KEY}${A}`), undefined);
  assert.equal(ok(await ctl(dir, "list", "con_server")).split("\n")[1], "(no servers)");
});

test("failures: one line on stderr and their exit status", async (t) => {
  const { c, dir } = await setup(t);
  c.put(`${KEY}${A}`, null);
  c.put(`${KEY}${B}`, null);

  failed(await ctl(dir, "list", "con_servr"), 3, 'unknown upstream "con_servr" (did you mean "con_server"?)');
  failed(await ctl(dir, "add", "nope", A), 3, 'unknown upstream "nope"');
  failed(
    await ctl(dir, "add", "con_server", "www.example.com:80"),
    2,
    'invalid address "www.example.com:80": the host must be an IPv4 or [IPv6] address (registries take no host names)',
  );
  failed(
    await ctl(dir, "add", "con_server", "10.0.0.1"),
    2,
    'invalid address "10.0.0.1": expected IP:PORT or [IPv6]:PORT',
  );
  failed(
    await ctl(dir, "down", "con_server", "10.0.0.1:99999"),
    2,
    /^syncgate ctl: invalid address "10\.0\.0\.1:99999": the port/,
  );
  failed(
    await ctl(dir, "weight", "con_server", A, "0"),
    2,
    'invalid "weight" value "0": a whole number from 1',
  );
  failed(
    await ctl(dir, "add", "con_server", A, "--fail-timeout", "5ms"),
    2,
    /^syncgate ctl: invalid "fail_timeout" value "5ms"/,
  );
  failed(
    await ctl(dir, "down", "con_server", "10.0.0.9:80"),
    3,
    /^syncgate ctl: server 10\.0\.0\.9:80 is not in upstream "con_server" \(consul /,
  );
  failed(
    await ctl(dir, "add", "catalog", A),
    4,
    'upstream "catalog" follows the Consul catalog (consul_health): change the service registration instead',
  );
  failed(await ctl(dir, "remove", "catalog", A), 4, /follows the Consul catalog/);
  failed(
    await ctl(dir, "add", "static", A),
    4,
    'upstream "static" has no registry (no "upsync") and no running syncgate\'s API is known: add an "api write=on;" ' +
      "location to the configuration or give --api URL",
  );
  failed(
    await ctl(dir, "drain", "con_server", A),
    1,
    `drain needs a running syncgate's API: add an "api" location to the configuration or give --api URL`,
  );
  failed(await ctl(dir, "status"), 1, /^syncgate ctl: status needs a running syncgate's API/);
  // Command-line mistakes.
  failed(
    await ctl(dir),
    2,
    "missing command (list, add, remove, down, up, weight, drain, status; see --help)",
  );
  failed(await ctl(dir, "lst"), 2, "unknown command 'lst' (Did you mean list?)");
  failed(await ctl(dir, "add", "con_server"), 2, "missing required argument 'host:port'");
  failed(
    await ctl(dir, "add", "con_server", A, "--wieght", "2"),
    2,
    "unknown option '--wieght' (Did you mean --weight?)",
  );
  failed(
    await ctl(dir, "list", "-c", "missing.conf"),
    1,
    `open() "${join(dir, "missing.conf")}" failed (2: No such file or directory)`,
  );

  // The registry goes away.
  await c.stop();
  failed(
    await ctl(dir, "list", "con_server"),
    1,
    /^syncgate ctl: consul 127\.0\.0\.1:\d+\/v1\/kv\/upstreams\/con_server\/: .*ECONNREFUSED/,
  );
  failed(await ctl(dir, "add", "con_server", "10.0.0.3:80"), 1, /ECONNREFUSED/);
});

test("list of every upstream: KV, catalog (read-only), file and config-only, in configuration order", async (t) => {
  const { c, dir } = await setup(t);
  c.put(`${KEY}${A}`, '{"weight":2,"down":1}');
  c.registerService({ node: "n1", nodeAddress: "10.0.1.1", name: "web", port: 8080, tags: ["weight=4"] });
  c.registerService({ node: "n2", nodeAddress: "10.0.1.2", name: "web", port: 8080 });
  c.setCheck({ node: "n2", id: "web-check", serviceId: "web", status: "critical" });
  const out = ok(await ctl(dir, "list"));
  const port = c.port;
  assert.equal(
    out,
    `upstream con_server: consul 127.0.0.1:${port}/v1/kv/upstreams/con_server/\n` +
      "SERVER           WEIGHT  MAX_FAILS  FAIL_TIMEOUT  BACKUP  DOWN\n" +
      `${A}  2       2          10s           no      yes\n` +
      "\n" +
      `upstream catalog: consul_health 127.0.0.1:${port}/v1/health/service/web (read-only)\n` +
      "SERVER         WEIGHT  MAX_FAILS  FAIL_TIMEOUT  BACKUP  DOWN\n" +
      "10.0.1.1:8080  4       2          10s           no      no\n" +
      "10.0.1.2:8080  1       2          10s           no      yes\n" +
      "\n" +
      `upstream filed: file ${join(dir, "conf/servers/filed.conf")}\n` +
      "SERVER          WEIGHT  MAX_FAILS  FAIL_TIMEOUT  BACKUP  DOWN\n" +
      "127.0.0.1:8081  1       1          10s           no      no\n" +
      "\n" +
      "upstream static: config (read-only)\n" +
      "SERVER        WEIGHT  MAX_FAILS  FAIL_TIMEOUT  BACKUP  DOWN\n" +
      "127.0.0.1:9   3       1          5s            no      no\n" +
      "127.0.0.1:10  1       1          10s           yes     no\n",
  );
  const json = JSON.parse(ok(await ctl(dir, "list", "catalog", "--json"))) as {
    upstreams: { read_only: string }[];
  };
  assert.equal(
    json.upstreams[0]!.read_only,
    'upstream "catalog" follows the Consul catalog (consul_health): change the service registration instead',
  );
});

test("a watched file: add, weight, down, remove rewrite it in place, comments kept", async (t) => {
  const { dir } = await setup(t);
  const file = join(dir, "conf/servers/filed.conf");
  ok(await ctl(dir, "add", "filed", "127.0.0.1:8082", "--weight", "2"));
  ok(await ctl(dir, "down", "filed", "127.0.0.1:8081"));
  ok(await ctl(dir, "weight", "filed", "127.0.0.1:8082", "4"));
  const text = readFileSync(file, "utf8");
  assert.match(text, /^# the file source\n/);
  assert.match(text, /server 127\.0\.0\.1:8081 .*down;\n/);
  assert.match(text, /server 127\.0\.0\.1:8082 weight=4 /);
  const json = JSON.parse(ok(await ctl(dir, "--json", "list", "filed"))) as {
    upstreams: { servers: { server: string; weight: number; down: boolean }[] }[];
  };
  assert.deepEqual(
    json.upstreams[0]!.servers.map((s) => [s.server, s.weight, s.down]),
    [
      ["127.0.0.1:8081", 1, true],
      ["127.0.0.1:8082", 4, false],
    ],
  );
  ok(await ctl(dir, "remove", "filed", "127.0.0.1:8081"));
  failed(
    await ctl(dir, "remove", "filed", "127.0.0.1:8082"),
    4,
    /^syncgate ctl: refusing to remove 127\.0\.0\.1:8082, the last server/,
  );
  assert.doesNotMatch(readFileSync(file, "utf8"), /8081/);
});

test("--consul URL: no configuration needed, the folder upstreams/NAME/; tokens from --token-file, never shown", async (t) => {
  const secret = "s3cr3t-acl-token-4242";
  const c = await startConsulDouble({ token: secret });
  t.after(() => c.stop());
  const dir = tempDir(t, { token: `${secret}\n`, wrong: "not-the-token\n" });
  const url = `http://${c.address}`;

  ok(
    await ctl(dir, "--consul", url, "--token-file", "token", "add", "web", "10.0.0.1:8080", "--weight", "3"),
  );
  assert.equal(
    c.get("upstreams/web/10.0.0.1:8080")?.value?.toString(),
    '{"weight":3,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}',
  );
  assert.ok(c.requests.every((r) => r.headers["x-consul-token"] === secret && !r.url.includes(secret)));
  const out = ok(await ctl(dir, "list", "web", "--consul", c.address, "--token-file", "token"));
  assert.match(out, /^upstream web: consul 127\.0\.0\.1:\d+\/v1\/kv\/upstreams\/web\/\nSERVER/);

  const denied = await ctl(dir, "list", "web", "--consul", url, "--token-file", "wrong");
  failed(denied, 1, /^syncgate ctl: consul .*403/);
  assert.doesNotMatch(denied.stderr, /not-the-token/);
  failed(await ctl(dir, "list", "web", "--consul", url), 1, /403/);
  failed(
    await ctl(dir, "list", "web", "--consul", url, "--token-file", "missing"),
    1,
    `--token-file: open() "missing" failed (2: No such file or directory)`,
  );
  failed(
    await ctl(dir, "list", "web", "--consul", `http://root:${secret}@${c.address}`),
    2,
    "--consul must not carry credentials (visible in ps): use --token-file FILE",
  );
  failed(
    await ctl(dir, "list", "web", "--consul", `${url}/v1/kv/x/`),
    2,
    "--consul takes no path: the key folder is upstreams/UPSTREAM/",
  );
  failed(
    await ctl(dir, "list", "--consul", url, "--etcd", url),
    2,
    "give one registry at most (--consul and --etcd given)",
  );
  failed(
    await ctl(dir, "list", "--consul", url, "--token-file", "token"),
    2,
    "name the UPSTREAM: there is no configuration or API to list upstreams from",
  );
  failed(await ctl(dir, "list", "a/b", "--consul", url), 2, 'invalid upstream name "a/b"');
});

test("--help documents the targets, their key folders, secrets and exit statuses", async (t) => {
  const dir = tempDir(t);
  const out = ok(await ctl(dir, "--help"));
  assert.match(out, /^Usage: syncgate ctl \[options\] \[command\]/);
  for (const cmd of [
    "list [upstream]",
    "add [options] <upstream> <host:port>",
    "remove [options]",
    "down <upstream>",
    "up <upstream>",
    "weight <upstream> <host:port> <n>",
    "drain [options]",
    "status [upstream]",
  ]) {
    assert.ok(out.includes(cmd), cmd);
  }
  assert.match(
    out,
    /--consul URL +every upstream is the Consul KV folder upstreams\/UPSTREAM\/ +\(\/v1\/kv\/upstreams\/UPSTREAM\/\)/,
  );
  assert.match(out, /--etcd URL +every upstream is the etcd v3 key prefix \/upstreams\/UPSTREAM\//);
  assert.match(
    out,
    /--etcd-v2 URL +every upstream is the etcd v2 directory \/upstreams\/UPSTREAM +\(\/v2\/keys\/upstreams\/UPSTREAM\)/,
  );
  assert.match(out, /\$SYNCGATE_API_AUTH/);
  assert.match(out, /Exit status: 0 success; 1 /);
});
