/** What operators type (issue 6): addresses and attributes checked, with the messages `ctl` and the API show. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAddress, toValue, valueJson } from "../../src/control/registry-writer.js";
import { ControlError, DEFAULT_VALUE } from "../../src/control/types.js";
import { serverValue } from "../../src/control/value.js";
import { parseValue } from "../../src/discovery/server-entry.js";

/** The ControlError `fn` throws: `code: message`. */
function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ControlError, String(e));
    assert.equal(e.status, 400);
    return `${e.code}: ${e.message}`;
  }
  return assert.fail("no error");
}

test("parseAddress: IP literals with a port, in the form every source names a server", () => {
  for (const [given, want] of [
    ["10.0.0.1:80", "10.0.0.1:80"],
    ["  10.0.0.1:8080\n", "10.0.0.1:8080"],
    ["010.000.0.1:080", "10.0.0.1:80"],
    ["[::1]:80", "[::1]:80"],
    ["[2001:DB8:0:0::1]:443", "[2001:db8::1]:443"],
  ]) {
    assert.equal(parseAddress(given!), want, given);
  }
  for (const [given, want] of [
    ["web1:80", `"web1:80": the host must be an IPv4 or [IPv6] address (registries take no host names)`],
    ["10.0.0.1", `"10.0.0.1": expected IP:PORT or [IPv6]:PORT`],
    ["", `"": expected IP:PORT or [IPv6]:PORT`],
    ["10.0.0.1:0", `"10.0.0.1:0": the port must be a number from 1 to 65535`],
    ["10.0.0.1:65536", `"10.0.0.1:65536": the port must be a number from 1 to 65535`],
    ["10.0.0.1:80x", `"10.0.0.1:80x": the port must be a number from 1 to 65535`],
    [
      "256.0.0.1:80",
      `"256.0.0.1:80": the host must be an IPv4 or [IPv6] address (registries take no host names)`,
    ],
    ["::1:80", `"::1:80": write an IPv6 address in brackets: [::1]:80`],
    [
      "[fe80::1%eth0]:80",
      `"[fe80::1%eth0]:80": the host must be an IPv4 or [IPv6] address (registries take no host names)`,
    ],
    ["10.0.0.1:80\u0000", `"10.0.0.1:80\\x00": the port must be a number from 1 to 65535`],
  ]) {
    assert.equal(
      error(() => parseAddress(given!)),
      `InvalidAddress: invalid address ${want}`,
      given,
    );
  }
});

test("toValue: fields over the defaults (or a base), strings as ctl passes them, flags boolean-ish", () => {
  assert.deepEqual(toValue({}), DEFAULT_VALUE);
  assert.deepEqual(toValue({ weight: 3, max_fails: 0, fail_timeout: 0, down: true, backup: "on" }), {
    weight: 3,
    max_fails: 0,
    fail_timeout: 0,
    down: 1,
    backup: 1,
  });
  assert.deepEqual(toValue({ weight: "7", max_fails: "4", fail_timeout: "1m", down: "false", backup: 0 }), {
    weight: 7,
    max_fails: 4,
    fail_timeout: 60,
    down: 0,
    backup: 0,
  });
  assert.deepEqual(toValue({ fail_timeout: "30s" }).fail_timeout, 30);
  assert.deepEqual(toValue({ fail_timeout: "1m30s" }).fail_timeout, 90);
  const base = { weight: 9, max_fails: 0, fail_timeout: 3, down: 1 as const, backup: 0 as const };
  assert.deepEqual(toValue({ down: "0" }, base), { ...base, down: 0 });
  assert.deepEqual(toValue({ weight: undefined }, base), base);
});

test("toValue: each invalid field is InvalidValue naming the field, the value and the rule", () => {
  for (const [given, want] of [
    [{ weight: 0 }, `invalid "weight" value 0: a whole number from 1`],
    [{ weight: 1.5 }, `invalid "weight" value 1.5: a whole number from 1`],
    [{ weight: "-1" }, `invalid "weight" value "-1": a whole number from 1`],
    [{ weight: 2147483648 }, `invalid "weight" value 2147483648: a whole number from 1`],
    [{ weight: null }, `invalid "weight" value null: a whole number from 1`],
    [{ max_fails: -1 }, `invalid "max_fails" value -1: a whole number from 0`],
    [{ max_fails: "x" }, `invalid "max_fails" value "x": a whole number from 0`],
    [{ fail_timeout: "10ms" }, `invalid "fail_timeout" value "10ms": whole seconds from 0 (10, 10s, 1m)`],
    [{ fail_timeout: -5 }, `invalid "fail_timeout" value -5: whole seconds from 0 (10, 10s, 1m)`],
    [{ fail_timeout: 2.5 }, `invalid "fail_timeout" value 2.5: whole seconds from 0 (10, 10s, 1m)`],
    [{ down: 2 }, `invalid "down" value 2: true or false (1, 0, on, off)`],
    [{ backup: "maybe" }, `invalid "backup" value "maybe": true or false (1, 0, on, off)`],
    [{ wieght: 2 }, `unknown attribute "wieght" (known: weight, max_fails, fail_timeout, down, backup)`],
  ] as const) {
    assert.equal(
      error(() => toValue(given)),
      `InvalidValue: ${want}`,
      JSON.stringify(given),
    );
  }
});

test("valueJson: compact, every field in order; the read side gets the same value back", () => {
  const v = { weight: 2, max_fails: 0, fail_timeout: 30, down: 1 as const, backup: 1 as const };
  assert.equal(valueJson(v), '{"weight":2,"max_fails":0,"fail_timeout":30,"down":1,"backup":1}');
  assert.equal(valueJson(DEFAULT_VALUE), '{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}');
  const read = parseValue(valueJson(v));
  assert.ok("attrs" in read);
  assert.deepEqual(read.warnings, []);
  const spec = {
    ...read.attrs,
    address: "10.0.0.1:80",
    host: "10.0.0.1",
    port: 80,
    maxConns: 0,
    slowStart: 0,
  };
  assert.deepEqual(serverValue({ ...spec, origin: { file: null, line: 0 } }), v);
});
