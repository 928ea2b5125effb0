/** The Consul double itself (test/support/consul-double.ts) against Consul's documented KV HTTP API, curl-style. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startConsulDouble } from "../support/consul-double.js";

test("the double follows Consul's KV API for curl-style use", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const base = `http://${c.address}/v1/kv/`;
  assert.equal(await (await fetch(`${base}a/b/1.2.3.4:80`, { method: "PUT", body: "v1" })).text(), "true");
  assert.equal(await (await fetch(`${base}a/b/c/d`, { method: "PUT" })).text(), "true");
  const list = await fetch(`${base}a/?recurse`);
  assert.equal(list.headers.get("x-consul-index"), "3");
  assert.deepEqual(await list.json(), [
    { LockIndex: 0, Key: "a/b/1.2.3.4:80", Flags: 0, Value: "djE=", CreateIndex: 2, ModifyIndex: 2 },
    { LockIndex: 0, Key: "a/b/c/d", Flags: 0, Value: null, CreateIndex: 3, ModifyIndex: 3 },
  ]);
  assert.deepEqual(await (await fetch(`${base}a/?keys&separator=/`)).json(), ["a/b/"]);
  assert.deepEqual(await (await fetch(`${base}a/?keys`)).json(), ["a/b/1.2.3.4:80", "a/b/c/d"]);
  assert.equal(await (await fetch(`${base}a/b/1.2.3.4:80?raw`)).text(), "v1");
  assert.equal((await fetch(`${base}a/b`)).status, 404);
  assert.equal((await fetch(`${base}a/?recurse&wait=abc&index=1`)).status, 400);
  assert.equal(await (await fetch(`${base}zzz`, { method: "DELETE" })).text(), "true");
  assert.equal(await (await fetch(`${base}a/b/c/d`, { method: "DELETE" })).text(), "true");
  // The tombstone keeps the list's index at the delete; reaping it lets the index go backwards (Consul's docs).
  const after = await fetch(`${base}a/?recurse`);
  assert.equal(after.headers.get("x-consul-index"), "4");
  c.reapTombstones();
  assert.equal((await fetch(`${base}a/?recurse`)).headers.get("x-consul-index"), "2");
  // A blocking query on an unchanged index lasts its wait (plus jitter up to wait/16).
  const t0 = Date.now();
  const held = await fetch(`${base}a/?recurse&index=2&wait=100ms`);
  const took = Date.now() - t0;
  assert.ok(took >= 95 && took < 300, `held ${took} ms`);
  assert.equal(held.headers.get("x-consul-index"), "2");
});

test("the double: ACL tokens, bad parameters, stop and start on the same port", async (t) => {
  const c = await startConsulDouble({ token: "s3" });
  t.after(() => c.stop());
  const url = `http://${c.address}/v1/kv/k`;
  assert.equal((await fetch(url, { method: "PUT", body: "x" })).status, 403);
  assert.equal((await fetch(`${url}?token=s3`, { method: "PUT", body: "x" })).status, 200);
  assert.equal((await fetch(url, { headers: { "X-Consul-Token": "s3" } })).status, 200);
  assert.equal((await fetch(url, { headers: { Authorization: "Bearer s3" } })).status, 200);
  const bad = await fetch(url, { headers: { "X-Consul-Token": "nope" } });
  assert.deepEqual([bad.status, await bad.text()], [403, "ACL not found"]);
  const big = await fetch(`${url}?token=s3`, { method: "PUT", body: Buffer.alloc(512 * 1024 + 1) });
  assert.equal(big.status, 413);
  assert.equal((await fetch(`${url}?token=s3&index=x`)).status, 400);
  const port = c.port;
  await c.stop();
  await assert.rejects(fetch(url));
  await c.start();
  assert.equal(c.port, port);
  assert.equal(await (await fetch(`${url}?raw&token=s3`)).text(), "x");
});

test("the double's catalog and health endpoints: Consul's shapes, filters and per-service index", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const get = async (path: string): Promise<[number, string | null, unknown]> => {
    const res = await fetch(`http://${c.address}${path}`);
    return [res.status, res.headers.get("x-consul-index"), await res.json()];
  };
  // An unknown service is 200 [] (not KV's 404), at the catalog tables' index (at least 1).
  assert.deepEqual(await get("/v1/catalog/service/web"), [200, "1", []]);
  const base = { name: "web", port: 8080 };
  assert.equal(c.registerService({ ...base, node: "n1", nodeAddress: "10.0.0.1", tags: ["v1"] }), 2);
  assert.equal(
    c.registerService({ ...base, node: "n2", nodeAddress: "10.0.0.2", id: "web-2", address: "10.9.0.2" }),
    3,
  );
  assert.equal(c.registerService({ node: "n2", nodeAddress: "10.0.0.2", name: "db", port: 5432 }), 4);
  const [status, index, list] = await get("/v1/catalog/service/web");
  assert.deepEqual([status, index], [200, "3"]); // db's write is not web's
  const n1 = (list as Record<string, unknown>[])[0];
  assert.deepEqual(n1, {
    ID: (n1 as { ID: string }).ID,
    Node: "n1",
    Address: "10.0.0.1",
    Datacenter: "dc1",
    TaggedAddresses: null,
    NodeMeta: {},
    ServiceKind: "",
    ServiceID: "web",
    ServiceName: "web",
    ServiceTags: ["v1"],
    ServiceAddress: "",
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceMeta: {},
    ServicePort: 8080,
    ServiceEnableTagOverride: false,
    ServiceProxy: { MeshGateway: {}, Expose: {} },
    ServiceConnect: {},
    CreateIndex: 2,
    ModifyIndex: 2,
  });
  assert.match((n1 as { ID: string }).ID, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.deepEqual(
    (list as { ServiceID: string; ServiceTags: unknown }[]).map((e) => [e.ServiceID, e.ServiceTags]),
    [
      ["web", ["v1"]],
      ["web-2", []], // nil tags: [] on the catalog endpoint
    ],
  );
  const tagged = (await get("/v1/catalog/service/WEB?tag=V1"))[2] as { Node: string }[];
  assert.deepEqual(
    tagged.map((e) => e.Node),
    ["n1"],
  );

  // A node check concerns every service of its node; a service check only its service. Both move web's index,
  // the catalog endpoint's too (its body does not change).
  assert.equal(
    c.setCheck({ node: "n2", id: "serfHealth", status: "passing", name: "Serf Health Status" }),
    5,
  );
  assert.equal(c.setCheck({ node: "n2", id: "service:web-2", serviceId: "web-2", status: "critical" }), 6);
  assert.equal(c.setCheck({ node: "n2", id: "service:web-2", serviceId: "web-2", status: "critical" }), 6);
  assert.deepEqual([c.serviceIndex("web"), c.serviceIndex("db"), c.serviceIndex("web", true)], [6, 5, 6]);
  assert.equal((await get("/v1/catalog/service/web"))[1], "6");
  const [, hIndex, health] = await get("/v1/health/service/web");
  assert.equal(hIndex, "6");
  const entry = (health as Record<string, Record<string, unknown>>[])[1]!;
  assert.deepEqual(entry.Node, {
    ID: entry.Node!.ID,
    Node: "n2",
    Address: "10.0.0.2",
    Datacenter: "dc1",
    TaggedAddresses: null,
    Meta: {},
    CreateIndex: 3,
    ModifyIndex: 3,
  });
  assert.deepEqual(entry.Service, {
    ID: "web-2",
    Service: "web",
    Tags: null,
    Address: "10.9.0.2",
    Meta: {},
    Port: 8080,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Proxy: { MeshGateway: {}, Expose: {} },
    Connect: {},
    CreateIndex: 3,
    ModifyIndex: 3,
  });
  const checks = entry.Checks as unknown as Record<string, unknown>[];
  assert.deepEqual(
    checks.map((k) => [k.CheckID, k.Name, k.Status, k.ServiceID, k.ServiceName, k.ModifyIndex]),
    [
      ["serfHealth", "Serf Health Status", "passing", "", "", 5],
      ["service:web-2", "service:web-2", "critical", "web-2", "web", 6],
    ],
  );
  assert.deepEqual((health as { Checks: unknown[] }[])[0]!.Checks, []); // n1 has no checks: [], never null
  const passing = (await get("/v1/health/service/web?passing"))[2] as { Node: { Node: string } }[];
  assert.deepEqual(
    passing.map((e) => e.Node.Node),
    ["n1"],
  );
  assert.equal(((await get("/v1/health/service/web?passing=false"))[2] as unknown[]).length, 2);

  // Deregistering an instance moves the index past every ModifyIndex left; the last one gone leaves the
  // service at Consul's extinction index, which an unknown service answers too.
  assert.equal(c.deregisterService("n1", "web"), 7);
  const after = await get("/v1/catalog/service/web");
  assert.equal(after[1], "7");
  assert.deepEqual(
    (after[2] as { ModifyIndex: number }[]).map((e) => e.ModifyIndex),
    [3],
  );
  assert.equal(c.deregisterNode("n2"), 8);
  assert.deepEqual(await get("/v1/health/service/web"), [200, "8", []]);
  assert.deepEqual(await get("/v1/catalog/service/nothing"), [200, "8", []]);
  assert.equal((await fetch(`http://${c.address}/v1/catalog/service/`)).status, 400);
  assert.equal((await fetch(`http://${c.address}/v1/health/service/web?passing=maybe`)).status, 400);
  assert.equal((await fetch(`http://${c.address}/v1/catalog/service/web?index=x`)).status, 400);
});

test("the double: blocking on a service wakes on its writes only; PUT /v1/catalog/register and deregister", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const url = (path: string): string => `http://${c.address}${path}`;
  const put = (path: string, body: unknown): Promise<Response> =>
    fetch(url(path), { method: "PUT", body: typeof body === "string" ? body : JSON.stringify(body) });
  c.registerService({ node: "n1", nodeAddress: "10.0.0.1", name: "web", port: 80 }); // index 2
  const t0 = Date.now();
  const held = fetch(url("/v1/health/service/web?index=2&wait=5s"));
  const heldNew = fetch(url("/v1/catalog/service/new?index=2&wait=5s"));
  while (c.waiting() < 2) await new Promise((r) => setTimeout(r, 5));
  c.registerService({ node: "n2", nodeAddress: "10.0.0.2", name: "db", port: 5432 }); // index 3: not web's
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.waiting(), 2);
  const reg = {
    Node: "n3",
    Address: "10.0.0.3",
    Service: { Service: "web", Tags: ["v2"], Port: 81 },
    Check: { Name: "alive", ServiceID: "web", Status: "warning" },
  };
  const ok = await put("/v1/catalog/register", reg);
  assert.deepEqual([ok.status, await ok.text()], [200, "true"]);
  const res = await held;
  assert.ok(Date.now() - t0 < 1000, `held ${Date.now() - t0} ms`);
  assert.equal(res.headers.get("x-consul-index"), "4");
  const body = (await res.json()) as {
    Node: { Node: string };
    Checks: { CheckID: string; Status: string }[];
  }[];
  assert.deepEqual(
    body.map((e) => [e.Node.Node, e.Checks.map((k) => `${k.CheckID}=${k.Status}`)]),
    [
      ["n1", []],
      ["n3", ["alive=warning"]],
    ],
  );
  assert.equal(c.waiting(), 1); // the query on "new" still waits
  c.registerService({ node: "n1", nodeAddress: "10.0.0.1", name: "new", port: 90 });
  const fresh = await heldNew;
  assert.equal(fresh.headers.get("x-consul-index"), "5");
  assert.equal(((await fresh.json()) as unknown[]).length, 1);

  const bad = await put("/v1/catalog/register", { Node: "n4", Service: { Service: "web" } });
  assert.deepEqual(
    [bad.status, await bad.text()],
    [500, "Must provide address if SkipNodeUpdate is not set"],
  );
  const orphan = await put("/v1/catalog/register", {
    Node: "n1",
    Address: "10.0.0.1",
    Check: { Name: "x", ServiceID: "nope" },
  });
  assert.deepEqual([orphan.status, await orphan.text()], [500, "Missing service registration"]);
  assert.equal((await put("/v1/catalog/register", "{")).status, 400);
  assert.equal(
    (
      await put("/v1/catalog/register", {
        Node: "n4",
        Address: "10.0.0.4",
        Service: { Service: "web", Port: "80" },
      })
    ).status,
    400,
  );
  assert.equal(c.index, 5); // refused writes change nothing
  const gone = await put("/v1/catalog/deregister", { Node: "n3" });
  assert.deepEqual([gone.status, await gone.text()], [200, "true"]);
  const left = await fetch(url("/v1/catalog/service/web"));
  assert.equal(left.headers.get("x-consul-index"), "6");
  assert.deepEqual(
    ((await left.json()) as { Node: string }[]).map((e) => e.Node),
    ["n1"],
  );
  assert.equal((await put("/v1/catalog/deregister", { ServiceID: "web" })).status, 500);
  assert.equal((await fetch(url("/v1/catalog/register"))).status, 405);
  assert.equal((await fetch(url("/v1/catalog/service/web"), { method: "PUT" })).status, 405);
});
