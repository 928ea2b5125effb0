/**
 * `npm start`: the quick start runs syncgate in front of two demo backends listed in a watched file, and stops
 * cleanly on Ctrl-C.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { send, until } from "../support/client.js";

const START = fileURLToPath(new URL("../../../examples/quickstart/start.js", import.meta.url));
const CONF = fileURLToPath(new URL("../../../examples/quickstart/syncgate.conf", import.meta.url));
const BIN = fileURLToPath(new URL("../../../bin/syncgate", import.meta.url));

test("the quick start serves both demo backends through syncgate, then stops on SIGINT with status 0", async (t) => {
  const child = spawn(process.execPath, [START], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
  await until(() => out.includes("Press Ctrl-C to stop.") || child.exitCode !== null, 15_000);
  assert.match(out, /syncgate is running on http:\/\/127\.0\.0\.1:8080\//, out);
  const bodies = [(await send(8080, "/a")).body, (await send(8080, "/b")).body];
  assert.deepEqual(bodies.map((b) => b.split(" (")[0]).sort(), [
    "Hello from backend-1",
    "Hello from backend-2",
  ]);
  assert.equal((await send(8080, "/healthz")).body, "ok\n");
  // The members come from the watched servers/demo.conf (upsync_type=file), in its order.
  assert.equal(
    (await send(8080, "/upstream_show?demo")).body,
    "Upstream name: demo; Backend server count: 2\n" +
      "        server 127.0.0.1:8081 weight=1 max_fails=2 fail_timeout=3s;\n" +
      "        server 127.0.0.1:8082 weight=1 max_fails=2 fail_timeout=3s;\n",
  );
  // The admin API answers syncgate ctl on loopback with the quick start's password, and nobody without it.
  const ctl = spawnSync(process.execPath, [BIN, "ctl", "-c", CONF, "--json", "status"], {
    env: { ...process.env, SYNCGATE_API_AUTH: "admin:quickstart" },
    encoding: "utf8",
  });
  assert.equal(ctl.status, 0, ctl.stderr);
  assert.match(ctl.stdout, /127\.0\.0\.1:8081/);
  assert.equal((await send(8080, "/api/9/http/upstreams")).status, 401);
  const exited = once(child, "exit");
  child.kill("SIGINT");
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
  await assert.rejects(send(8080, "/"), /ECONNREFUSED/);
});
