/**
 * Logs through the real proxy: `error_log` levels, `access_log off` in a location, buffered access logs, and the
 * variables that describe a request's tries and time ($upstream_status, $upstream_response_time, $request_time,
 * $status 499), with the values nginx 1.22 logs for the same requests (checked on this machine).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { startBackend, startRawBackend } from "../support/backend.js";
import { send, until } from "../support/client.js";
import { logLines } from "../support/logs.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";
import { openClient } from "../support/sockets.js";
import { startWholeConfig } from "../support/whole-config.js";

test("error_log FILE warn keeps errors and drops info lines; info keeps both", async (t) => {
  const [dead, port] = [await freePort(), await freePort()];
  const { proxy, dir } = await startWholeConfig(
    t,
    (d) => `error_log ${join(d, "warn.log")} warn;
      error_log ${join(d, "info.log")} info;
      events {}
      http { access_log off;
        server { listen 127.0.0.1:${port}; location / { proxy_pass http://127.0.0.1:${dead}; } } }`,
  );
  // A bad request is logged at info, a refused upstream at error.
  const c = await openClient(t, port);
  c.write("GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n");
  await c.waitClosed(2000);
  assert.equal((await send(port, "/down")).status, 502);
  await proxy.close();
  const levels = (name: string): string[] =>
    logLines(join(dir, name)).map((l) => /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\]/.exec(l)?.[1] ?? l);
  assert.deepEqual(levels("warn.log"), ["error"]);
  assert.deepEqual(levels("info.log"), ["info", "error"]);
  assert.match(logLines(join(dir, "warn.log"))[0]!, /connect\(\) failed \(111: Connection refused\)/);
});

test("access_log off in a location writes nothing for its requests; other locations still log", async (t) => {
  const port = await freePort();
  const p = await startProxy(
    t,
    `server { listen 127.0.0.1:${port};
       location /quiet/ { access_log off; return 200 "q"; }
       location / { return 200 "l"; } }`,
  );
  for (const path of ["/quiet/1", "/loud", "/quiet/2"]) assert.equal((await send(port, path)).status, 200);
  await p.proxy.close();
  assert.deepEqual(
    logLines(p.accessLogPath).map((l) => l.replace(/ [\d.]+$/, "")),
    ['127.0.0.1 "GET /loud HTTP/1.1" 200 1 "-" "-"'],
  );
});

test("access_log buffer=32k flush=200ms holds lines until the flush time", async (t) => {
  const port = await freePort();
  const p = await startProxy(
    t,
    `server { listen 127.0.0.1:${port};
       location / { access_log buffered.log test buffer=32k flush=200ms; return 200 "b"; } }`,
  );
  const file = join(p.dir, "buffered.log");
  const answered = Date.now();
  await send(port, "/one");
  await send(port, "/two");
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(logLines(file), [], "nothing is written before the flush time");
  await until(() => logLines(file).length === 2, 2000);
  const waited = Date.now() - answered;
  assert.ok(waited >= 180 && waited < 1500, `written after ${waited} ms`);
  assert.deepEqual(
    logLines(file).map((l) => l.split('"')[1]),
    ["GET /one HTTP/1.1", "GET /two HTTP/1.1"],
  );
});

test("$upstream_status and $upstream_response_time list every try: refused then served, timed out then served", async (t) => {
  const good = await startBackend(t, "good");
  const silent = await startRawBackend(t, () => {});
  const dead = await freePort();
  const port = await freePort();
  const p = await startProxy(
    t,
    `log_format tries '$upstream_addr|$upstream_status|$upstream_response_time|$status';
     upstream refused { server 127.0.0.1:${dead}; server ${good.addr}; }
     upstream slow { server ${silent.addr}; server ${good.addr}; }
     server { listen 127.0.0.1:${port}; access_log tries.log tries;
       location /r/ { proxy_pass http://refused; }
       location /s/ { proxy_read_timeout 200ms; proxy_pass http://slow; } }`,
  );
  assert.equal((await send(port, "/r/x")).body, "good GET /r/x");
  assert.equal((await send(port, "/s/x")).body, "good GET /s/x");
  await p.proxy.close();
  const [refused, slow] = logLines(join(p.dir, "tries.log")).map((l) => l.split("|"));
  assert.deepEqual(
    [refused![0], refused![1], refused![3]],
    [`127.0.0.1:${dead}, ${good.addr}`, "502, 200", "200"],
  );
  assert.match(refused![2]!, /^\d+\.\d{3}, \d+\.\d{3}$/);
  assert.deepEqual([slow![0], slow![1], slow![3]], [`${silent.addr}, ${good.addr}`, "504, 200", "200"]);
  const times = slow![2]!.split(", ").map(Number);
  assert.match(slow![2]!, /^\d+\.\d{3}, \d+\.\d{3}$/);
  assert.ok(times[0]! >= 0.19 && times[0]! < 1, `the timed-out try took ${times[0]} s`);
});

test("$request_time has millisecond precision and covers the upstream's delay", async (t) => {
  const b = await startBackend(t, "b", (_q, res) => void setTimeout(() => res.end("late"), 250));
  const port = await freePort();
  const p = await startProxy(
    t,
    `server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  assert.equal((await send(port, "/t")).body, "late");
  await p.proxy.close();
  const time = / (\d+\.\d+)$/.exec(logLines(p.accessLogPath)[0]!)?.[1] ?? "";
  assert.match(time, /^\d+\.\d{3}$/);
  assert.ok(Number(time) >= 0.25 && Number(time) < 2, time);
});

test("$status is 499 when the client closes before the response; the try has no $upstream_status", async (t) => {
  const b = await startBackend(t, "b", (_q, res) => void setTimeout(() => res.end("too late"), 1000));
  const port = await freePort();
  const p = await startProxy(
    t,
    `server { listen 127.0.0.1:${port}; location / { proxy_pass http://${b.addr}; } }`,
  );
  const c = await openClient(t, port);
  c.write("GET /gone HTTP/1.1\r\nHost: x\r\n\r\n");
  await until(() => b.seen.length === 1, 2000);
  c.socket.destroy();
  await until(() => logLines(p.accessLogPath).length === 1, 2000);
  assert.match(
    logLines(p.accessLogPath)[0]!,
    new RegExp(`^127\\.0\\.0\\.1 "GET /gone HTTP/1\\.1" 499 0 "${b.addr}" "-" `),
  );
});
