/** nginx value syntaxes: times, sizes, numbers; and the did-you-mean distance. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { closest, parseNumber, parseSize, parseTime } from "../../src/config/values.js";

test("times in milliseconds, nginx units in decreasing order", () => {
  const ok: [string, number][] = [
    ["75", 75_000],
    ["75s", 75_000],
    ["500ms", 500],
    ["6m", 360_000],
    ["1h 30m", 5_400_000],
    ["1h30m", 5_400_000],
    ["2d", 172_800_000],
    ["1w", 604_800_000],
    ["0", 0],
    ["1m 1s 1ms", 61_001],
  ];
  for (const [text, ms] of ok) assert.equal(parseTime(text), ms, text);
  for (const bad of ["", "s", "1x", "30m 1h", "1s 1s", "-1", "1.5s", "1y", "1M", "10 20"]) {
    assert.equal(parseTime(bad), null, bad);
  }
  assert.equal(parseTime("1y", true), 31_536_000_000);
  assert.equal(parseTime("1M", true), 2_592_000_000);
  assert.equal(parseTime("500ms", true), null);
});

test("sizes in bytes", () => {
  assert.equal(parseSize("512"), 512);
  assert.equal(parseSize("8k"), 8192);
  assert.equal(parseSize("8K"), 8192);
  assert.equal(parseSize("1m"), 1_048_576);
  assert.equal(parseSize("2g"), 2_147_483_648);
  for (const bad of ["", "1.5m", "1t", "k", "-1", "1 m"]) assert.equal(parseSize(bad), null, bad);
});

test("numbers", () => {
  assert.equal(parseNumber("0"), 0);
  assert.equal(parseNumber("60000"), 60000);
  for (const bad of ["", "-1", "1e3", "0x10", "9999999999"]) assert.equal(parseNumber(bad), null, bad);
});

test("did you mean", () => {
  const names = ["proxy_pass", "proxy_set_header", "server_name", "listen"];
  assert.equal(closest("proxy_pas", names), "proxy_pass");
  assert.equal(closest("server_nam", names), "server_name");
  assert.equal(closest("lisen", names), "listen");
  assert.equal(closest("gzip", names), null);
});
