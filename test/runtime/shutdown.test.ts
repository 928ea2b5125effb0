/**
 * Stopping and guarding the real process, for `worker_processes 1` (one process) and 2 (a primary and two
 * workers): SIGQUIT lets a request in flight finish (bounded by `worker_shutdown_timeout`), SIGTERM stops at once
 * with every worker, `-s quit` is SIGQUIT, the pid file keeps a second instance out (a stale one does not), and
 * `user` drops the serving processes' privileges.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { send, type Reply } from "../support/client.js";
import { workerPids } from "../support/cluster.js";
import { runSyncgate } from "../support/process.js";
import { freePort } from "../support/ports.js";
import {
  alive,
  configText,
  ids,
  modeName,
  type Running,
  site,
  slowBackend,
  startRuntime,
  within,
} from "../support/runtime.js";
import { eventually, sleep } from "../support/wait.js";

/** What the slow backend answers: large enough to take more than one write. */
const BODY = "slow body ".repeat(20_000);

/** A server on a free port with `location /slow` proxied to a backend answering after `delayMs`. */
async function withSlowRequest(
  t: TestContext,
  workers: number,
  delayMs: number,
  main = "",
): Promise<{ r: Running; port: number; inflight: Promise<Reply | Error> }> {
  const slow = await slowBackend(t, delayMs, BODY);
  const port = await freePort();
  const extra = `    location /slow { proxy_pass http://${slow.addr}; }\n`;
  const r = await startRuntime(t, configText(workers, site(port, "A", extra), main));
  const inflight = send(port, "/slow").catch((err: Error) => err);
  await eventually("the request at the backend", () => slow.seen.length === 1);
  return { r, port, inflight };
}

/** The exit of `r` (status, signal, Date.now() at exit), at most `ms` after now. */
function exitOf(
  r: Running,
  ms: number,
): Promise<{ status: number | null; signal: string | null; at: number }> {
  return within(r.d.exited, ms, `syncgate's exit (stderr: ${r.d.stderr()})`);
}

/** Asserts that a request in flight got its whole answer, saying the connection closes (as nginx exiting). */
async function answered(inflight: Promise<Reply | Error>): Promise<void> {
  const reply = await within(inflight, 5000, "the answer in flight");
  if (reply instanceof Error) assert.fail(`request in flight failed: ${reply.message}`);
  assert.equal(reply.status, 200);
  assert.equal(reply.headers["connection"], "close");
  assert.equal(reply.body.length, BODY.length);
  assert.equal(reply.body, BODY);
}

/** Asserts that a request in flight failed (its connection closed without an answer). */
async function failed(inflight: Promise<Reply | Error>): Promise<void> {
  const reply = await within(inflight, 5000, "the end of the request in flight");
  assert.ok(
    reply instanceof Error,
    `request in flight answered ${reply instanceof Error ? "" : reply.status}`,
  );
}

/** The uid and gid of an account (id -u / getent group). */
function account(user: string, group: string): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("getent", ["group", group], { encoding: "utf8" }).split(":")[2]);
  return { uid, gid };
}

for (const workers of [1, 2]) {
  const mode = modeName(workers);

  test(`${mode}: SIGQUIT lets a request in flight finish, then exits 0 and removes the pid file`, async (t) => {
    const { r, port, inflight } = await withSlowRequest(t, workers, 800);
    await sleep(200);
    r.d.child.kill("SIGQUIT");
    await r.logged(/\[notice\] \d+#\d+: signal 3 \(SIGQUIT\) received, shutting down gracefully\n/);
    await answered(inflight);
    const exit = await exitOf(r, 5000);
    assert.deepEqual([exit.status, exit.signal], [0, null], r.d.stderr());
    assert.equal(existsSync(r.pidFile), false, "pid file removed");
    assert.equal(r.d.stderr(), "");
    await assert.rejects(send(port, "/v"), /ECONNREFUSED/);
  });

  test(`${mode}: SIGTERM during a graceful shutdown stops at once (nginx: stop after quit)`, async (t) => {
    const { r, inflight } = await withSlowRequest(t, workers, 10_000);
    r.d.child.kill("SIGQUIT");
    await r.logged(/signal 3 \(SIGQUIT\) received, shutting down gracefully\n/);
    await sleep(200);
    const sent = Date.now();
    r.d.child.kill("SIGTERM");
    const exit = await exitOf(r, 5000);
    assert.deepEqual([exit.status, exit.signal], [0, null], r.d.stderr());
    assert.ok(exit.at - sent < 2000, `exited ${exit.at - sent} ms after SIGTERM`);
    await failed(inflight);
    assert.match(r.log(), /signal 15 \(SIGTERM\) received, exiting\n/);
  });

  test(`${mode}: SIGQUIT with worker_shutdown_timeout 300ms ends a stuck request and exits 0 in time`, async (t) => {
    const { r, inflight } = await withSlowRequest(t, workers, 10_000, "worker_shutdown_timeout 300ms;\n");
    const sent = Date.now();
    r.d.child.kill("SIGQUIT");
    const exit = await exitOf(r, 5000);
    assert.deepEqual([exit.status, exit.signal], [0, null], r.d.stderr());
    assert.ok(exit.at - sent < 3000, `exited ${exit.at - sent} ms after SIGQUIT`);
    assert.ok(
      exit.at - sent >= 250,
      `exited ${exit.at - sent} ms after SIGQUIT: it did not wait for the request`,
    );
    await failed(inflight);
    assert.equal(existsSync(r.pidFile), false, "pid file removed");
  });

  test(`${mode}: SIGTERM exits 0 at once with a request in flight, every worker gone`, async (t) => {
    const { r, inflight } = await withSlowRequest(t, workers, 10_000);
    const kids = workerPids(r.pid);
    assert.equal(kids.length, workers === 1 ? 0 : workers, `children of ${r.pid}: ${kids.join(" ")}`);
    const sent = Date.now();
    r.d.child.kill("SIGTERM");
    const exit = await exitOf(r, 5000);
    assert.deepEqual([exit.status, exit.signal], [0, null], r.d.stderr());
    assert.ok(exit.at - sent < 2000, `exited ${exit.at - sent} ms after SIGTERM`);
    assert.deepEqual(kids.filter(alive), [], "worker processes still there");
    await failed(inflight);
    assert.equal(existsSync(r.pidFile), false, "pid file removed");
    assert.match(r.log(), /\[notice\] \d+#\d+: signal 15 \(SIGTERM\) received, exiting\n/);
  });

  test(`${mode}: a second instance on the same pid file exits 1 and the first keeps serving`, async (t) => {
    const port = await freePort();
    const r = await startRuntime(t, configText(workers, site(port, "A")));
    const second = await runSyncgate(["-c", "syncgate.conf"], r.dir, 10_000);
    assert.equal(second.status, 1, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`another syncgate \\(pid ${r.pid}\\) is running with pid file "${r.pidFile}"`),
    );
    assert.equal(readFileSync(r.pidFile, "utf8"), `${r.pid}\n`);
    assert.equal((await send(port, "/v")).body, "A\n");
    assert.equal(r.d.child.exitCode, null);
  });

  test(`${mode}: a stale pid file (its process is gone) does not block a start`, async (t) => {
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    assert.equal(alive(gone), false, `pid ${gone} still exists`);
    const port = await freePort();
    // startRuntime waits until the pid file names the new process.
    const r = await startRuntime(t, configText(workers, site(port, "A")), {
      files: { "run/syncgate.pid": `${gone}\n` },
    });
    assert.equal((await send(port, "/v")).body, "A\n");
    assert.equal(r.d.stderr(), "");
  });

  test(`${mode}: syncgate -s quit -c CONF stops gracefully as SIGQUIT does`, async (t) => {
    const { r, inflight } = await withSlowRequest(t, workers, 800);
    await sleep(200);
    const sent = await runSyncgate(["-s", "quit", "-c", "syncgate.conf"], r.dir);
    assert.deepEqual([sent.status, sent.stderr], [0, ""]);
    await answered(inflight);
    const exit = await exitOf(r, 5000);
    assert.deepEqual([exit.status, exit.signal], [0, null], r.d.stderr());
    assert.equal(existsSync(r.pidFile), false, "pid file removed");
    assert.match(r.log(), /signal 3 \(SIGQUIT\) received, shutting down gracefully\n/);
  });

  test(`${mode}: user nobody nogroup: workers drop to it after binding, the primary keeps root for files`, async (t) => {
    assert.equal(
      process.getuid?.(),
      0,
      `this test needs to run as root (uid 0) to see syncgate switch to "user nobody nogroup"; it runs as uid ${process.getuid?.()}`,
    );
    const nobody = account("nobody", "nogroup");
    const port = await freePort();
    // Folders only root may write to: the primary writes the pid file and (re)creates the logs.
    const r = await startRuntime(t, configText(workers, site(port, "A"), "user nobody nogroup;\n"));
    assert.equal((await send(port, "/v")).body, "A\n");
    const dropped = { uid: Array(4).fill(nobody.uid), gid: Array(4).fill(nobody.gid), groups: [nobody.gid] };
    // With `user`, even one worker has a primary (nginx's master), which stays root.
    assert.deepEqual(ids(r.pid).uid, [0, 0, 0, 0], "the primary stays root");
    const kids = workerPids(r.pid);
    assert.equal(kids.length, workers);
    for (const w of kids) assert.deepEqual(ids(w), dropped, `worker ${w}`);
    // logrotate: the moved log is recreated by the primary and handed to the workers' account (which, as with
    // nginx, needs to reach the folder: mkdtemp made it 0700).
    chmodSync(r.dir, 0o755);
    const log = join(r.dir, "logs/access.log");
    renameSync(log, `${log}.1`);
    r.d.child.kill("SIGUSR1");
    await eventually("access log recreated", async () => {
      await send(port, "/v");
      return existsSync(log) && readFileSync(log, "utf8").includes('"GET /v HTTP/1.1" 200');
    });
    assert.equal(statSync(log).uid, nobody.uid);
    // Still stops cleanly, removing its pid file.
    r.d.child.kill("SIGQUIT");
    const exit = await exitOf(r, 5000);
    assert.deepEqual([exit.status, exit.signal], [0, null], r.d.stderr());
    assert.equal(existsSync(r.pidFile), false, "pid file removed");
  });
}
