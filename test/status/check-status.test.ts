/** check_status (check spec §3): exact html/csv/json bytes, args, methods, the JSON comma fix, prometheus. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CheckStatusFormat } from "../../src/config/types.js";
import {
  CHECK_STATUS_CONTENT_TYPES,
  NO_CHECK_SERVERS,
  checkStatusBadArgument,
  ngxArg,
  parseCheckStatusArgs,
  renderCheckStatus,
  type CheckPeerStatus,
  type CheckStatusInput,
  type PeerTraffic,
} from "../../src/status/check-status.js";
import { escapeLabelValue } from "../../src/status/check-metrics.js";

// The spec §3.3 example: one up, one down.
const SPEC_PEERS: CheckPeerStatus[] = [
  {
    index: 0,
    upstream: "backend",
    name: "127.0.0.1:1970",
    up: true,
    rise: 3,
    fall: 0,
    type: "http",
    port: 0,
  },
  {
    index: 1,
    upstream: "backend",
    name: "127.0.0.1:1971",
    up: false,
    rise: 0,
    fall: 3,
    type: "http",
    port: 0,
  },
];
// Three peers, the last one up: `status=down` drops it, which is where the module left a trailing comma.
const THREE: CheckPeerStatus[] = [
  ...SPEC_PEERS,
  { index: 7, upstream: "api", name: "[::1]:8080", up: true, rise: 58, fall: 0, type: "tcp", port: 8081 },
];
const input = (peers: CheckPeerStatus[], extra: Partial<CheckStatusInput> = {}): CheckStatusInput => ({
  generation: 1,
  peers,
  ...extra,
});
const get = (args: string | null = null) => ({ method: "GET", args });

function ok(format: CheckStatusFormat, body: string) {
  const type = CHECK_STATUS_CONTENT_TYPES[format];
  return {
    status: 200,
    headers: ["Content-Type", type, "Content-Length", String(Buffer.byteLength(body))],
    body,
  };
}

const HTML_HEAD = (count: number, generation: number) =>
  '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN\n' +
  '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n' +
  '<html xmlns="http://www.w3.org/1999/xhtml">\n' +
  "<head>\n" +
  "  <title>Nginx http upstream check status</title>\n" +
  "</head>\n" +
  "<body>\n" +
  "<h1>Nginx http upstream check status</h1>\n" +
  `<h2>Check upstream server number: ${count}, generation: ${generation}</h2>\n` +
  // "cellspacing=\"0\" " "       cellpadding=..." in C: one space plus seven.
  '<table style="background-color:white" cellspacing="0"        cellpadding="3" border="1">\n' +
  '  <tr bgcolor="#C0C0C0">\n' +
  "    <th>Index</th>\n" +
  "    <th>Upstream</th>\n" +
  "    <th>Name</th>\n" +
  "    <th>Status</th>\n" +
  "    <th>Rise counts</th>\n" +
  "    <th>Fall counts</th>\n" +
  "    <th>Check type</th>\n" +
  "    <th>Check port</th>\n" +
  "  </tr>\n";
const HTML_ROW_0 =
  "  <tr>\n" +
  "    <td>0</td>\n" +
  "    <td>backend</td>\n" +
  "    <td>127.0.0.1:1970</td>\n" +
  "    <td>up</td>\n" +
  "    <td>3</td>\n" +
  "    <td>0</td>\n" +
  "    <td>http</td>\n" +
  "    <td>0</td>\n" +
  "  </tr>\n";
const HTML_ROW_1 =
  '  <tr bgcolor="#FF0000">\n' +
  "    <td>1</td>\n" +
  "    <td>backend</td>\n" +
  "    <td>127.0.0.1:1971</td>\n" +
  "    <td>down</td>\n" +
  "    <td>0</td>\n" +
  "    <td>3</td>\n" +
  "    <td>http</td>\n" +
  "    <td>0</td>\n" +
  "  </tr>\n";
const HTML_FOOT = "</table>\n</body>\n</html>\n";

const JSON_ROW_0 =
  '    {"index": 0, "upstream": "backend", "name": "127.0.0.1:1970", "status": "up", "rise": 3, "fall": 0, "type": "http", "port": 0}';
const JSON_ROW_1 =
  '    {"index": 1, "upstream": "backend", "name": "127.0.0.1:1971", "status": "down", "rise": 0, "fall": 3, "type": "http", "port": 0}';
const JSON_ROW_7 =
  '    {"index": 7, "upstream": "api", "name": "[::1]:8080", "status": "up", "rise": 58, "fall": 0, "type": "tcp", "port": 8081}';

test("html: the module's page byte for byte, a down row in red (spec §3.1)", () => {
  const want = HTML_HEAD(2, 1) + HTML_ROW_0 + HTML_ROW_1 + HTML_FOOT;
  assert.deepEqual(renderCheckStatus(input(SPEC_PEERS), "html", get()), ok("html", want));
});

test("csv: one line per peer, no header (spec §3.2)", () => {
  const want = "0,backend,127.0.0.1:1970,up,3,0,http,0\n1,backend,127.0.0.1:1971,down,0,3,http,0\n";
  assert.deepEqual(renderCheckStatus(input(SPEC_PEERS), "csv", get()), ok("csv", want));
});

test("json: the spec §3.3 example byte for byte", () => {
  const want =
    '{"servers": {\n  "total": 2,\n  "generation": 1,\n  "server": [\n' +
    `${JSON_ROW_0},\n${JSON_ROW_1}\n` +
    "  ]\n}}\n";
  assert.deepEqual(renderCheckStatus(input(SPEC_PEERS), "json", get()), ok("json", want));
});

test("status= filters, {count} counts what is left, index is not renumbered", () => {
  const gen = input(THREE, { generation: 4 });
  assert.deepEqual(
    renderCheckStatus(gen, "html", get("status=down")),
    ok("html", HTML_HEAD(1, 4) + HTML_ROW_1 + HTML_FOOT),
  );
  assert.deepEqual(
    renderCheckStatus(gen, "csv", get("status=UP")),
    ok("csv", "0,backend,127.0.0.1:1970,up,3,0,http,0\n7,api,[::1]:8080,up,58,0,tcp,8081\n"),
  );
  const up =
    '{"servers": {\n  "total": 2,\n  "generation": 4,\n  "server": [\n' +
    `${JSON_ROW_0},\n${JSON_ROW_7}\n  ]\n}}\n`;
  assert.deepEqual(renderCheckStatus(gen, "json", get("status=up")), ok("json", up));
});

test("regression: json stays valid when status= drops the last peer (module's trailing comma, yao #94/#121)", () => {
  const down = renderCheckStatus(input(THREE), "json", get("status=down"));
  assert.equal(
    down.body,
    '{"servers": {\n  "total": 1,\n  "generation": 1,\n  "server": [\n' + `${JSON_ROW_1}\n  ]\n}}\n`,
  );
  const sets = [SPEC_PEERS.slice(0, 1), SPEC_PEERS.slice(1), SPEC_PEERS, THREE, [...THREE].reverse()];
  for (const peers of sets) {
    for (const args of [
      null,
      "status=up",
      "status=down",
      "status=Down",
      "status=bogus",
      "format=json&status=up",
    ]) {
      const res = renderCheckStatus(input(peers), "json", get(args));
      const doc = JSON.parse(res.body!) as { servers: { total: number; server: { index: number }[] } };
      assert.equal(doc.servers.total, doc.servers.server.length, `${args} on ${peers.length} peers`);
    }
  }
});

test("strings are escaped: JSON stays parseable, HTML and CSV keep their structure", () => {
  const odd: CheckPeerStatus = { ...SPEC_PEERS[1]!, upstream: 'a"b\\c<d>&e,f', name: "x\ny" };
  const json = renderCheckStatus(input([odd]), "json", get()).body!;
  const doc = JSON.parse(json) as { servers: { server: { upstream: string; name: string }[] } };
  assert.equal(doc.servers.server[0]?.upstream, 'a"b\\c<d>&e,f');
  assert.equal(doc.servers.server[0]?.name, "x\ny");
  assert.match(
    renderCheckStatus(input([odd]), "html", get()).body!,
    /<td>a&quot;b\\c&lt;d&gt;&amp;e,f<\/td>/,
  );
  assert.equal(
    renderCheckStatus(input([odd]), "csv", get()).body,
    '1,"a""b\\c<d>&e,f","x\ny",down,0,3,http,0\n',
  );
});

test("format= overrides the location's format: exact case, first occurrence, unknown ignored (spec §3, Test 8)", () => {
  const p = input(SPEC_PEERS);
  const csv = renderCheckStatus(p, "csv", get()).body;
  const json = renderCheckStatus(p, "json", get()).body;
  assert.equal(renderCheckStatus(p, "html", get("format=csv")).body, csv);
  assert.equal(renderCheckStatus(p, "json", get("format=htm")).body, json);
  assert.equal(renderCheckStatus(p, "json", get("format=CSV")).body, json);
  assert.equal(renderCheckStatus(p, "html", get("format=csv&format=json")).body, csv);
  assert.equal(renderCheckStatus(p, "html", get("FORMAT=csv")).body, csv); // ngx_http_arg: names fold case
  assert.equal(renderCheckStatus(p, "html", get("xformat=json&format=csv")).body, csv);
  assert.equal(renderCheckStatus(p, "json", get("format&format=csv")).body, csv);
  assert.equal(renderCheckStatus(p, "json", get("format=")).body, json);
  assert.equal(renderCheckStatus(p, "json", get("format=c%73v")).body, json); // not decoded
  const prom = renderCheckStatus(p, "html", get("status=up&format=prometheus"));
  assert.equal(prom.headers[1], "text/plain; version=0.0.4");
  assert.equal(
    renderCheckStatus(p, "csv", get("status=up&status=down")).body,
    "0,backend,127.0.0.1:1970,up,3,0,http,0\n",
  );
  assert.equal(renderCheckStatus(p, "csv", get("status=upp")).body, csv);
});

test("parseCheckStatusArgs reports ignored values in the module's order, for the caller's log", () => {
  assert.deepEqual(parseCheckStatusArgs("status=sideways&format=xml"), {
    format: null,
    status: null,
    bad: ["xml", "sideways"],
  });
  assert.deepEqual(parseCheckStatusArgs(null), { format: null, status: null, bad: [] });
  assert.deepEqual(parseCheckStatusArgs("format=json&status=DOWN"), {
    format: "json",
    status: "down",
    bad: [],
  });
  assert.equal(checkStatusBadArgument("xml"), 'http upstream check, bad argument: "xml"');
  assert.equal(ngxArg("a=1&b=2=3", "b"), "2=3");
  assert.equal(ngxArg("a=1", "b"), null);
});

test("content types per format, no charset; an empty csv is an empty body", () => {
  const formats: CheckStatusFormat[] = ["html", "csv", "json", "prometheus"];
  const types = formats.map((f) => renderCheckStatus(input(SPEC_PEERS), f, get()).headers[1]);
  assert.deepEqual(types, ["text/html", "text/plain", "application/json", "text/plain; version=0.0.4"]);
  const onlyUp = input(SPEC_PEERS.slice(0, 1));
  assert.deepEqual(renderCheckStatus(onlyUp, "csv", get("status=down")), ok("csv", ""));
});

test("HEAD: GET's headers, empty body; other methods: 405 with nginx's error page", () => {
  const head = renderCheckStatus(input(SPEC_PEERS), "json", { method: "HEAD", args: null });
  const body = renderCheckStatus(input(SPEC_PEERS), "json", get()).body!;
  assert.deepEqual(head, { ...ok("json", body), body: "" });
  for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "get"]) {
    assert.deepEqual(renderCheckStatus(input(SPEC_PEERS), "html", { method, args: null }), {
      status: 405,
      headers: [],
      body: null,
    });
  }
});

test("no checked server at all: 500 with nginx's error page and the module's log line", () => {
  for (const f of ["html", "csv", "json", "prometheus"] as const) {
    assert.deepEqual(renderCheckStatus(input([]), f, get()), { status: 500, headers: [], body: null });
  }
  assert.equal(
    NO_CHECK_SERVERS,
    "http upstream check module can not find any check server, make sure you've added the check servers",
  );
});

// --- prometheus ---------------------------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Parsed {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

/** A strict reader of the text format 0.0.4: HELP/TYPE once and before their samples, no repeated series. */
function parseExposition(text: string): Parsed {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const out: Parsed = { help: new Map(), type: new Map(), samples: [] };
  const series = new Set<string>();
  const familyOf = (name: string): string => {
    if (out.type.get(name) !== undefined) return name;
    const base = name.replace(/_(bucket|sum|count)$/, "");
    assert.equal(out.type.get(base), "histogram", `no TYPE before ${name}`);
    return base;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const map = meta[1] === "HELP" ? out.help : out.type;
      assert.ok(!map.has(meta[2]!), `${meta[1]} ${meta[2]} twice`);
      if (meta[1] === "TYPE") assert.match(meta[3]!, /^(gauge|counter|histogram)$/);
      map.set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `bad line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const rest = m[2] ?? "";
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
    let pos = 0;
    while (pos < rest.length) {
      re.lastIndex = pos;
      const l = re.exec(rest);
      assert.ok(l, `bad labels: ${rest}`);
      labels[l[1]!] = l[2]!.replace(/\\([\\"n])/g, (_, c: string) => (c === "n" ? "\n" : c));
      pos = re.lastIndex;
    }
    familyOf(m[1]!);
    const key = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!series.has(key), `repeated series ${key}`);
    series.add(key);
    const v = m[3]!;
    out.samples.push({ name: m[1]!, labels, value: v === "+Inf" ? Infinity : Number(v) });
  }
  return out;
}

const values = (p: Parsed, name: string) => p.samples.filter((s) => s.name === name);

test("prometheus: per-server health, totals, generation", () => {
  const res = renderCheckStatus(input(THREE, { generation: 3 }), "prometheus", get());
  assert.equal(res.status, 200);
  const p = parseExposition(res.body!);
  assert.equal(p.type.get("syncgate_upstream_server_up"), "gauge");
  assert.deepEqual(values(p, "syncgate_upstream_check_generation"), [
    { name: "syncgate_upstream_check_generation", labels: {}, value: 3 },
  ]);
  assert.deepEqual(
    values(p, "syncgate_upstream_check_servers").map((s) => [s.labels.state, s.value]),
    [
      ["up", 2],
      ["down", 1],
    ],
  );
  assert.deepEqual(values(p, "syncgate_upstream_server_up"), [
    {
      name: "syncgate_upstream_server_up",
      labels: { upstream: "backend", name: "127.0.0.1:1970", type: "http", port: "0" },
      value: 1,
    },
    {
      name: "syncgate_upstream_server_up",
      labels: { upstream: "backend", name: "127.0.0.1:1971", type: "http", port: "0" },
      value: 0,
    },
    {
      name: "syncgate_upstream_server_up",
      labels: { upstream: "api", name: "[::1]:8080", type: "tcp", port: "8081" },
      value: 1,
    },
  ]);
  assert.deepEqual(
    values(p, "syncgate_upstream_server_rise").map((s) => s.value),
    [3, 0, 58],
  );
  assert.deepEqual(
    values(p, "syncgate_upstream_server_fall").map((s) => s.value),
    [0, 3, 0],
  );
  assert.equal(values(p, "syncgate_upstream_server_requests_total").length, 0);
  assert.equal(p.type.has("syncgate_upsync_ok"), false);
});

test("prometheus: status= filters per-server series, totals still count everyone", () => {
  const p = parseExposition(renderCheckStatus(input(THREE), "prometheus", get("status=down")).body!);
  assert.deepEqual(
    values(p, "syncgate_upstream_server_up").map((s) => s.labels.name),
    ["127.0.0.1:1971"],
  );
  assert.deepEqual(
    values(p, "syncgate_upstream_check_servers").map((s) => s.value),
    [2, 1],
  );
});

test("prometheus: traffic counters and a cumulative latency histogram", () => {
  const traffic = (peer: CheckPeerStatus): PeerTraffic | null =>
    peer.index === 0
      ? {
          requests: 10,
          failures: 2,
          latencySeconds: {
            sum: 1.25,
            count: 10,
            buckets: [
              [0.5, 3],
              [0.1, 5],
              [1, 1],
            ],
          },
        }
      : null;
  const p = parseExposition(renderCheckStatus(input(THREE, { traffic }), "prometheus", get()).body!);
  assert.equal(p.type.get("syncgate_upstream_server_requests_total"), "counter");
  assert.equal(p.type.get("syncgate_upstream_server_failures_total"), "counter");
  assert.equal(p.type.get("syncgate_upstream_server_response_seconds"), "histogram");
  const who = { upstream: "backend", name: "127.0.0.1:1970" };
  assert.deepEqual(values(p, "syncgate_upstream_server_requests_total"), [
    { name: "syncgate_upstream_server_requests_total", labels: who, value: 10 },
  ]);
  assert.deepEqual(
    values(p, "syncgate_upstream_server_failures_total").map((s) => s.value),
    [2],
  );
  assert.deepEqual(
    values(p, "syncgate_upstream_server_response_seconds_bucket").map((s) => [s.labels.le, s.value]),
    [
      ["0.1", 5],
      ["0.5", 8],
      ["1", 9],
      ["+Inf", 10],
    ],
  );
  assert.deepEqual(values(p, "syncgate_upstream_server_response_seconds_sum")[0]?.value, 1.25);
  assert.deepEqual(values(p, "syncgate_upstream_server_response_seconds_count")[0]?.labels, who);
});

test("prometheus: registry sync gauges, no timestamp sample before the first sync", () => {
  const sync = [
    { upstream: "backend", ok: true, lastSyncSeconds: 1700000000.5, refused: 1, servers: 2 },
    { upstream: "api", ok: false, lastSyncSeconds: null, refused: 0, servers: 0 },
  ];
  const p = parseExposition(renderCheckStatus(input(THREE, { sync }), "prometheus", get()).body!);
  const pick = (n: string) => values(p, n).map((s) => [s.labels.upstream, s.value]);
  assert.deepEqual(pick("syncgate_upsync_ok"), [
    ["backend", 1],
    ["api", 0],
  ]);
  assert.deepEqual(pick("syncgate_upsync_last_sync_timestamp_seconds"), [["backend", 1700000000.5]]);
  assert.deepEqual(pick("syncgate_upsync_refused_total"), [
    ["backend", 1],
    ["api", 0],
  ]);
  assert.deepEqual(pick("syncgate_upsync_servers"), [
    ["backend", 2],
    ["api", 0],
  ]);
  assert.equal(p.type.get("syncgate_upsync_refused_total"), "counter");
});

test("prometheus: label values escaped (backslash, quote, newline); a server listed twice exported once", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const odd: CheckPeerStatus = { ...SPEC_PEERS[0]!, upstream: 'we"ird\\up\nstream' };
  const body = renderCheckStatus(input([odd, { ...odd, index: 9 }]), "prometheus", get()).body!;
  assert.ok(body.includes('upstream="we\\"ird\\\\up\\nstream"'));
  const p = parseExposition(body);
  assert.deepEqual(
    values(p, "syncgate_upstream_server_up").map((s) => s.labels.upstream),
    ['we"ird\\up\nstream'],
  );
});

test("prometheus: exact text for one server (HELP/TYPE once, in family order)", () => {
  const body = renderCheckStatus(input(SPEC_PEERS.slice(0, 1)), "prometheus", get()).body!;
  const lines = body.split("\n").filter((l) => !l.startsWith("# HELP"));
  assert.deepEqual(lines, [
    "# TYPE syncgate_upstream_check_generation gauge",
    "syncgate_upstream_check_generation 1",
    "# TYPE syncgate_upstream_check_servers gauge",
    'syncgate_upstream_check_servers{state="up"} 1',
    'syncgate_upstream_check_servers{state="down"} 0',
    "# TYPE syncgate_upstream_server_up gauge",
    'syncgate_upstream_server_up{upstream="backend",name="127.0.0.1:1970",type="http",port="0"} 1',
    "# TYPE syncgate_upstream_server_rise gauge",
    'syncgate_upstream_server_rise{upstream="backend",name="127.0.0.1:1970",type="http",port="0"} 3',
    "# TYPE syncgate_upstream_server_fall gauge",
    'syncgate_upstream_server_fall{upstream="backend",name="127.0.0.1:1970",type="http",port="0"} 0',
    "",
  ]);
});
