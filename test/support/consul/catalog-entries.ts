/** The answers of the catalog and health service endpoints, as Consul's api package shapes them. */
import type { CheckRow, NodeRow, ServiceRow } from "./catalog-types.js";

const DC = "dc1";

/**
 * Consul's filterNonPassing (agent/health_endpoint.go): an instance with any non-passing check is swapped with
 * the last one kept, so the order of the rest can change, as in Consul.
 */
export function onlyPassing<T extends { checks: CheckRow[] }>(entries: T[]): T[] {
  const out = [...entries];
  let n = out.length;
  for (let i = 0; i < n; i++) {
    if (out[i]!.checks.every((c) => c.status === "passing")) continue;
    out[i] = out[n - 1]!;
    n--;
    i--;
  }
  return out.slice(0, n);
}

/** One element of `GET /v1/catalog/service/:service` (Consul's api.CatalogService). */
export function catalogEntry(n: NodeRow, s: ServiceRow): Record<string, unknown> {
  return {
    ID: n.id,
    Node: n.node,
    Address: n.address,
    Datacenter: DC,
    TaggedAddresses: n.taggedAddresses,
    NodeMeta: n.meta,
    ServiceKind: "",
    ServiceID: s.id,
    ServiceName: s.service,
    ServiceTags: s.tags ?? [], // the catalog endpoint turns nil tags into []
    ServiceAddress: s.address,
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceMeta: s.meta,
    ServicePort: s.port,
    ServiceEnableTagOverride: false,
    ServiceProxy: { MeshGateway: {}, Expose: {} },
    ServiceConnect: {},
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  };
}

/** One element of `GET /v1/health/service/:service` (Consul's api.ServiceEntry); Checks is never null. */
export function healthEntry(n: NodeRow, s: ServiceRow, checks: CheckRow[]): Record<string, unknown> {
  return {
    Node: {
      ID: n.id,
      Node: n.node,
      Address: n.address,
      Datacenter: DC,
      TaggedAddresses: n.taggedAddresses,
      Meta: n.meta,
      CreateIndex: n.createIndex,
      ModifyIndex: n.modifyIndex,
    },
    Service: {
      ID: s.id,
      Service: s.service,
      Tags: s.tags,
      Address: s.address,
      Meta: s.meta,
      Port: s.port,
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
      Proxy: { MeshGateway: {}, Expose: {} },
      Connect: {},
      CreateIndex: s.createIndex,
      ModifyIndex: s.modifyIndex,
    },
    Checks: checks.map((c) => ({
      Node: c.node,
      CheckID: c.checkId,
      Name: c.name,
      Status: c.status,
      Notes: c.notes,
      Output: c.output,
      ServiceID: c.serviceId,
      ServiceName: c.serviceId === "" ? "" : s.service,
      ServiceTags: c.serviceId === "" ? [] : (s.tags ?? []),
      Type: "",
      Definition: {},
      CreateIndex: c.createIndex,
      ModifyIndex: c.modifyIndex,
    })),
  };
}
