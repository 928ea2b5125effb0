/**
 * The Consul watch loop in `upsync_type=consul_services` and `consul_health` (spec §3.1–3.2) against the Consul
 * double's catalog and health endpoints, over real loopback sockets.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import type { UpsyncConf } from "../../src/config/types.js";
import { watchConsul } from "../../src/discovery/consul-source.js";
import { type ConsulDouble, type ServiceRegistration, startConsulDouble } from "../support/consul-double.js";
import { addrs, registrySpec } from "./fixtures.js";
import { ok, sleep, until, upsyncConf, watch } from "./watch-harness.js";

const SERVICES = "/v1/catalog/service/test";
const HEALTH = "/v1/health/service/test";

type Mode = "consul_services" | "consul_health";

/** `upsync 127.0.0.1:PORT/v1/{catalog,health}/service/test upsync_type=MODE`: 50 ms interval, 2 s timeout (wait=1s). */
const catalogConf = (port: number, type: Mode, over: Partial<UpsyncConf> = {}): UpsyncConf =>
  upsyncConf(type, [port], type === "consul_services" ? SERVICES : HEALTH, over);

async function double(t: TestContext): Promise<ConsulDouble> {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  return c;
}

/** Instance `n` of service "test": node `n<n>` at 127.0.0.<n>, service ID `test-<n>`, port 808<n>. */
function instance(n: number, extra: Partial<ServiceRegistration> = {}): ServiceRegistration {
  return {
    node: `n${n}`,
    nodeAddress: `127.0.0.${n}`,
    id: `test-${n}`,
    name: "test",
    port: 8080 + n,
    ...extra,
  };
}

for (const mode of ["consul_services", "consul_health"] as const) {
  const path = mode === "consul_services" ? SERVICES : HEALTH;

  test(`${mode}: tags set the attributes; a registration reaches the open blocking query`, async (t) => {
    const c = await double(t);
    c.registerService(instance(1, { tags: ["weight=3", "max_fails=0", "fail_timeout=1m", "backup", "v1"] }));
    c.registerService(instance(2, { address: "127.0.0.12", tags: ["down", "fail_timeout=30"] }));
    c.registerService({ node: "n1", nodeAddress: "127.0.0.1", name: "other", port: 9000 });
    const idx = c.serviceIndex("test", mode === "consul_health");
    const w = watch(t, watchConsul, catalogConf(c.port, mode));
    await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
    assert.deepEqual(w.snaps[0], {
      servers: [
        registrySpec("127.0.0.1:8081", { weight: 3, maxFails: 0, failTimeout: 60_000, backup: true }),
        registrySpec("127.0.0.12:8082", { down: true, failTimeout: 30_000 }),
      ],
      index: String(idx),
      skipped: [],
      warnings: [],
    });
    assert.deepEqual(w.states, [ok(idx)]);
    // The catalog endpoints list a service, not a folder: no `recurse`; the second query blocks.
    assert.deepEqual(
      c.requests.map((r) => r.url),
      [path, `${path}?index=${idx}&wait=1s`],
    );

    // A write to another service does not answer the held query.
    c.registerService({ node: "n2", nodeAddress: "127.0.0.2", name: "other", port: 9000 });
    await sleep(100);
    assert.deepEqual([w.snaps.length, c.requests.length, c.waiting()], [1, 2, 1]);

    const t0 = Date.now();
    const written = c.registerService(instance(3, { tags: ["weight=2"] }));
    await until("registration applied", () => w.snaps.length === 2, 1000);
    assert.ok(Date.now() - t0 < 500, `registration took ${Date.now() - t0} ms`); // the wait is 1 s
    assert.deepEqual(addrs(w.snaps[1]!), ["127.0.0.1:8081", "127.0.0.12:8082", "127.0.0.3:8083"]);
    assert.deepEqual(w.snaps[1]!.servers[2], registrySpec("127.0.0.3:8083", { weight: 2 }));
    assert.equal(w.snaps[1]!.index, String(written));
    await until("blocking again", () => c.waiting() === 1);
    // The held query answered it: no request in between.
    assert.deepEqual(
      c.requests.map((r) => r.url),
      [path, `${path}?index=${idx}&wait=1s`, `${path}?index=${written}&wait=1s`],
    );
    assert.deepEqual(w.states, [ok(idx)]);
  });

  test(`${mode}: deregistering every instance emits an empty snapshot; a new one comes back`, async (t) => {
    const c = await double(t);
    c.registerService(instance(1));
    const idx = c.registerService(instance(2));
    const w = watch(t, watchConsul, catalogConf(c.port, mode));
    await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
    assert.deepEqual(
      [addrs(w.snaps[0]!), w.snaps[0]!.index],
      [["127.0.0.1:8081", "127.0.0.2:8082"], String(idx)],
    );
    const first = c.deregisterService("n1", "test-1");
    await until("one left", () => w.snaps.length === 2, 1000);
    // The index is the deregistration's, above every ModifyIndex left (Consul's per-service index).
    assert.deepEqual([addrs(w.snaps[1]!), w.snaps[1]!.index], [["127.0.0.2:8082"], String(first)]);
    await until("blocking again", () => c.waiting() === 1);
    const last = c.deregisterNode("n2");
    await until("none left", () => w.snaps.length === 3, 1000);
    // Consul answers 200 [] at its extinction index; the loop emits the empty list and the applier refuses it.
    assert.deepEqual(w.snaps[2], { servers: [], index: String(last), skipped: [], warnings: [] });
    await until("blocking again", () => c.waiting() === 1);
    const back = c.registerService(instance(4));
    await until("back", () => w.snaps.length === 4, 1000);
    assert.deepEqual([addrs(w.snaps[3]!), w.snaps[3]!.index], [["127.0.0.4:8084"], String(back)]);
    assert.deepEqual(w.states, [ok(idx)]);
  });

  test(`${mode}: registry down then up: no snapshot while down, one state change each way`, async (t) => {
    const c = await double(t);
    const idx = c.registerService(instance(1));
    const w = watch(t, watchConsul, catalogConf(c.port, mode));
    await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
    await c.stop();
    await until("failing", () => w.states.length === 2);
    assert.deepEqual(w.states[1], {
      ok: false,
      error: `recv error from upsync_server 127.0.0.1:${c.port} (ECONNRESET)`,
      index: String(idx),
    });
    const written = c.registerService(instance(2)); // while the API is unreachable
    await sleep(400); // retries 50, 100, 200 ms apart: refused, no snapshot, no state line
    assert.deepEqual([w.snaps.length, w.states.length], [1, 2]);
    await c.start();
    await until("recovered", () => w.snaps.length === 2, 2500);
    assert.deepEqual(addrs(w.snaps[1]!), ["127.0.0.1:8081", "127.0.0.2:8082"]);
    assert.deepEqual(w.states.slice(2), [ok(written)]);
  });
}

test("a failing check: the server goes down in consul_health, not in consul_services", async (t) => {
  const c = await double(t);
  c.registerService(instance(1));
  c.registerService(instance(2));
  c.setCheck({ node: "n1", id: "serfHealth", status: "passing" });
  c.setCheck({ node: "n2", id: "serfHealth", status: "passing" });
  c.setCheck({ node: "n2", id: "service:test-2", serviceId: "test-2", status: "passing" });
  const services = watch(t, watchConsul, catalogConf(c.port, "consul_services"));
  const health = watch(t, watchConsul, catalogConf(c.port, "consul_health"));
  await until(
    "both blocking",
    () => services.snaps.length === 1 && health.snaps.length === 1 && c.waiting() === 2,
  );
  const up = [registrySpec("127.0.0.1:8081"), registrySpec("127.0.0.2:8082")];
  assert.deepEqual(services.snaps[0]!.servers, up);
  assert.deepEqual(health.snaps[0]!.servers, up);

  const statuses: [string, string, "warning" | "critical" | "passing", boolean, boolean][] = [
    // node, check, status → n1 down, n2 down (in consul_health)
    ["n2", "service:test-2", "critical", false, true],
    ["n1", "serfHealth", "warning", true, true], // a node check, and warning, count too
    ["n2", "service:test-2", "passing", true, false],
    ["n1", "serfHealth", "passing", false, false],
  ];
  for (const [i, [node, id, status, down1, down2]] of statuses.entries()) {
    const serviceId = id.startsWith("service:") ? id.slice(8) : undefined;
    const written = c.setCheck({ node, id, status, ...(serviceId ? { serviceId } : {}) });
    await until(
      `check ${i} seen`,
      () => services.snaps.length === i + 2 && health.snaps.length === i + 2,
      1000,
    );
    assert.deepEqual(health.snaps[i + 1], {
      servers: [
        registrySpec("127.0.0.1:8081", { down: down1 }),
        registrySpec("127.0.0.2:8082", { down: down2 }),
      ],
      index: String(written),
      skipped: [],
      warnings: [],
    });
    // Consul raises the service's index for a check change, so the catalog query returns too: same servers.
    assert.deepEqual([services.snaps[i + 1]!.servers, services.snaps[i + 1]!.index], [up, String(written)]);
    await until("both blocking again", () => c.waiting() === 2);
  }
  assert.deepEqual([services.states.length, health.states.length], [1, 1]);
});

test("consul_health: an entry without Checks counts as passing, as does Consul's empty Checks list", async (t) => {
  const c = await double(t);
  c.registerService(instance(1, { tags: ["weight=5"] })); // no checks at all: Consul sends "Checks": []
  const raw = (await (await fetch(`http://${c.address}${HEALTH}`)).json()) as { Checks: unknown }[];
  assert.deepEqual(raw[0]!.Checks, []);
  // The first answer is one the module would crash on: an element without Checks (spec §3.2).
  const bare = [
    { Node: { Node: "n9", Address: "127.0.0.9" }, Service: { ID: "x", Tags: ["weight=4"], Port: 8089 } },
  ];
  c.respondWith((req) =>
    req.url.includes("index=")
      ? undefined
      : {
          status: 200,
          headers: {
            "X-Consul-Index": String(c.serviceIndex("test", true)),
            "Content-Type": "application/json",
          },
          body: JSON.stringify(bare),
        },
  );
  const w = watch(t, watchConsul, catalogConf(c.port, "consul_health"));
  await until("blocking query", () => w.snaps.length === 1 && c.waiting() === 1);
  assert.deepEqual(w.snaps[0]!.servers, [registrySpec("127.0.0.9:8089", { weight: 4 })]);
  c.registerService(instance(2));
  await until("registration applied", () => w.snaps.length === 2, 1000);
  assert.deepEqual(w.snaps[1]!.servers, [
    registrySpec("127.0.0.1:8081", { weight: 5 }),
    registrySpec("127.0.0.2:8082"),
  ]);
  assert.deepEqual(
    w.states.map((s) => s.ok),
    [true],
  );
});
