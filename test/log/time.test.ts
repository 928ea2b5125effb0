/** Log timestamps at fixed instants, with the zone offset injected (ngx_time_update()'s formats). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { localOffset, logTimes } from "../../src/log/time.js";

const AT = Date.UTC(2026, 10, 25, 12, 0, 0); // 2026-11-25T12:00:00Z

test("UTC", () => {
  const t = logTimes(() => 0);
  assert.equal(t.timeLocal(AT), "25/Nov/2026:12:00:00 +0000");
  assert.equal(t.timeIso8601(AT), "2026-11-25T12:00:00+00:00");
  assert.equal(t.errorLogTime(AT), "2026/11/25 12:00:00");
});

test("positive, negative and half-hour offsets", () => {
  const rows: [number, string, string, string][] = [
    [360, "25/Nov/2026:18:00:00 +0600", "2026-11-25T18:00:00+06:00", "2026/11/25 18:00:00"],
    [-300, "25/Nov/2026:07:00:00 -0500", "2026-11-25T07:00:00-05:00", "2026/11/25 07:00:00"],
    [330, "25/Nov/2026:17:30:00 +0530", "2026-11-25T17:30:00+05:30", "2026/11/25 17:30:00"],
    [-570, "25/Nov/2026:02:30:00 -0930", "2026-11-25T02:30:00-09:30", "2026/11/25 02:30:00"],
    [-780, "24/Nov/2026:23:00:00 -1300", "2026-11-24T23:00:00-13:00", "2026/11/24 23:00:00"],
  ];
  for (const [off, local, iso, err] of rows) {
    const t = logTimes(() => off);
    assert.deepEqual(
      [t.timeLocal(AT), t.timeIso8601(AT), t.errorLogTime(AT)],
      [local, iso, err],
      String(off),
    );
  }
});

test("zero padding and milliseconds ignored", () => {
  const t = logTimes(() => 0);
  const early = Date.UTC(2027, 0, 5, 3, 4, 5) + 999;
  assert.equal(t.timeLocal(early), "05/Jan/2027:03:04:05 +0000");
  assert.equal(t.timeIso8601(early), "2027-01-05T03:04:05+00:00");
  assert.equal(t.errorLogTime(early), "2027/01/05 03:04:05");
});

test("one computation per second", () => {
  let calls = 0;
  const t = logTimes(() => {
    calls++;
    return 0;
  });
  const a = t.timeLocal(AT);
  assert.equal(t.timeLocal(AT + 999), a);
  t.timeIso8601(AT + 500);
  t.errorLogTime(AT + 1);
  assert.equal(calls, 1);
  assert.equal(t.timeLocal(AT + 1000), "25/Nov/2026:12:00:01 +0000");
  assert.equal(calls, 2);
});

test("the default offset follows the process zone, daylight saving included", (t) => {
  // Node re-reads process.env.TZ when it changes; restore it for the rest of the process.
  const saved = process.env["TZ"];
  t.after(() => {
    if (saved === undefined) delete process.env["TZ"];
    else process.env["TZ"] = saved;
  });
  process.env["TZ"] = "Asia/Kolkata";
  assert.equal(logTimes().timeLocal(AT), "25/Nov/2026:17:30:00 +0530");
  process.env["TZ"] = "America/New_York";
  const summer = Date.UTC(2026, 6, 1, 12, 0, 0);
  assert.equal(logTimes().timeIso8601(summer), "2026-07-01T08:00:00-04:00");
  assert.equal(logTimes().timeIso8601(AT), "2026-11-25T07:00:00-05:00");
  assert.equal(localOffset(AT), -300);
});
