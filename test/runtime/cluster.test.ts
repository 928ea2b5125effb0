/**
 * `worker_processes 4` (issue 7 item 1): the primary syncs and probes, and every worker serves with the state it
 * sends — health verdicts, registry membership, admin API drains — while status pages sum every worker's
 * counters whichever worker answers. A worker killed under load loses at most the requests it had in flight and
 * is replaced.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { startBackend, type Backend } from "../support/backend.js";
import { send } from "../support/client.js";
import { clientPerWorker, waitReady, workerPids } from "../support/cluster.js";
import { startSyncgate, type Daemon } from "../support/daemon.js";
import { driveLoad, type KeepAliveClient } from "../support/keepalive.js";
import { freePort } from "../support/ports.js";
import { tempDir } from "../support/tmp.js";
import { eventually, sleep } from "../support/wait.js";

const WORKERS = 4;

/** A backend that answers its name and the worker that sent the request, or 503 while `health.sick`. */
async function backend(t: TestContext, name: string): Promise<Backend & { health: { sick: boolean } }> {
  const health = { sick: false };
  const b = await startBackend(t, name, (req, res) => {
    res.writeHead(health.sick ? 503 : 200, { "Content-Type": "text/plain" });
    res.end(health.sick ? "sick" : `${name} ${String(req.headers["x-worker"] ?? "")}`);
  });
  return Object.assign(b, { health });
}

async function cluster(
  t: TestContext,
  upstream: string,
  files: Record<string, string> = {},
): Promise<{ d: Daemon; port: number; dir: string }> {
  const port = await freePort();
  const conf =
    `worker_processes ${WORKERS};\npid run/sg.pid;\nerror_log logs/error.log notice;\nevents {}\n` +
    `http {\n  access_log off;\n  ${upstream}\n  server {\n    listen 127.0.0.1:${port};\n` +
    `    location / { proxy_pass http://u; proxy_set_header X-Worker $pid; }\n` +
    `    location /pid { return 200 "$pid"; }\n` +
    `    location /status { check_status prometheus; }\n` +
    `    location /api/ { api write=on; }\n  }\n}\n`;
  const dir = tempDir(t, { "sg.conf": conf, "logs/.keep": "", "run/.keep": "", ...files });
  const d = startSyncgate(t, ["-c", "sg.conf"], dir);
  // The pid file is written once every worker listens.
  await waitReady(d, join(dir, "run/sg.pid"));
  assert.equal(workerPids(d.child.pid!).length, WORKERS);
  return { d, port, dir };
}

/** Who answers `n` proxied requests on each connection: the backends' names, per worker. */
async function served(clients: Map<number, KeepAliveClient>, n = 4): Promise<Set<string>[]> {
  const out: Set<string>[] = [];
  for (const c of clients.values()) {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add((await c.get("/")).body.split(" ")[0]!);
    out.push(seen);
  }
  return out;
}

const only = (sets: Set<string>[], names: string[]): boolean =>
  sets.every((s) => [...s].sort().join() === [...names].sort().join());

test("health verdicts of the primary's checks reach every worker, both ways", async (t) => {
  const a = await backend(t, "a");
  const b = await backend(t, "b");
  const { port } = await cluster(
    t,
    `upstream u { server ${a.addr}; server ${b.addr}; check interval=100 rise=1 fall=1 timeout=1000 type=http; }`,
  );
  const clients = await clientPerWorker(port, WORKERS);
  assert.ok(only(await served(clients), ["a", "b"]));
  b.health.sick = true;
  await eventually("no worker sends to b", async () => only(await served(clients), ["a"]), 5000);
  b.health.sick = false;
  await eventually(
    "every worker sends to b again",
    async () => only(await served(clients), ["a", "b"]),
    5000,
  );
});

test("a registry change (watched file) reaches every worker", async (t) => {
  const a = await backend(t, "a");
  const b = await backend(t, "b");
  const { port, dir } = await cluster(
    t,
    `upstream u { server 127.0.0.1:1; upsync list.conf upsync_type=file upsync_interval=50ms; }`,
    { "list.conf": `server ${a.addr};\n` },
  );
  const clients = await clientPerWorker(port, WORKERS);
  assert.ok(only(await served(clients), ["a"]));
  writeFileSync(join(dir, "list.conf"), `server ${b.addr};\n`);
  await eventually("every worker follows the file", async () => only(await served(clients), ["b"]), 5000);
});

test("status pages sum every worker's counters; an admin API drain sent to one worker reaches all", async (t) => {
  const a = await backend(t, "a");
  const b = await backend(t, "b");
  const { port } = await cluster(
    t,
    `upstream u { zone u 64k; server ${a.addr}; server ${b.addr}; check interval=1000 fall=3 timeout=1000 type=tcp; }`,
  );
  const clients = await clientPerWorker(port, WORKERS);
  for (const c of clients.values()) for (let i = 0; i < 10; i++) assert.equal((await c.get("/")).status, 200);
  const metrics = (await send(port, "/status")).body;
  const counted = [...metrics.matchAll(/upstream_server_requests_total\{[^}]*\} (\d+)/g)].map((m) =>
    Number(m[1]),
  );
  assert.equal(
    counted.reduce((x, y) => x + y, 0),
    WORKERS * 10,
    metrics,
  );
  const list = JSON.parse((await send(port, "/api/9/http/upstreams/u/servers")).body) as {
    id: number;
    server: string;
  }[];
  const id = list.find((s) => s.server === b.addr)!.id;
  const patch = await send(port, `/api/9/http/upstreams/u/servers/${id}`, {
    method: "PATCH",
    headers: { "Content-Type": "application/json" },
    body: '{"drain":true}',
  });
  assert.equal(patch.status, 200, patch.body);
  await eventually("no worker sends new requests to b", async () => only(await served(clients), ["a"]), 5000);
  const peers = JSON.parse((await send(port, "/api/9/http/upstreams/u")).body) as {
    peers: { server: string; state: string; requests: number }[];
  };
  assert.equal(peers.peers.find((p) => p.server === b.addr)?.state, "draining");
  assert.ok(
    peers.peers.reduce((n, p) => n + p.requests, 0) >= WORKERS * 10,
    "the API sums every worker's requests too",
  );
});

test("a worker killed under load loses at most its requests in flight and is replaced", async (t) => {
  const a = await backend(t, "a");
  const { d, port, dir } = await cluster(t, `upstream u { server ${a.addr}; }`);
  const victim = workerPids(d.child.pid!)[0]!;
  let stop = false;
  const load = driveLoad({ port, conns: 16, path: "/", done: () => stop, maxRequests: 200_000 });
  await sleep(400);
  process.kill(victim, "SIGKILL");
  await sleep(800);
  stop = true;
  const r = await load;
  // A request fails only on a connection the dead worker served, at most one per such connection (no pipelining).
  const onVictim = (body: string | null): boolean => body?.endsWith(` ${victim}`) ?? false;
  t.diagnostic(
    `worker ${victim} killed under load: ${r.failed} of ${r.ok + r.failed} requests failed ` +
      `(${r.failures.map((f) => `connection ${f.conn} after "${f.lastBody}"`).join(", ")})`,
  );
  assert.deepEqual(
    r.failures.filter((f) => !onVictim(f.lastBody)),
    [],
    `failures on connections of other workers: ${r.errors.join("; ")}`,
  );
  assert.equal(
    new Set(r.failures.map((f) => f.conn)).size,
    r.failures.length,
    "two failures on one connection",
  );
  assert.ok(r.ok > 100, `only ${r.ok} requests succeeded`);
  await eventually("the worker is replaced", () => {
    const now = workerPids(d.child.pid!);
    return now.length === WORKERS && !now.includes(victim);
  });
  assert.match(
    readFileSync(join(dir, "logs/error.log"), "utf8"),
    new RegExp(`\\[alert\\] .*worker process ${victim} exited on signal 9`),
  );
  const after = await driveLoad({ port, conns: 8, path: "/", done: () => false, maxRequests: 400 });
  assert.deepEqual([after.ok, after.failed], [400, 0], after.errors.join("; "));
});

test("a reload that changes worker_processes starts or stops workers; stopped ones finish their requests", async (t) => {
  const a = await backend(t, "a");
  const { d, port, dir } = await cluster(t, `upstream u { server ${a.addr}; }`);
  const conf = join(dir, "sg.conf");
  const log = (): string => readFileSync(join(dir, "logs/error.log"), "utf8");
  const before = workerPids(d.child.pid!);
  writeFileSync(
    conf,
    readFileSync(conf, "utf8").replace(`worker_processes ${WORKERS};`, "worker_processes 2;"),
  );
  d.child.kill("SIGHUP");
  await eventually("two workers left", () => workerPids(d.child.pid!).length === 2, 10_000);
  assert.ok(
    workerPids(d.child.pid!).every((p) => before.includes(p)),
    "the workers kept are the ones that were running",
  );
  writeFileSync(conf, readFileSync(conf, "utf8").replace("worker_processes 2;", "worker_processes 3;"));
  d.child.kill("SIGHUP");
  await eventually("three workers", () => workerPids(d.child.pid!).length === 3, 10_000);
  await eventually("the new worker serves", async () => {
    try {
      for (const c of (await clientPerWorker(port, 3)).values()) c.close();
      return true;
    } catch {
      return false;
    }
  });
  // Workers stopped on purpose are not crashes: nothing is logged at [alert] and nothing is replaced.
  assert.doesNotMatch(log(), /\[alert\]/);
  const after = await driveLoad({ port, conns: 8, path: "/", done: () => false, maxRequests: 200 });
  assert.deepEqual([after.ok, after.failed], [200, 0], after.errors.join("; "));
});
