/**
 * The server process as users run it (`bin/syncgate -c FILE`): the pid file, a quick clean exit on SIGTERM and
 * SIGINT that closes the listeners, and nginx's bind() error when the port is taken.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { send, until } from "../support/client.js";
import { startSyncgate, probePort, waitListening } from "../support/daemon.js";
import { freePort } from "../support/ports.js";
import { tempDir } from "../support/tmp.js";

const config = (port: number): string =>
  `pid run/syncgate.pid;\nerror_log logs/error.log info;\nevents {}\n` +
  `http { access_log logs/access.log;\n  server { listen 127.0.0.1:${port}; location / { return 200 "up\\n"; } } }\n`;

async function running(t: TestContext): Promise<{ dir: string; port: number; pidFile: string }> {
  const port = await freePort();
  const dir = tempDir(t, { "syncgate.conf": config(port), "logs/.keep": "", "run/.keep": "" });
  return { dir, port, pidFile: join(dir, "run/syncgate.pid") };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal}: exit status 0 within 2 s, listeners closed, pid file written at start and removed`, async (t) => {
    const { dir, port, pidFile } = await running(t);
    const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
    await waitListening(port);
    assert.equal((await send(port, "/")).body, "up\n");
    await until(() => existsSync(pidFile), 2000);
    assert.equal(readFileSync(pidFile, "utf8"), `${d.child.pid}\n`);
    const sent = Date.now();
    d.child.kill(signal);
    const exit = await d.exited;
    assert.deepEqual([exit.status, exit.signal], [0, null], d.stderr());
    assert.ok(exit.at - sent < 2000, `exited ${exit.at - sent} ms after ${signal}`);
    assert.equal(existsSync(pidFile), false, "pid file removed");
    assert.equal(await probePort(port), "ECONNREFUSED");
    assert.match(
      readFileSync(join(dir, "logs/error.log"), "utf8"),
      new RegExp(`signal \\d+ \\(${signal}\\) received`),
    );
  });
}

test("SIGTERM with a client connection open still exits at once", async (t) => {
  const { dir, port } = await running(t);
  const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
  await waitListening(port);
  const idle = connect(port, "127.0.0.1");
  t.after(() => idle.destroy());
  idle.on("error", () => {});
  await new Promise((r) => idle.once("connect", r));
  const sent = Date.now();
  d.child.kill("SIGTERM");
  const exit = await d.exited;
  assert.equal(exit.status, 0, d.stderr());
  assert.ok(exit.at - sent < 2000, `exited ${exit.at - sent} ms after SIGTERM`);
});

test("a port in use: nginx's bind() message, exit status 1, no pid file", async (t) => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => taken.close(() => r())));
  const a = taken.address();
  const port = typeof a === "object" && a ? a.port : 0;
  const dir = tempDir(t, { "syncgate.conf": config(port), "logs/.keep": "", "run/.keep": "" });
  const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
  const exit = await Promise.race([
    d.exited,
    new Promise<never>((_r, reject) => setTimeout(() => reject(new Error("still running after 5 s")), 5000)),
  ]);
  assert.equal(exit.status, 1);
  assert.equal(
    d.stderr(),
    `syncgate: [emerg] bind() to 127.0.0.1:${port} failed (98: Address already in use)\n`,
  );
  assert.equal(existsSync(join(dir, "run/syncgate.pid")), false);
});
