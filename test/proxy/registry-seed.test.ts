/**
 * Issue 4's acceptance, once per registry: the seed's own upstream block (taken from the seed configuration,
 * its `upsync`, `upsync_dump_path` and `include` lines with addresses rewritten to loopback, the `check` line left
 * for the health-check issue) in a real syncgate process, against the Consul double, real etcd v2 (`etcd`) and
 * real etcd v3 (`etcd3`): two servers added alternate, removing one leaves the other, deleting all keeps the last
 * and logs the refusal, a stopped registry keeps traffic flowing, and a restart while it is down serves the dump.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { type Backend, startBackend } from "../support/backend.js";
import { answers } from "../support/client.js";
import { type ConsulDouble, startConsulDouble } from "../support/consul-double.js";
import { startSyncgate, waitListening, type Daemon } from "../support/daemon.js";
import { type Etcd, startEtcd } from "../support/etcd.js";
import { logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { seedText } from "../support/seed.js";
import { tempDir } from "../support/tmp.js";
import { eventually } from "../support/wait.js";

const VALUE = '{"weight":1,"max_fails":2,"fail_timeout":10,"down":0}';

/** A registry as the tests drive it: where the upstream's keys live, and writes that return once acknowledged. */
interface Registry {
  /** The `upsync` address, path and type for upstream `name` (replacing the seed's). */
  upsync(name: string): string;
  put(name: string, addr: string): Promise<void>;
  remove(name: string, addr: string): Promise<void>;
  removeAll(name: string): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

function consulRegistry(c: ConsulDouble): Registry {
  return {
    upsync: (name) => `${c.address}/v1/kv/upstreams/${name}/ upsync_type=consul`,
    put: (name, addr) => Promise.resolve(void c.put(`upstreams/${name}/${addr}`, VALUE)),
    remove: (name, addr) => Promise.resolve(void c.delete(`upstreams/${name}/${addr}`)),
    removeAll: (name) => Promise.resolve(void c.delete(`upstreams/${name}/`, true)),
    stop: () => c.stop(),
    start: () => c.start(),
  };
}

function etcd2Registry(e: Etcd): Registry {
  return {
    upsync: (name) => `127.0.0.1:${e.clientPort}/v2/keys/upstreams/${name} upsync_type=etcd`,
    put: async (name, addr) => void (await e.put2(`/upstreams/${name}/${addr}`, VALUE)),
    remove: async (name, addr) => void (await e.delete2(`/upstreams/${name}/${addr}`)),
    removeAll: async (name) => void (await e.delete2(`/upstreams/${name}`, true)),
    stop: () => e.stop(),
    start: () => e.start(),
  };
}

function etcd3Registry(e: Etcd): Registry {
  return {
    upsync: (name) => `127.0.0.1:${e.clientPort}/upstreams/${name}/ upsync_type=etcd3`,
    put: async (name, addr) => void (await e.put3(`/upstreams/${name}/${addr}`, VALUE)),
    remove: async (name, addr) => void (await e.delete3(`/upstreams/${name}/${addr}`)),
    removeAll: async (name) => void (await e.delete3(`/upstreams/${name}/`)),
    stop: () => e.stop(),
    start: () => e.start(),
  };
}

/**
 * The seed's `upstream con_server { ... }` block as written there, with the registry line's address, path and
 * type replaced, the dump path and include moved to `dir`, and the `check` line dropped (health-check issue).
 */
function seedUpstream(registry: Registry, name: string, dir: string): string {
  const seed = seedText();
  const block = /upstream con_server \{[\s\S]*?\n\}/.exec(seed)?.[0];
  if (!block) throw new Error("no upstream block in the seed configuration");
  const dump = join(dir, "servers", `${name}.conf`);
  const out = block
    .replace("upstream con_server", `upstream ${name}`)
    .replace(/upsync \S+ (.*)upsync_type=consul/, (_m, params: string) => {
      const [where, type] = registry.upsync(name).split(" ");
      return `upsync ${where} ${params}${type}`;
    })
    .replace(/upsync_dump_path \S+;/, `upsync_dump_path ${dump};`)
    .replace(/include \S+;/, `include ${dump};`)
    .replace(/\n\s*check [^\n]*;/, "");
  assert.doesNotMatch(out, /10\.10\.|\/data\//, "every seed address and path is rewritten");
  return out;
}

let etcd: Etcd;
before(async () => {
  etcd = await startEtcd({ v2: true });
});
after(async () => {
  await etcd.close();
});

async function scenario(t: TestContext, registry: Registry, name: string): Promise<void> {
  const a: Backend = await startBackend(t, "a");
  const b: Backend = await startBackend(t, "b");
  const port = await freePort();
  const dir = tempDir(t);
  const conf = `pid syncgate.pid;
error_log error.log info;
events {}
http {
  access_log off;
${seedUpstream(registry, name, dir)}
  server {
    listen 127.0.0.1:${port};
    location / { proxy_next_upstream error timeout http_502; proxy_pass http://${name}/; }
  }
}
`;
  writeFileSync(join(dir, "syncgate.conf"), conf);
  const run = async (): Promise<Daemon> => {
    const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
    await waitListening(port);
    return d;
  };
  const log = join(dir, "error.log");

  let d = await run();
  await registry.put(name, a.addr);
  await registry.put(name, b.addr);
  await eventually("both serve", async () => new Set(await answers(port, 4)).size === 2);
  assert.deepEqual((await answers(port, 4)).sort(), ["a", "a", "b", "b"]);

  await registry.remove(name, a.addr);
  await eventually("only b", async () => (await answers(port, 4)).every((x) => x === "b"));

  await registry.removeAll(name);
  await eventually("refusal logged", () => logLines(log).some((l) => l.includes("cannot delete all peers")));
  assert.deepEqual(await answers(port, 3), ["b", "b", "b"]);

  await registry.put(name, a.addr);
  await eventually("a back", async () => (await answers(port, 2)).every((x) => x === "a"));
  await registry.put(name, b.addr);
  await eventually("both again", async () => new Set(await answers(port, 4)).size === 2);

  await registry.stop();
  await eventually("failure logged", () =>
    logLines(log).some((l) => /\[error\].*keeps? serving, retrying/.test(l)),
  );
  assert.deepEqual((await answers(port, 4)).sort(), ["a", "a", "b", "b"]);

  // Restarted while the registry is down: the dump's servers, not the seed's placeholder.
  d.child.kill("SIGTERM");
  assert.equal((await d.exited).status, 0, d.stderr());
  d = await run();
  assert.deepEqual((await answers(port, 4)).sort(), ["a", "a", "b", "b"]);
  d.child.kill("SIGTERM");
  assert.equal((await d.exited).status, 0, d.stderr());
  await registry.start();
}

test("seed upstream with Consul KV (the Consul double)", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  await scenario(t, consulRegistry(c), "con_server");
});

test("seed upstream with etcd v2 (upsync_type=etcd), real etcd", async (t) => {
  await scenario(t, etcd2Registry(etcd), "con_server_v2");
});

test("seed upstream with etcd v3 (upsync_type=etcd3), real etcd", async (t) => {
  await scenario(t, etcd3Registry(etcd), "con_server_v3");
});
