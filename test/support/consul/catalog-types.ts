/**
 * The catalog's shapes: what tests register (ServiceRegistration, CheckRegistration) and the rows Consul's state
 * store keeps (structs.Node, structs.ServiceNode, structs.HealthCheck).
 */

/** A health check status Consul stores (`maintenance` is a critical check with a reserved ID). */
export type CheckStatus = "passing" | "warning" | "critical";

/** One service instance for registerService(): Consul's catalog registration of a node and a service, flattened. */
export interface ServiceRegistration {
  /** Node name. */
  node: string;
  /** The node's address (`Address` of the catalog entry). */
  nodeAddress: string;
  /** Service ID, unique per node; the name by default (as Consul). */
  id?: string;
  /** Service name. */
  name: string;
  /** The service's own address (`ServiceAddress`); "" (the default) means the node's. */
  address?: string;
  port: number;
  /** null or absent: none (Consul stores nil; the catalog endpoint shows `[]`, the health one `null`). */
  tags?: string[] | null;
  meta?: Record<string, string>;
}

/** A check for setCheck(): a node check (no `serviceId`, e.g. `serfHealth`) or a check of one service instance. */
export interface CheckRegistration {
  node: string;
  /** CheckID, unique per node. */
  id: string;
  status: CheckStatus;
  /** The instance checked; absent for a node check, which concerns every service of the node. */
  serviceId?: string;
  /** The check's name; its ID by default. */
  name?: string;
  output?: string;
}

/** A catalog node (Consul's structs.Node). */
export interface NodeRow {
  id: string;
  node: string;
  address: string;
  taggedAddresses: Record<string, string> | null;
  meta: Record<string, string>;
  createIndex: number;
  modifyIndex: number;
}

/** A service instance on a node (Consul's structs.ServiceNode, minus the node's fields). */
export interface ServiceRow {
  node: string;
  id: string;
  service: string;
  tags: string[] | null;
  address: string;
  port: number;
  meta: Record<string, string>;
  createIndex: number;
  modifyIndex: number;
}

/** A health check (Consul's structs.HealthCheck); `serviceId` "" for a node check. */
export interface CheckRow {
  node: string;
  checkId: string;
  name: string;
  status: string;
  notes: string;
  output: string;
  serviceId: string;
  createIndex: number;
  modifyIndex: number;
}

/** What `PUT /v1/catalog/register` carries (Consul's structs.RegisterRequest), decoded. */
export interface Registration {
  node: string;
  address: string;
  id: string;
  taggedAddresses: Record<string, string> | null;
  meta: Record<string, string>;
  skipNodeUpdate: boolean;
  service: Omit<ServiceRow, "node" | "createIndex" | "modifyIndex"> | null;
  checks: Omit<CheckRow, "createIndex" | "modifyIndex">[];
}

/** A write Consul refuses (its RPC layer answers these with HTTP 500 and the message). */
export class ConsulWriteError extends Error {
  override name = "ConsulWriteError";
}
