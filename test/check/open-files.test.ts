/**
 * The real process under a low open-file limit (`ulimit -n 200`, as a shell sets it): 120 checked servers are more
 * than half of it, and syncgate says so once in its error log, with the limit it read from the system.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { until } from "../support/client.js";
import { waitListening } from "../support/daemon.js";
import { freePort } from "../support/ports.js";
import { BIN } from "../support/process.js";
import { tempDir } from "../support/tmp.js";

test("120 checked servers under `ulimit -n 200`: one warning naming both numbers", async (t) => {
  const port = await freePort();
  // Nothing listens on these: the probes fail, which does not matter here.
  const servers = await Promise.all(Array.from({ length: 120 }, () => freePort()));
  const conf =
    "error_log logs/error.log warn;\nevents {}\nhttp {\n  upstream pool {\n" +
    "    check interval=1000 rise=1 fall=1 timeout=300 type=tcp;\n" +
    servers.map((p) => `    server 127.0.0.1:${p};\n`).join("") +
    `  }\n  server { listen 127.0.0.1:${port}; location / { proxy_pass http://pool; } }\n}\n`;
  const dir = tempDir(t, { "syncgate.conf": conf, "logs/.keep": "" });
  const child = spawn(
    "sh",
    ["-c", 'ulimit -n 200 && exec "$0" "$@"', process.execPath, BIN, "-c", "syncgate.conf"],
    {
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  await waitListening(port);
  const log = () => readFileSync(join(dir, "logs/error.log"), "utf8");
  await until(() => log().includes("open-file limit"), 3000);
  const warnings = log()
    .split("\n")
    .filter((l) => l.includes("open-file limit"));
  assert.equal(warnings.length, 1, log());
  assert.match(
    warnings[0]!,
    /\[warn\] .*120 checked servers hold up to 120 probe sockets, more than half of the open-file limit \(200\)/,
  );
  child.kill("SIGTERM");
  await exited;
  // 120 probes at once and Node's own files stay under 200: nothing failed for want of a file.
  assert.doesNotMatch(stderr + log(), /\(24: Too many open files\)/);
});
