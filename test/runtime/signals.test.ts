/**
 * nginx's reload and reopen signals on the real process, for `worker_processes 1` (one process) and 2 (a primary
 * whose pid is in the pid file, and two workers): SIGHUP applies a changed configuration to new and kept-alive
 * connections, keeps the running one when the new one is invalid or cannot bind, and moves listeners without
 * leaving a client unanswered; `-s reload` does the same; SIGUSR1 reopens the access log.
 */
import assert from "node:assert/strict";
import { readFileSync, renameSync } from "node:fs";
import { createServer } from "node:net";
import { test, type TestContext } from "node:test";
import { startBackend } from "../support/backend.js";
import { workerPids } from "../support/cluster.js";
import { send } from "../support/client.js";
import { probePort } from "../support/daemon.js";
import { logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { runSyncgate } from "../support/process.js";
import {
  allAnswer,
  configText,
  modeName,
  perWorker,
  RawConnection,
  site,
  startRuntime,
} from "../support/runtime.js";
import { eventually } from "../support/wait.js";

const CHECK = "check interval=200 rise=1 fall=2 timeout=1000 type=http;";
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** The check_status json page: its generation, and the index of each upstream's (one) server. */
async function checkStatus(port: number): Promise<{ generation: number; index: Record<string, number> }> {
  const r = await send(port, "/status");
  assert.equal(r.status, 200, r.body);
  const page = JSON.parse(r.body) as {
    servers: { generation: number; server: { index: number; upstream: string }[] };
  };
  const index = Object.fromEntries(page.servers.server.map((s) => [s.upstream, s.index]));
  return { generation: page.servers.generation, index };
}

/** Two distinct free ports. */
async function twoPorts(): Promise<[number, number]> {
  const a = await freePort();
  let b = await freePort();
  while (b === a) b = await freePort();
  return [a, b];
}

/** Answers of `n` new connections to `path`. */
async function fresh(port: number, path: string, n = 4): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await send(port, path)).body);
  return out;
}

/** A port held by this test process (another program's), released after the test. */
async function takenPort(t: TestContext): Promise<{ port: number; release: () => Promise<void> }> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const a = s.address();
  const release = async (): Promise<void> => {
    if (s.listening) await new Promise<void>((r) => s.close(() => r()));
  };
  t.after(release);
  return { port: typeof a === "object" && a ? a.port : 0, release };
}

for (const workers of [1, 2]) {
  const mode = modeName(workers);

  test(`${mode}: SIGHUP applies a changed configuration to new and kept-alive connections, generation 2`, async (t) => {
    const b = await startBackend(t, "b");
    const port = await freePort();
    const conf = (body: string, weight: number): string =>
      configText(
        workers,
        `  upstream kept { server ${b.addr}; ${CHECK} }\n` +
          `  upstream changed { server ${b.addr} weight=${weight}; ${CHECK} }\n` +
          site(port, body, "    location /status { check_status json; }\n"),
      );
    const r = await startRuntime(t, conf("A", 1));
    const conns = await perWorker(t, port, workers);
    assert.deepEqual(await fresh(port, "/v"), ["A\n", "A\n", "A\n", "A\n"]);
    const before = await checkStatus(port);
    assert.equal(before.generation, 1);

    r.rewrite(conf("B", 2));
    r.d.child.kill("SIGHUP");
    await r.logged(/reconfigured, generation 2/);
    assert.match(
      r.log(),
      /\[notice\] \d+#\d+: signal 1 \(SIGHUP\) received, reconfiguring\n[^]*\[notice\] \d+#\d+: reconfigured, generation 2\n/,
    );
    // A cluster's workers apply the new configuration after the primary logged it (a few ms later).
    await allAnswer(conns, "/v", "B\n");
    assert.deepEqual(await fresh(port, "/v"), ["B\n", "B\n", "B\n", "B\n"]);
    for (const c of conns)
      assert.deepEqual([c.opened, c.unexpectedCloses], [1, 0], "same connection, never closed");

    const after = await checkStatus(port);
    assert.equal(after.generation, 2);
    assert.equal(after.index["kept"], before.index["kept"], "an unchanged upstream keeps its server");
    assert.ok(after.index["changed"] !== undefined, JSON.stringify(after));
    assert.notEqual(after.index["changed"], before.index["changed"], "a changed upstream has a new server");
    assert.equal(r.d.child.exitCode, null);
  });

  test(`${mode}: SIGHUP with an invalid configuration logs file:line and keeps the running one`, async (t) => {
    const port = await freePort();
    const r = await startRuntime(t, configText(workers, site(port, "A")));
    const conns = await perWorker(t, port, workers);
    const valid = configText(workers, site(port, "B"));
    const line = valid.split("\n").length; // the line after the last one
    r.rewrite(`${valid}bogus_directive on;\n`);
    r.d.child.kill("SIGHUP");
    await r.logged(/reload failed/);
    assert.match(
      r.log(),
      new RegExp(
        `signal 1 \\(SIGHUP\\) received, reconfiguring\\n` +
          `.*\\[emerg\\] \\d+#\\d+: unknown directive "bogus_directive" in ${esc(r.conf)}:${line}\\n` +
          `.*\\[notice\\] \\d+#\\d+: reload failed, the running configuration stays\\n`,
      ),
    );
    assert.doesNotMatch(r.log(), /reconfigured/);
    assert.deepEqual(await fresh(port, "/v"), ["A\n", "A\n", "A\n", "A\n"]);
    for (const c of conns) assert.equal((await c.get("/v")).body, "A\n");
    for (const c of conns) assert.deepEqual([c.opened, c.unexpectedCloses], [1, 0]);
    assert.equal(r.d.child.exitCode, null, "still running");
    assert.equal(workerPids(r.pid).length, workers === 1 ? 0 : workers);
  });

  test(`${mode}: SIGHUP moving the listener: the old port refuses, its kept-alive client gets a last answer`, async (t) => {
    const [p1, p2] = await twoPorts();
    const r = await startRuntime(t, configText(workers, site(p1, "A")));
    const kept = new RawConnection(p1);
    t.after(() => kept.destroy());
    const first = await kept.get("/v");
    assert.deepEqual([first.body, first.headers["connection"]], ["A\n", "keep-alive"]);

    r.rewrite(configText(workers, site(p2, "B")));
    r.d.child.kill("SIGHUP");
    await r.logged(/reconfigured, generation 2/);
    // Once every process let go of the old listener (at once in one process; a few ms later in a cluster).
    await eventually(`127.0.0.1:${p1} refusing`, async () => (await probePort(p1)) === "ECONNREFUSED", 2000);
    assert.equal(await probePort(p1), "ECONNREFUSED");
    assert.deepEqual(await fresh(p2, "/v"), ["B\n", "B\n", "B\n", "B\n"]);

    const last = await kept.get("/v");
    assert.deepEqual([last.status, last.body, last.headers["connection"]], [200, "A\n", "close"]);
    await kept.waitClosed();
  });

  test(`${mode}: a reload whose new port is taken is refused (bind() failed) and the old one serves`, async (t) => {
    const port = await freePort();
    const taken = await takenPort(t);
    const r = await startRuntime(t, configText(workers, site(port, "A")));
    const conns = await perWorker(t, port, workers);
    r.rewrite(configText(workers, site(port, "B") + site(taken.port, "B")));
    r.d.child.kill("SIGHUP");
    await r.logged(/reload failed/);
    assert.match(
      r.log(),
      new RegExp(
        `\\[(emerg|alert)\\] \\d+#\\d+: bind\\(\\) to 127\\.0\\.0\\.1:${taken.port} failed \\(98: Address already in use\\)\\n` +
          `.*reload failed, the running configuration stays\\n`,
      ),
    );
    assert.doesNotMatch(r.log(), /reconfigured/);
    assert.deepEqual(await fresh(port, "/v"), ["A\n", "A\n", "A\n", "A\n"]);
    for (const c of conns) assert.equal((await c.get("/v")).body, "A\n");
    assert.equal(r.d.child.exitCode, null, "still running");

    // The failed attempt left nothing behind: once the port is free, the same reload succeeds as generation 2.
    await taken.release();
    r.d.child.kill("SIGHUP");
    await r.logged(/reconfigured, generation 2\n/);
    await allAnswer(conns, "/v", "B\n");
    assert.deepEqual(await fresh(taken.port, "/v"), ["B\n", "B\n", "B\n", "B\n"]);
  });

  test(`${mode}: syncgate -s reload -c CONF reloads as SIGHUP does`, async (t) => {
    const port = await freePort();
    const r = await startRuntime(t, configText(workers, site(port, "A")));
    const conns = await perWorker(t, port, workers);
    r.rewrite(configText(workers, site(port, "B")));
    const sent = await runSyncgate(["-s", "reload", "-c", "syncgate.conf"], r.dir);
    assert.deepEqual([sent.status, sent.stderr], [0, ""]);
    await r.logged(/reconfigured, generation 2\n/);
    assert.match(r.log(), /signal 1 \(SIGHUP\) received, reconfiguring\n/);
    await allAnswer(conns, "/v", "B\n");
    assert.deepEqual(await fresh(port, "/v"), ["B\n", "B\n", "B\n", "B\n"]);
    assert.equal(r.d.child.exitCode, null);
  });

  test(`${mode}: SIGUSR1 reopens the access log after it was renamed away`, async (t) => {
    const port = await freePort();
    const r = await startRuntime(t, configText(workers, site(port, "A")));
    const access = `${r.dir}/logs/access.log`;
    await send(port, "/v?before");
    await eventually("the first access log line", () => logLines(access).length === 1);
    renameSync(access, `${access}.1`);

    r.d.child.kill("SIGUSR1");
    await r.logged(/signal 10 \(SIGUSR1\) received, reopening logs\n/);
    // A cluster's workers reopen when the primary's word reaches them: requests until one lands in the new file.
    await eventually(
      "a line in the new access log",
      async () => (await send(port, "/v?after")).status === 200 && logLines(access).length > 0,
      3000,
      50,
    );
    const lines = logLines(access);
    assert.ok(
      lines.every((l) => / "GET \/v\?after HTTP\/1\.1" 200$/.test(l)),
      lines.join("\n"),
    );
    assert.match(readFileSync(`${access}.1`, "utf8"), /"GET \/v\?before HTTP\/1\.1" 200\n/);
    const writers = new Set(lines.map((l) => Number(l.split(" ")[0])));
    const serving = workers === 1 ? [r.pid] : workerPids(r.pid);
    assert.equal(serving.length, workers);
    for (const w of writers) assert.ok(serving.includes(w), `line by ${w}, serving: ${serving.join(" ")}`);
  });
}
