/**
 * `syncgate ctl` against a real etcd (issue 6 acceptance): the v2 keys API (`upsync_type=etcd`) and v3
 * (`upsync_type=etcd3`) from the configuration, then `--etcd-v2 URL` / `--etcd URL` without one; values in the
 * registry's own format, credentials from --token-file only, etcd going away.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ctl, failed, ok } from "../support/ctl.js";
import { type Etcd, startEtcd } from "../support/etcd.js";
import { tempDir } from "../support/tmp.js";

const A = "10.0.0.1:80";
const B = "10.0.0.2:80";

let etcd: Etcd;
before(async () => {
  etcd = await startEtcd({ v2: true });
});
after(() => etcd.close());

/** A folder with conf/syncgate.conf naming e2 (etcd v2) and e3 (etcd v3) on the test's etcd. */
function configDir(t: Parameters<typeof tempDir>[0]): string {
  const dir = tempDir(t);
  const at = `127.0.0.1:${etcd.clientPort}`;
  writeFileSync(
    join(dir, "syncgate.conf"),
    `events {}
http {
  upstream e2 { upsync ${at}/v2/keys/upstreams/e2 upsync_type=etcd; upsync_dump_path ${dir}/e2.dump; }
  upstream e3 { upsync ${at}/upstreams/e3/ upsync_type=etcd3; upsync_dump_path ${dir}/e3.dump; }
}
`,
  );
  return dir;
}

/** The v2 directory's keys → values. */
async function v2(dir: string): Promise<Record<string, string>> {
  const a = await etcd.get2(dir, true);
  const nodes = (
    (a.body.node as { nodes?: { key: string; value?: string }[] } | undefined)?.nodes ?? []
  ).sort((x, y) => x.key.localeCompare(y.key));
  return Object.fromEntries(nodes.map((n) => [n.key, n.value ?? ""]));
}

/** The v3 prefix's keys → values. */
async function v3(prefix: string): Promise<Record<string, string>> {
  return Object.fromEntries((await etcd.get3(prefix)).kvs.map((kv) => [kv.key, kv.value]));
}

const value = (weight: number, down = 0): string =>
  `{"weight":${weight},"max_fails":2,"fail_timeout":10,"down":${down},"backup":0}`;

for (const [name, read, folder] of [
  ["e2", v2, "/upstreams/e2"],
  ["e3", v3, "/upstreams/e3/"],
] as const) {
  test(`etcd ${name === "e2" ? "v2" : "v3"} from the configuration: add, list, weight, down, up, remove`, async (t) => {
    const dir = configDir(t);
    const key = (a: string): string => `${folder.replace(/\/$/, "")}/${a}`;
    const kind = name === "e2" ? "etcd" : "etcd3";
    const path = name === "e2" ? "/v2/keys/upstreams/e2" : "/upstreams/e3/";
    const source = `${kind} 127.0.0.1:${etcd.clientPort}${path}`;

    assert.equal(
      ok(await ctl(dir, "-c", "syncgate.conf", "add", name, A)),
      `added ${A} to upstream "${name}" (${source}): weight=1 max_fails=2 fail_timeout=10 backup=0 down=0\n`,
    );
    ok(await ctl(dir, "-c", "syncgate.conf", "add", name, B, "--weight", "2"));
    assert.deepEqual(await read(folder), { [key(A)]: value(1), [key(B)]: value(2) });
    assert.equal(
      ok(await ctl(dir, "-c", "syncgate.conf", "list", name)),
      `upstream ${name}: ${source}\n` +
        "SERVER       WEIGHT  MAX_FAILS  FAIL_TIMEOUT  BACKUP  DOWN\n" +
        `${A}  1       2          10s           no      no\n` +
        `${B}  2       2          10s           no      no\n`,
    );
    ok(await ctl(dir, "-c", "syncgate.conf", "weight", name, A, "7"));
    ok(await ctl(dir, "-c", "syncgate.conf", "down", name, B));
    assert.deepEqual(await read(folder), { [key(A)]: value(7), [key(B)]: value(2, 1) });
    ok(await ctl(dir, "-c", "syncgate.conf", "up", name, B));
    assert.deepEqual(await read(folder), { [key(A)]: value(7), [key(B)]: value(2) });
    assert.equal(
      ok(await ctl(dir, "-c", "syncgate.conf", "remove", name, B)),
      `removed ${B} from upstream "${name}" (${source})\n`,
    );
    failed(
      await ctl(dir, "-c", "syncgate.conf", "remove", name, A),
      4,
      /^syncgate ctl: refusing to remove 10\.0\.0\.1:80, the last server of upstream/,
    );
    failed(
      await ctl(dir, "-c", "syncgate.conf", "down", name, B),
      3,
      /^syncgate ctl: server 10\.0\.0\.2:80 is not in upstream/,
    );
    const forced = await ctl(dir, "-c", "syncgate.conf", "remove", name, A, "--force");
    assert.equal(forced.status, 0);
    assert.match(
      forced.stderr,
      /^syncgate ctl: warning: upstream "[^"]+" has no servers left in its source; running syncgates keep serving 10\.0\.0\.1:80, since they never empty an upstream\n$/,
    );
    assert.deepEqual(await read(folder), {});
  });
}

test("--etcd-v2 URL and --etcd URL without a configuration: the folder upstreams/NAME", async (t) => {
  const dir = tempDir(t);
  ok(await ctl(dir, "--etcd-v2", etcd.url, "add", "web", A, "--max-fails", "0"));
  assert.deepEqual(await v2("/upstreams/web"), {
    [`/upstreams/web/${A}`]: '{"weight":1,"max_fails":0,"fail_timeout":10,"down":0,"backup":0}',
  });
  ok(await ctl(dir, "--etcd", etcd.url, "add", "web", B, "--down"));
  assert.deepEqual(await v3("/upstreams/web/"), { [`/upstreams/web/${B}`]: value(1, 1) });
  const json = JSON.parse(ok(await ctl(dir, "--etcd", etcd.url, "--json", "list", "web"))) as {
    upstreams: { source: string; servers: { server: string; down: boolean }[] }[];
  };
  assert.equal(json.upstreams[0]!.source, `etcd3 127.0.0.1:${etcd.clientPort}/upstreams/web/`);
  assert.deepEqual(
    json.upstreams[0]!.servers.map((s) => [s.server, s.down]),
    [[B, true]],
  );
});

test("etcd v3 with auth: user:password from --token-file, never shown; wrong or none is refused", async (t) => {
  const dir = tempDir(t, { cred: "root:pa55-w0rd-etcd\n", bad: "root:nope-nope\n" });
  await etcd.enableAuth3("pa55-w0rd-etcd");
  t.after(() => etcd.disableAuth3());
  ok(await ctl(dir, "--etcd", etcd.url, "--token-file", "cred", "add", "auth", A));
  assert.match(
    ok(await ctl(dir, "--etcd", etcd.url, "--token-file", "cred", "list", "auth")),
    /10\.0\.0\.1:80 +1 +2 +10s/,
  );
  const bad = await ctl(dir, "--etcd", etcd.url, "--token-file", "bad", "list", "auth");
  failed(bad, 1, /^syncgate ctl: etcd3 127\.0\.0\.1:\d+\/upstreams\/auth\/: /);
  assert.doesNotMatch(bad.stderr, /nope-nope|pa55/);
  failed(await ctl(dir, "--etcd", etcd.url, "list", "auth"), 1, /^syncgate ctl: etcd3 /);
});

test("etcd unreachable: exit 1 and one line naming the registry", async (t) => {
  const dir = tempDir(t);
  failed(
    await ctl(dir, "--etcd", "http://127.0.0.1:1", "list", "web"),
    1,
    /^syncgate ctl: etcd3 127\.0\.0\.1:1\/upstreams\/web\/: .*(ECONNREFUSED|refused)/,
  );
  failed(
    await ctl(dir, "--etcd-v2", "127.0.0.1:1", "add", "web", A),
    1,
    /^syncgate ctl: etcd 127\.0\.0\.1:1\/v2\/keys\/upstreams\/web: .*(ECONNREFUSED|refused)/,
  );
});
