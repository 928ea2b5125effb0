/** Error log: nginx's exact line shape, level filtering per target, the request context suffix. */
import assert from "node:assert/strict";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ErrorLogConf } from "../../src/config/types.js";
import { ErrorLog, errorLogContext } from "../../src/log/error-log.js";
import { logTimes } from "../../src/log/time.js";
import { tempDir } from "../support/tmp.js";

const AT = Date.UTC(2026, 10, 25, 12, 0, 0);
const read = (p: string): string => (existsSync(p) ? readFileSync(p, "utf8") : "<missing>");

function errorLog(confs: ErrorLogConf[]): ErrorLog {
  return new ErrorLog(confs, { pid: 1234, now: () => AT, times: logTimes(() => 0) });
}

test("the nginx example line, with connection number and context", async (t) => {
  const path = join(tempDir(t), "error.log");
  const log = errorLog([{ path, level: "error" }]);
  const context = errorLogContext({
    action: "reading response header from upstream",
    client: "127.0.0.1",
    server: "www.example.com",
    request: "GET / HTTP/1.1",
    upstream: "http://127.0.0.1:8081/",
    host: "www.example.com",
  });
  log.log("error", `upstream timed out (110: Connection timed out)${context}`, 5);
  log.log("warn", "not admitted");
  log.log("emerg", "no connection number");
  await log.close();
  assert.equal(
    read(path),
    "2026/11/25 12:00:00 [error] 1234#0: *5 upstream timed out (110: Connection timed out) while reading response " +
      'header from upstream, client: 127.0.0.1, server: www.example.com, request: "GET / HTTP/1.1", upstream: ' +
      '"http://127.0.0.1:8081/", host: "www.example.com"\n' +
      "2026/11/25 12:00:00 [emerg] 1234#0: no connection number\n",
  );
});

test("each target writes the levels it admits: its own and the more severe", async (t) => {
  const dir = tempDir(t);
  const [warn, error, debug] = ["warn.log", "error.log", "debug.log"].map((f) => join(dir, f)) as [
    string,
    string,
    string,
  ];
  const log = errorLog([
    { path: warn, level: "warn" },
    { path: error, level: "error" },
    { path: debug, level: "debug" },
  ]);
  await log.open();
  const levels = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"] as const;
  for (const level of levels) log.log(level, level);
  await log.close();
  const lines = (names: readonly string[]): string =>
    names.map((l) => `2026/11/25 12:00:00 [${l}] 1234#0: ${l}\n`).join("");
  assert.equal(read(warn), lines(["warn", "error", "crit", "alert", "emerg"]));
  assert.equal(read(error), lines(["error", "crit", "alert", "emerg"]));
  assert.equal(read(debug), lines(levels));
});

test("admits() tells whether any target would write a level", () => {
  const log = errorLog([{ path: "/nonexistent/never-opened.log", level: "notice" }]);
  assert.deepEqual(
    (["emerg", "error", "notice", "info", "debug"] as const).map((l) => log.admits(l)),
    [true, true, true, false, false],
  );
  assert.equal(errorLog([]).admits("emerg"), false);
});

test("two targets naming one file share it, and each writes what it admits (as nginx)", async (t) => {
  const path = join(tempDir(t), "e.log");
  const log = errorLog([
    { path, level: "info" },
    { path, level: "error" },
  ]);
  log.log("info", "once");
  log.log("error", "twice");
  await log.close();
  assert.equal(
    read(path),
    "2026/11/25 12:00:00 [info] 1234#0: once\n" +
      "2026/11/25 12:00:00 [error] 1234#0: twice\n" +
      "2026/11/25 12:00:00 [error] 1234#0: twice\n",
  );
});

test("a line is cut at nginx's 2048 bytes, linefeed included", async (t) => {
  const path = join(tempDir(t), "long.log");
  const log = errorLog([{ path, level: "error" }]);
  log.log("error", "x".repeat(3000));
  await log.close();
  const text = read(path);
  assert.equal(text.length, 2048);
  assert.equal(text, `2026/11/25 12:00:00 [error] 1234#0: ${"x".repeat(2047 - 36)}\n`);
});

test("messages are written as UTF-8", async (t) => {
  const path = join(tempDir(t), "u.log");
  const log = errorLog([{ path, level: "error" }]);
  log.log("error", 'open() "/srv/café" failed');
  await log.close();
  assert.equal(read(path), '2026/11/25 12:00:00 [error] 1234#0: open() "/srv/café" failed\n');
});

test("reopen moves later lines to the new file", async (t) => {
  const path = join(tempDir(t), "error.log");
  const log = errorLog([{ path, level: "error" }]);
  log.log("error", "before");
  await log.reopen();
  renameSync(path, `${path}.1`);
  await log.reopen();
  log.log("error", "after");
  await log.close();
  assert.equal(read(`${path}.1`), "2026/11/25 12:00:00 [error] 1234#0: before\n");
  assert.equal(read(path), "2026/11/25 12:00:00 [error] 1234#0: after\n");
});

test("errorLogContext leaves out what is absent", () => {
  assert.equal(errorLogContext({}), "");
  assert.equal(
    errorLogContext({ client: "10.0.0.1", server: "0.0.0.0:80" }),
    ", client: 10.0.0.1, server: 0.0.0.0:80",
  );
  assert.equal(
    errorLogContext({ client: "::1", server: "", request: "", host: "", referrer: "http://r/" }),
    ', client: ::1, server: , host: "", referrer: "http://r/"',
  );
  assert.equal(
    errorLogContext({ action: "connecting to upstream", upstream: null }),
    " while connecting to upstream",
  );
});
