/** consul_services (spec §3.1) and consul_health (§3.2) answers → snapshots. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checksPass,
  translateConsulHealth,
  translateConsulServices,
} from "../../src/discovery/consul-catalog.js";
import { addrs, ctx, registrySpec, snap } from "./fixtures.js";

/** One element of `GET /v1/catalog/service/<name>`. */
function catalog(
  node: string,
  address: string,
  port: unknown,
  tags: string[] = [],
  serviceAddress = "",
): unknown {
  return {
    ID: "40e4a748-2192-161a-0510-9bf59fe950b5",
    Node: node,
    Address: address,
    Datacenter: "dc1",
    TaggedAddresses: { lan: address, wan: address },
    NodeMeta: {},
    ServiceKind: "",
    ServiceID: `web-${node}`,
    ServiceName: "web",
    ServiceTags: tags,
    ServiceAddress: serviceAddress,
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceMeta: {},
    ServicePort: port,
    ServiceEnableTagOverride: false,
    CreateIndex: 10,
    ModifyIndex: 10,
  };
}

/** One element of `GET /v1/health/service/<name>`; `checks` null leaves `Checks` out. */
function health(
  node: string,
  address: string,
  port: unknown,
  statuses: (string | undefined)[] | null,
  tags: string[] = [],
  serviceAddress = "",
): unknown {
  const entry: Record<string, unknown> = {
    Node: { ID: "x", Node: node, Address: address, Datacenter: "dc1" },
    Service: { ID: `web-${node}`, Service: "web", Tags: tags, Address: serviceAddress, Port: port },
  };
  if (statuses !== null) {
    entry.Checks = statuses.map((s, i) => ({
      Node: node,
      CheckID: i === 0 ? "serfHealth" : `service:web-${node}`,
      ...(s === undefined ? {} : { Status: s }),
    }));
  }
  return entry;
}

const SERVICES = "/v1/catalog/service/web";
const HEALTH = "/v1/health/service/web";

test("consul_services: ServiceAddress, else the node Address; attributes from tags; registry order", () => {
  const body = [
    catalog("n2", "10.0.0.2", 8080, ["weight=3", "max_fails=0", "fail_timeout=30s"]),
    catalog("n1", "10.0.0.1", 8081, ["down", "backup", "v2"], "192.168.0.1"),
  ];
  assert.deepEqual(translateConsulServices(body, ctx(SERVICES, "77")), {
    servers: [
      registrySpec("10.0.0.2:8080", { weight: 3, maxFails: 0, failTimeout: 30_000 }),
      registrySpec("192.168.0.1:8081", { down: true, backup: true }),
    ],
    index: "77",
    skipped: [],
    warnings: [],
  });
});

test("consul_services: entries that name no usable server are skipped with a reason", () => {
  const body = [
    catalog("n1", "", 80),
    catalog("n2", "10.0.0.2", 0),
    catalog("n3", "10.0.0.3", 70000),
    catalog("n4", "10.0.0.4", "80"),
    catalog("n5", "web.local", 80),
    "junk",
    catalog("n6", "10.0.0.6", 80, ["weight=0"]),
    catalog("n7", "::1", 80),
  ];
  const s = snap(translateConsulServices(body, ctx(SERVICES)));
  assert.deepEqual(addrs(s), ["10.0.0.6:80", "[::1]:80"]);
  assert.deepEqual(s.skipped, [
    { key: "n1/web-n1", reason: "upsync_parse_json: n1/web-n1 has no address" },
    { key: "n2/web-n2", reason: "upsync_addrs: invalid port in 10.0.0.2:0" },
    { key: "n3/web-n3", reason: "upsync_addrs: invalid port in 10.0.0.3:70000" },
    { key: "n4/web-n4", reason: "upsync_addrs: invalid port in 10.0.0.4:80" },
    { key: "n5/web-n5", reason: "upsync_addrs: invalid ip in web.local:80" },
    { key: "#5", reason: "upsync_parse_json: element 5 is not an object" },
  ]);
  assert.deepEqual(s.warnings, [
    { key: "n6/web-n6", reason: '"weight" value is invalid, setting default value 1' },
  ]);
});

test("consul_services: health is not considered; [] and null are an empty list; duplicates first wins", () => {
  const withChecks = { ...(catalog("n1", "10.0.0.1", 80) as object), Checks: [{ Status: "critical" }] };
  assert.deepEqual(snap(translateConsulServices([withChecks], ctx(SERVICES))).servers, [
    registrySpec("10.0.0.1:80"),
  ]);
  for (const body of [[], null, "[]"])
    assert.deepEqual(snap(translateConsulServices(body, ctx(SERVICES))).servers, []);
  const dup = snap(
    translateConsulServices(
      [catalog("a", "10.0.0.1", 80, ["weight=2"]), catalog("b", "10.0.0.1", 80)],
      ctx(SERVICES),
    ),
  );
  assert.deepEqual(dup.servers, [registrySpec("10.0.0.1:80", { weight: 2 })]);
  assert.deepEqual(dup.skipped, [
    { key: "b/web-b", reason: "duplicate of a/web-a (server 10.0.0.1:80), the first entry wins" },
  ]);
  assert.deepEqual(translateConsulServices({}, ctx(SERVICES)), {
    error: "upsync_parse_json: root is not an array of services",
  });
  assert.deepEqual(translateConsulServices("oops", ctx(SERVICES)), {
    error: "upsync_parse_json: root error",
  });
});

test("consul_health: every check must pass, else the server is down and stays listed", () => {
  const rows: [(string | undefined)[] | null, boolean][] = [
    [["passing", "passing"], false],
    [["passing"], false],
    [[], false],
    [null, false], // no Checks: passing (issue 4; the module crashed)
    [["passing", "warning"], true],
    [["critical", "passing"], true], // node-level serfHealth
    [["passing", "critical"], true],
    [["passing", undefined], true],
    [["passing", ""], true],
    [["maintenance"], true],
  ];
  for (const [statuses, down] of rows) {
    const s = snap(translateConsulHealth([health("n1", "10.0.0.1", 80, statuses)], ctx(HEALTH)));
    assert.deepEqual(s.servers, [registrySpec("10.0.0.1:80", { down })], JSON.stringify(statuses));
  }
  assert.equal(checksPass({ Status: "passing" }), true);
  assert.equal(checksPass([null]), false);
});

test("consul_health: Service.Address else Node.Address, Service.Port, Service.Tags; tag down forces down", () => {
  const body = [
    health("n1", "10.0.0.1", 8080, ["passing"], ["weight=4", "down"]),
    health("n2", "10.0.0.2", 8081, ["passing"], ["backup", "fail_timeout=1m"], "172.16.0.2"),
  ];
  assert.deepEqual(snap(translateConsulHealth(body, ctx(HEALTH, "3"))), {
    servers: [
      registrySpec("10.0.0.1:8080", { weight: 4, down: true }),
      registrySpec("172.16.0.2:8081", { backup: true, failTimeout: 60_000 }),
    ],
    index: "3",
    skipped: [],
    warnings: [],
  });
});

test("consul_health: malformed entries are skipped, not crashed on", () => {
  const body = [
    { Service: { ID: "s1", Address: "10.0.0.1", Port: 80 } },
    { Node: { Node: "n2", Address: "10.0.0.2" } },
    { Node: "n3", Service: "x" },
    { Node: { Node: "n4", Address: "10.0.0.4" }, Service: { ID: "s4", Port: 81 }, Checks: "all good" },
  ];
  const s = snap(translateConsulHealth(body, ctx(HEALTH)));
  assert.deepEqual(s.servers, [registrySpec("10.0.0.1:80"), registrySpec("10.0.0.4:81")]);
  assert.deepEqual(s.skipped, [
    { key: "n2/", reason: "upsync_addrs: invalid port in 10.0.0.2:" },
    { key: "#2", reason: "upsync_parse_json: #2 has no address" },
  ]);
});

test("consul_health: the same address on two nodes is one server (issue #211), the first wins", () => {
  const body = [health("n1", "10.0.0.1", 80, ["critical"]), health("n2", "10.0.0.1", 80, ["passing"])];
  const s = snap(translateConsulHealth(body, ctx(HEALTH)));
  assert.deepEqual(s.servers, [registrySpec("10.0.0.1:80", { down: true })]);
  assert.equal(s.skipped.length, 1);
});
