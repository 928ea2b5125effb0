/**
 * Issue 7 item 3: with 4 workers under bounded load on persistent keep-alive connections that never retry,
 * 10 reloads with real changes (a location's answer, an upstream's servers) fail no request, and no connection
 * is closed by the server without a "Connection: close" answer first — where `nginx -s reload` loses requests.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { startBackend } from "../support/backend.js";
import { waitReady, workerPids } from "../support/cluster.js";
import { startSyncgate } from "../support/daemon.js";
import { driveLoad, KeepAliveClient } from "../support/keepalive.js";
import { freePort } from "../support/ports.js";
import { tempDir } from "../support/tmp.js";
import { eventually, sleep } from "../support/wait.js";

const RELOADS = 10;

test("10 reloads under load with 4 workers: no failed request, no connection closed unasked", async (t) => {
  const backends = await Promise.all(["a", "b", "c"].map((n) => startBackend(t, n)));
  const port = await freePort();
  // Version i answers "v<i>" on /v and balances over a+b (even i) or a+b+c (odd i): both the location and the
  // upstream change on every reload.
  const conf = (i: number): string => {
    const servers = backends.slice(0, i % 2 === 0 ? 2 : 3).map((b) => `server ${b.addr};`);
    return (
      `worker_processes 4;\npid run/sg.pid;\nerror_log logs/error.log notice;\nevents {}\n` +
      `http {\n  access_log off;\n  upstream u { ${servers.join(" ")} }\n` +
      `  server {\n    listen 127.0.0.1:${port};\n    location / { proxy_pass http://u; }\n` +
      `    location /v { return 200 "v${i}"; }\n  }\n}\n`
    );
  };
  const dir = tempDir(t, { "sg.conf": conf(0), "logs/.keep": "", "run/.keep": "" });
  const d = startSyncgate(t, ["-c", "sg.conf"], dir);
  await waitReady(d, join(dir, "run/sg.pid"));
  assert.equal(workerPids(d.child.pid!).length, 4);

  let stop = false;
  const load = driveLoad({
    port,
    conns: 32,
    path: (i) => (i % 2 === 0 ? "/" : "/v"),
    done: () => stop,
    maxRequests: 2_000_000,
  });
  const logFile = join(dir, "logs/error.log");
  const log = (): string => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  try {
    for (let i = 1; i <= RELOADS; i++) {
      writeFileSync(join(dir, "sg.conf"), conf(i));
      d.child.kill("SIGHUP");
      await eventually(
        `reload ${i} applied`,
        () => log().includes(`reconfigured, generation ${i + 1}`),
        10_000,
      );
      // Every worker serves the new version on new connections before the next reload.
      await eventually(
        `v${i} served`,
        async () => {
          const clients = Array.from({ length: 8 }, () => new KeepAliveClient(port));
          const bodies = await Promise.all(clients.map(async (c) => (await c.get("/v")).body));
          clients.forEach((c) => c.close());
          return bodies.every((b) => b === `v${i}`);
        },
        10_000,
      );
      // Load on the new version (and old connections moving over) for a while before the next reload.
      await sleep(200);
    }
  } finally {
    stop = true;
  }
  const r = await load;
  t.diagnostic(
    `${RELOADS} reloads: ${r.ok} requests answered, ${r.failed} failed, ${r.unexpectedCloses} connections closed unasked`,
  );
  assert.equal(r.failed, 0, r.errors.join("; "));
  assert.equal(r.unexpectedCloses, 0);
  // The load saw the changes: every version's answer, and the upstream's third server.
  for (let i = 1; i <= RELOADS; i++) assert.ok(r.bodies.has(`v${i}`), `v${i} never answered the load`);
  assert.ok(
    [...r.bodies.keys()].some((b) => b.startsWith("c ")),
    "the third server never served",
  );
  assert.ok(r.ok > 2000, `only ${r.ok} requests`);
  assert.doesNotMatch(log(), /\[(alert|emerg|crit)\]/);
});
