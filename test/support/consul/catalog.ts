/**
 * Consul's catalog tables (https://developer.hashicorp.com/consul/api-docs/catalog): nodes, service instances,
 * checks, and the indexes blocking reads of a service answer at (see serviceIndex()).
 */
import { createHash } from "node:crypto";
import type { Wake } from "./blocking.js";
import {
  type CheckRegistration,
  type CheckRow,
  ConsulWriteError,
  type NodeRow,
  type Registration,
  type ServiceRegistration,
  type ServiceRow,
} from "./catalog-types.js";
import type { Raft } from "./raft.js";

/** One write in progress: its index, the tables it changed, the (lower-case) services whose data it changed. */
interface Tx {
  idx: number;
  tables: Set<"nodes" | "services" | "checks">;
  touched: Set<string>;
}

const rowKey = (node: string, id: string): string => `${node}\u0000${id}`;
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** A node ID made from its name (a registration without ID gets a stable one, so answers are exact). */
function nodeId(node: string): string {
  const h = createHash("sha256").update(node).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The catalog's rows and indexes; every write is one raft index, all or nothing. */
export class CatalogTables {
  readonly #nodes = new Map<string, NodeRow>();
  /** Service instances by rowKey(node, service ID). */
  readonly #services = new Map<string, ServiceRow>();
  /** Checks by rowKey(node, check ID). */
  readonly #checks = new Map<string, CheckRow>();
  /** Consul's `service.<name>` entries of its index table: lower-case name → index of the last write to it. */
  readonly #serviceIndexes = new Map<string, number>();
  /** Consul's `service_last_extinction`: the index at which the last instance of some service went away. */
  #extinction = 0;
  /** Consul's table indexes: the index of the last write to each catalog table. */
  readonly #tableIndexes = { nodes: 0, services: 0, checks: 0 };
  readonly #raft: Raft;
  readonly #wake: Wake;

  constructor(raft: Raft, wake: Wake) {
    this.#raft = raft;
    this.#wake = wake;
  }

  /** Registers (or updates) a service instance and its node; see ConsulDouble.registerService(). */
  registerService(s: ServiceRegistration): number {
    return this.register({
      node: s.node,
      address: s.nodeAddress,
      id: "",
      taggedAddresses: null,
      meta: {},
      skipNodeUpdate: false,
      service: {
        id: s.id ?? s.name,
        service: s.name,
        tags: s.tags ?? null,
        address: s.address ?? "",
        port: s.port,
        meta: s.meta ?? {},
      },
      checks: [],
    });
  }

  /** Creates or updates a check of a registered node; see ConsulDouble.setCheck(). */
  setCheck(c: CheckRegistration): number {
    const node = this.#nodes.get(c.node);
    return this.register({
      node: c.node,
      address: node?.address ?? "",
      id: "",
      taggedAddresses: null,
      meta: {},
      skipNodeUpdate: true,
      service: null,
      checks: [
        {
          node: c.node,
          checkId: c.id,
          name: c.name ?? c.id,
          status: c.status,
          notes: "",
          output: c.output ?? "",
          serviceId: c.serviceId ?? "",
        },
      ],
    });
  }

  /**
   * The X-Consul-Index of `GET /v1/catalog/service/<name>` (`health`: of `/v1/health/service/<name>`), as
   * Consul's state store computes it (agent/consul/state/catalog.go, maxIndexAndWatchChForService): not the
   * newest ModifyIndex among the entries — deregistering one of three instances or a check going critical must
   * move it, and no remaining entry carries that write's index — but a per-service entry of the index table,
   * raised by every write that changes an instance of the service, its checks, or its node (node checks
   * included), and dropped when the last instance goes. A service without instances answers at the index the
   * last instance of any service went away (`service_last_extinction`), else at the newest write to the
   * catalog tables (nodes, services, plus checks for health), at least 1. So the catalog endpoint also wakes
   * up for a check change, with the same body: "a blocking query's return is no guarantee of a change".
   */
  serviceIndex(name: string, health = false): number {
    const own = this.#serviceIndexes.get(name.toLowerCase());
    if (own !== undefined) return own;
    if (this.#extinction > 0) return this.#extinction;
    const t = this.#tableIndexes;
    return Math.max(1, t.nodes, t.services, health ? t.checks : 0);
  }

  /** The instances of a service (name compared without case, as Consul's index), in Consul's node, ID order. */
  instances(lower: string): ServiceRow[] {
    return [...this.#services.values()]
      .filter((s) => s.service.toLowerCase() === lower)
      .sort((a, b) => compare(a.node, b.node) || compare(a.id, b.id));
  }

  /** Checks of an instance as the health endpoint lists them: the node's checks, then the instance's. */
  checksOf(s: ServiceRow): CheckRow[] {
    const mine = [...this.#checks.values()].filter((c) => c.node === s.node);
    const byId = (a: CheckRow, b: CheckRow): number => compare(a.checkId, b.checkId);
    return [
      ...mine.filter((c) => c.serviceId === "").sort(byId),
      ...mine.filter((c) => c.serviceId === s.id).sort(byId),
    ];
  }

  /** The node an instance is on. */
  nodeOf(s: ServiceRow): NodeRow {
    const n = this.#nodes.get(s.node);
    if (!n) throw new Error(`consul double: service ${s.id} on a missing node ${s.node}`);
    return n;
  }

  /** setIndex()'s part here: row and table indexes capped at `n`. */
  capAt(n: number): void {
    for (const e of [...this.#nodes.values(), ...this.#services.values(), ...this.#checks.values()]) {
      e.createIndex = Math.min(e.createIndex, n);
      e.modifyIndex = Math.min(e.modifyIndex, n);
    }
    for (const [k, i] of this.#serviceIndexes) this.#serviceIndexes.set(k, Math.min(i, n));
    this.#extinction = Math.min(this.#extinction, n);
    for (const t of ["nodes", "services", "checks"] as const)
      this.#tableIndexes[t] = Math.min(this.#tableIndexes[t], n);
  }

  /** Consul's catalog Register: node, service, checks, in one write, all refused when one part is invalid. */
  register(reg: Registration): number {
    if (reg.node === "") throw new ConsulWriteError("Must provide node");
    if (reg.address === "" && !reg.skipNodeUpdate)
      throw new ConsulWriteError("Must provide address if SkipNodeUpdate is not set");
    if (reg.id !== "" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(reg.id))
      throw new ConsulWriteError(`Bad node ID: ${reg.id}`);
    if (reg.service && reg.service.service === "") throw new ConsulWriteError("Must provide service name");
    const nodeThere = !reg.skipNodeUpdate || this.#nodes.has(reg.node);
    if ((reg.service || reg.checks.length > 0) && !nodeThere)
      throw new ConsulWriteError("Missing node registration");
    for (const c of reg.checks) {
      if (c.checkId === "") throw new ConsulWriteError("Missing check ID");
      if (c.node !== reg.node) throw new ConsulWriteError(`Node mismatch: ${c.node} != ${reg.node}`);
      const known = reg.service?.id === c.serviceId || this.#services.has(rowKey(reg.node, c.serviceId));
      if (c.serviceId !== "" && !known) throw new ConsulWriteError("Missing service registration");
    }
    const tx: Tx = { idx: this.#raft.index + 1, tables: new Set(), touched: new Set() };
    const old = this.#nodes.get(reg.node);
    if (!reg.skipNodeUpdate) {
      const id = reg.id || old?.id || nodeId(reg.node);
      const same =
        old &&
        old.id === id &&
        old.address === reg.address &&
        sameJson(old.taggedAddresses, reg.taggedAddresses) &&
        sameJson(old.meta, reg.meta);
      if (!same) {
        const { node, address, taggedAddresses, meta } = reg;
        const createIndex = old?.createIndex ?? tx.idx;
        this.#nodes.set(node, { id, node, address, taggedAddresses, meta, createIndex, modifyIndex: tx.idx });
        tx.tables.add("nodes");
        this.#touchNode(tx, node); // a node change concerns every service on it
      }
    }
    if (reg.service) {
      const key = rowKey(reg.node, reg.service.id);
      const was = this.#services.get(key);
      const next = { ...reg.service, node: reg.node };
      const fields = (r: typeof next): unknown[] => [r.service, r.tags, r.address, r.port, r.meta];
      if (!was || !sameJson(fields(was), fields(next))) {
        this.#services.set(key, { ...next, createIndex: was?.createIndex ?? tx.idx, modifyIndex: tx.idx });
        tx.tables.add("services");
        tx.touched.add(next.service.toLowerCase());
        if (was) tx.touched.add(was.service.toLowerCase());
      }
    }
    for (const c of reg.checks) {
      const key = rowKey(c.node, c.checkId);
      const was = this.#checks.get(key);
      const next = { ...c, status: c.status || "critical" }; // Consul's default status
      const same =
        was && (["name", "status", "notes", "output", "serviceId"] as const).every((f) => was[f] === next[f]);
      if (same) continue;
      this.#checks.set(key, { ...next, createIndex: was?.createIndex ?? tx.idx, modifyIndex: tx.idx });
      tx.tables.add("checks");
      // A check moved from one instance to another (or to the node) concerns both.
      if (was && was.serviceId !== next.serviceId) this.#touchCheck(tx, c.node, was.serviceId);
      this.#touchCheck(tx, c.node, next.serviceId);
    }
    return this.#commit(tx);
  }

  /** Consul's catalog Deregister: a service (with its checks) when `serviceId`, else a check, else the node. */
  deregister(node: string, serviceId: string, checkId: string): number {
    if (node === "") throw new ConsulWriteError("Must provide node");
    const tx: Tx = { idx: this.#raft.index + 1, tables: new Set(), touched: new Set() };
    if (serviceId !== "") this.#dropService(tx, node, serviceId);
    else if (checkId !== "") {
      const c = this.#checks.get(rowKey(node, checkId));
      if (c) {
        this.#touchCheck(tx, node, c.serviceId);
        this.#checks.delete(rowKey(node, checkId));
        tx.tables.add("checks");
      }
    } else if (this.#nodes.has(node)) {
      for (const s of [...this.#services.values()]) if (s.node === node) this.#dropService(tx, node, s.id);
      for (const [k, c] of this.#checks)
        if (c.node === node) {
          this.#checks.delete(k);
          tx.tables.add("checks");
        }
      this.#nodes.delete(node);
      tx.tables.add("nodes");
    }
    return this.#commit(tx);
  }

  #dropService(tx: Tx, node: string, id: string): void {
    const s = this.#services.get(rowKey(node, id));
    if (!s) return; // Consul: deleting what is not there changes nothing
    this.#services.delete(rowKey(node, id));
    for (const [k, c] of this.#checks)
      if (c.node === node && c.serviceId === id) {
        this.#checks.delete(k);
        tx.tables.add("checks");
      }
    tx.tables.add("services");
    tx.touched.add(s.service.toLowerCase());
  }

  #touchNode(tx: Tx, node: string): void {
    for (const s of this.#services.values()) if (s.node === node) tx.touched.add(s.service.toLowerCase());
  }

  /** A check change concerns its service, or every service of the node for a node check. */
  #touchCheck(tx: Tx, node: string, serviceId: string): void {
    if (serviceId === "") return this.#touchNode(tx, node);
    const s = this.#services.get(rowKey(node, serviceId));
    if (s) tx.touched.add(s.service.toLowerCase());
  }

  /** Ends a write: a changed one takes its index, raises its tables' and services' indexes, wakes their queries. */
  #commit(tx: Tx): number {
    if (tx.tables.size === 0) return this.#raft.index; // nothing changed: no new index (as KV's delete of nothing)
    this.#raft.index = tx.idx;
    for (const t of tx.tables) this.#tableIndexes[t] = tx.idx;
    for (const name of tx.touched) {
      if (this.instances(name).length > 0) this.#serviceIndexes.set(name, tx.idx);
      else if (this.#serviceIndexes.delete(name)) this.#extinction = tx.idx;
    }
    for (const name of tx.touched) this.#wake("service", name);
    return tx.idx;
  }
}
