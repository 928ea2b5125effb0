/** Registry key → address (upsync spec §2.3), value → attributes (§2.4), tags → attributes (§3.1): one row per case. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type Attributes,
  REGISTRY_DEFAULTS,
  catalogAddress,
  decodeBase64,
  parseServerKey,
  parseTags,
  parseValue,
  showValue,
} from "../../src/discovery/server-entry.js";

test("key tail → server address, or the module's check_key words", () => {
  const rows: [string, string][] = [
    ["127.0.0.1:8080", "127.0.0.1:8080"],
    ["10.0.0.1:1", "10.0.0.1:1"],
    ["10.0.0.1:65535", "10.0.0.1:65535"],
    // Identity is canonical: the module compared "10.0.0.1:080" verbatim (a second peer for the same socket).
    ["10.0.0.1:080", "10.0.0.1:80"],
    ["010.000.000.001:80", "10.0.0.1:80"],
    ["0.0.0.0:80", "0.0.0.0:80"],
    // Folder key `upstreams/test/` (issue #264).
    ["", "upsync_check_key: has no port in /"],
    ["127.0.0.1", "upsync_check_key: has no port in /127.0.0.1"],
    ["localhost:80", "upsync_check_key: invalid ip in /localhost:80"],
    ["backend.local:8080", "upsync_check_key: invalid ip in /backend.local:8080"],
    ["1.2.3:80", "upsync_check_key: invalid ip in /1.2.3:80"],
    ["1.2.3.4.5:80", "upsync_check_key: invalid ip in /1.2.3.4.5:80"],
    ["1.2.3.256:80", "upsync_check_key: invalid ip in /1.2.3.256:80"],
    ["255.255.255.255:80", "upsync_check_key: invalid ip in /255.255.255.255:80"],
    // Stricter than ngx_inet_addr(), which read an empty octet as 0.
    ["1..2.3:80", "upsync_check_key: invalid ip in /1..2.3:80"],
    [" 1.2.3.4:80", "upsync_check_key: invalid ip in / 1.2.3.4:80"],
    [":80", "upsync_check_key: invalid ip in /:80"],
    ["1.2.3.4:", "upsync_check_key: invalid port in /1.2.3.4:"],
    ["1.2.3.4:0", "upsync_check_key: invalid port in /1.2.3.4:0"],
    ["1.2.3.4:65536", "upsync_check_key: invalid port in /1.2.3.4:65536"],
    ["1.2.3.4:80x", "upsync_check_key: invalid port in /1.2.3.4:80x"],
    ["1.2.3.4:-1", "upsync_check_key: invalid port in /1.2.3.4:-1"],
    ["1.2.3.4:80:90", "upsync_check_key: invalid port in /1.2.3.4:80:90"],
    ["1.2.3.4: 80", "upsync_check_key: invalid port in /1.2.3.4: 80"],
    // IPv6 keys: a documented addition (the module refused them).
    ["[::1]:8080", "[::1]:8080"],
    ["[2001:DB8:0:0::1]:80", "[2001:db8::1]:80"],
    ["[::ffff:1.2.3.4]:80", "[::ffff:102:304]:80"],
    ["[::1]", "upsync_check_key: has no port in /[::1]"],
    ["[::1]80", "upsync_check_key: has no port in /[::1]80"],
    ["[::1]:0", "upsync_check_key: invalid port in /[::1]:0"],
    ["[::1]:99999", "upsync_check_key: invalid port in /[::1]:99999"],
    ["[::1:80", "upsync_check_key: invalid ip in /[::1:80"],
    ["[zz::1]:80", "upsync_check_key: invalid ip in /[zz::1]:80"],
    ["[1.2.3.4]:80", "upsync_check_key: invalid ip in /[1.2.3.4]:80"],
    ["[fe80::1%eth0]:80", "upsync_check_key: invalid ip in /[fe80::1%eth0]:80"],
    ["::1:80", "upsync_check_key: invalid ip in /::1:80"],
  ];
  for (const [tail, want] of rows) {
    const got = parseServerKey(tail);
    assert.equal("reason" in got ? got.reason : got.address, want, tail);
  }
  assert.deepEqual(parseServerKey("[::1]:8080"), { address: "[::1]:8080", host: "::1", port: 8080 });
  assert.deepEqual(parseServerKey("010.0.0.1:080"), { address: "10.0.0.1:80", host: "10.0.0.1", port: 80 });
});

const W = (field: string, def: number) => `"${field}" value is invalid, setting default value ${def}`;

test("value → attributes: defaults, replaced not merged, every field rule of spec §2.4", () => {
  const d = REGISTRY_DEFAULTS;
  // [value text, attributes that differ from the defaults, warnings]
  const rows: [string | null, Partial<Attributes>, string[]][] = [
    // Empty / null Value (a bare `curl -X PUT`): defaults, no log.
    [null, {}, []],
    ["", {}, []],
    [" \n", {}, []],
    ["{}", {}, []],
    ['{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}', {}, []],
    // Absolute values: what is not written takes its default (the module's test: weight 40 → 40/2/10).
    ['{"weight":40}', { weight: 40 }, []],
    ['{"weight":20,"max_fails":0,"fail_timeout":30}', { weight: 20, maxFails: 0, failTimeout: 30_000 }, []],
    // weight: numbers truncated; must end > 0.
    ['{"weight":2.7}', { weight: 2 }, []],
    ['{"weight":0}', {}, [W("weight", 1)]],
    ['{"weight":0.5}', {}, [W("weight", 1)]],
    ['{"weight":-3}', {}, [W("weight", 1)]], // the module ignored a negative number silently
    ['{"weight":"3"}', { weight: 3 }, []],
    ['{"weight":"abc"}', {}, [W("weight", 1)]],
    ['{"weight":"-1"}', {}, [W("weight", 1)]],
    ['{"weight":""}', {}, [W("weight", 1)]],
    ['{"weight":"2.5"}', {}, [W("weight", 1)]],
    ['{"weight":null}', {}, []], // issue 4: null takes the default
    ['{"weight":true}', { weight: 1 }, []],
    ['{"weight":false}', {}, [W("weight", 1)]],
    ['{"weight":[2]}', {}, [W("weight", 1)]],
    ['{"weight":{"v":2}}', {}, [W("weight", 1)]],
    ['{"weight":3000000000}', {}, [W("weight", 1)]],
    ['{"weight":2147483647}', { weight: 2147483647 }, []],
    // Field names ignore case (cJSON_GetObjectItem); the first match wins.
    [
      '{"Weight":5,"MAX_FAILS":3,"Fail_Timeout":7,"DOWN":1,"Backup":1}',
      { weight: 5, maxFails: 3, failTimeout: 7_000, down: true, backup: true },
      [],
    ],
    ['{"weight":5,"WEIGHT":6}', { weight: 5 }, []],
    // max_fails: 0 allowed (never marked failed).
    ['{"max_fails":0}', { maxFails: 0 }, []],
    ['{"max_fails":5}', { maxFails: 5 }, []],
    ['{"max_fails":null}', {}, []], // issue 4: the module made it 0
    ['{"max_fails":-1}', {}, [W("max_fails", 2)]],
    ['{"max_fails":"4"}', { maxFails: 4 }, []],
    ['{"max_fails":"x"}', {}, [W("max_fails", 2)]],
    ['{"max_fails":false}', { maxFails: 0 }, []],
    ['{"max_fails":true}', { maxFails: 1 }, []],
    ['{"max_fails":[]}', {}, [W("max_fails", 2)]],
    ['{"max_fails":-0.5}', { maxFails: 0 }, []],
    // fail_timeout: integer seconds; a unit is invalid in a value (tags take units).
    ['{"fail_timeout":30}', { failTimeout: 30_000 }, []],
    ['{"fail_timeout":0}', { failTimeout: 0 }, []],
    ['{"fail_timeout":1.5}', { failTimeout: 1_000 }, []],
    ['{"fail_timeout":"20"}', { failTimeout: 20_000 }, []],
    ['{"fail_timeout":"10s"}', {}, [W("fail_timeout", 10)]],
    ['{"fail_timeout":-1}', {}, [W("fail_timeout", 10)]],
    ['{"fail_timeout":null}', {}, []], // issue 4: the module made it 0
    // down: non-zero numbers taken then checked, strings through atoi.
    ['{"down":1}', { down: true }, []],
    ['{"down":true}', { down: true }, []],
    ['{"down":"1"}', { down: true }, []],
    ['{"down":1.9}', { down: true }, []],
    ['{"down":0}', {}, []],
    ['{"down":false}', {}, []],
    ['{"down":"0"}', {}, []],
    ['{"down":0.5}', {}, []],
    ['{"down":null}', {}, []],
    ['{"down":2}', {}, [W("down", 0)]],
    ['{"down":-1}', {}, [W("down", 0)]],
    ['{"down":"true"}', {}, [W("down", 0)]],
    ['{"down":"yes"}', {}, [W("down", 0)]],
    ['{"down":[1]}', {}, [W("down", 0)]],
    // backup: same rules; honoured as a backup server (issue 4; the module ignored it).
    ['{"backup":1}', { backup: true }, []],
    ['{"backup":true}', { backup: true }, []],
    ['{"backup":"1"}', { backup: true }, []],
    ['{"backup":0}', {}, []],
    ['{"backup":3}', {}, [W("backup", 0)]],
    ['{"down":1,"backup":1}', { down: true, backup: true }, []],
    // Unknown fields are ignored (max_conns, slow_start are not registry attributes).
    ['{"max_conns":5,"slow_start":10,"tags":["a"]}', {}, []],
    // Several bad fields: one message each, in field order.
    [
      '{"weight":0,"max_fails":"x","fail_timeout":"1m","down":"on","backup":-2}',
      {},
      [W("weight", 1), W("max_fails", 2), W("fail_timeout", 10), W("down", 0), W("backup", 0)],
    ],
  ];
  for (const [text, attrs, warnings] of rows) {
    assert.deepEqual(parseValue(text), { attrs: { ...d, ...attrs }, warnings }, String(text));
  }
});

test("value that is not a JSON object: unusable (issue 4; the module added the server with defaults)", () => {
  const rows: [string, string][] = [
    ["{weight:1}", "upsync_parse_json: parse '{weight:1}' failed"],
    ['{"weight":1', `upsync_parse_json: parse '{"weight":1' failed`],
    ['{"weight":3} x', `upsync_parse_json: parse '{"weight":3} x' failed`], // cJSON ignored trailing text
    ["weight=1", "upsync_parse_json: parse 'weight=1' failed"],
    ["1", "upsync_parse_json: '1' is not a JSON object"],
    ["[1,2]", "upsync_parse_json: '[1,2]' is not a JSON object"],
    ['"x"', `upsync_parse_json: '"x"' is not a JSON object`],
    ["true", "upsync_parse_json: 'true' is not a JSON object"],
    ["null", "upsync_parse_json: 'null' is not a JSON object"],
    ["{\n", "upsync_parse_json: parse '{\\x0a' failed"],
  ];
  for (const [text, invalid] of rows) assert.deepEqual(parseValue(text), { invalid }, text);
});

test("values in log lines: control characters escaped, long values cut", () => {
  assert.equal(showValue("a\tb\r\n"), "a\\x09b\\x0d\\x0a");
  assert.equal(showValue("x".repeat(300)), `${"x".repeat(256)}...`);
  // No 1 KiB limit on values (issue 4): a long value with a valid object reads fine.
  const long = JSON.stringify({ weight: 3, note: "n".repeat(5000) });
  assert.deepEqual(parseValue(long), { attrs: { ...REGISTRY_DEFAULTS, weight: 3 }, warnings: [] });
});

test("service tags → attributes (spec §3.1)", () => {
  const rows: [unknown, Partial<Attributes>, string[]][] = [
    [[], {}, []],
    [null, {}, []],
    ["weight=3", {}, []],
    [["weight=3"], { weight: 3 }, []],
    [["weight=0"], {}, [W("weight", 1)]],
    [["weight=x"], {}, [W("weight", 1)]],
    [["weight="], {}, [W("weight", 1)]],
    [["weight=-2"], {}, [W("weight", 1)]],
    [["max_fails=0"], { maxFails: 0 }, []],
    [["max_fails=4"], { maxFails: 4 }, []],
    [["max_fails=-1"], {}, [W("max_fails", 2)]],
    [["fail_timeout=20"], { failTimeout: 20_000 }, []],
    [["fail_timeout=20s"], { failTimeout: 20_000 }, []],
    [["fail_timeout=1m"], { failTimeout: 60_000 }, []],
    [["fail_timeout=1m30s"], { failTimeout: 90_000 }, []],
    [["fail_timeout=500ms"], {}, [W("fail_timeout", 10)]],
    [["fail_timeout=abc"], {}, [W("fail_timeout", 10)]],
    [["down"], { down: true }, []],
    [["backup"], { backup: true }, []],
    [["down", "backup"], { down: true, backup: true }, []],
    // Exact tags only; anything else is someone else's tag.
    [["Down", "down=1", "BACKUP", "v1", "primary", "Weight=5"], {}, []],
    [[5, null, "weight=2"], { weight: 2 }, []],
    [["weight=2", "weight=4"], { weight: 4 }, []],
  ];
  for (const [tags, attrs, warnings] of rows) {
    assert.deepEqual(
      parseTags(tags),
      { attrs: { ...REGISTRY_DEFAULTS, ...attrs }, warnings },
      JSON.stringify(tags),
    );
  }
});

test("catalog address: IPv4 or IPv6 and a port number; host names refused like the module", () => {
  const rows: [string, unknown, string][] = [
    ["10.0.0.1", 8080, "10.0.0.1:8080"],
    ["::1", 80, "[::1]:80"],
    ["[::1]", 80, "[::1]:80"],
    ["2001:DB8::1", 80, "[2001:db8::1]:80"],
    ["web.service.consul", 80, "upsync_addrs: invalid ip in web.service.consul:80"],
    ["10.0.0.1", 0, "upsync_addrs: invalid port in 10.0.0.1:0"],
    ["10.0.0.1", 65536, "upsync_addrs: invalid port in 10.0.0.1:65536"],
    ["10.0.0.1", 80.5, "upsync_addrs: invalid port in 10.0.0.1:80.5"],
    ["10.0.0.1", "80", "upsync_addrs: invalid port in 10.0.0.1:80"],
    ["10.0.0.1", undefined, "upsync_addrs: invalid port in 10.0.0.1:"],
  ];
  for (const [addr, port, want] of rows) {
    const got = catalogAddress(addr, port);
    assert.equal("reason" in got ? got.reason : got.address, want, `${addr} ${String(port)}`);
  }
});

test("base64 is strict", () => {
  assert.equal(decodeBase64(Buffer.from('{"weight":2}').toString("base64")), '{"weight":2}');
  assert.equal(decodeBase64(""), "");
  for (const bad of ["e30", "e30=x", "!!!!", "e3 0=", "e30==="]) assert.equal(decodeBase64(bad), null, bad);
});
