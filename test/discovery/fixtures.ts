/** Registry answer shapes for translator tests, following each registry's documented HTTP API. */
import type { ServerSpec } from "../../src/config/types.js";
import { REGISTRY_DEFAULTS } from "../../src/discovery/server-entry.js";
import type { Snapshot, TranslateContext, TranslateError } from "../../src/discovery/types.js";

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** One element of Consul's `GET /v1/kv/<prefix>?recurse` answer. */
export function kv(key: string, value: string | null, modifyIndex = 10): Record<string, unknown> {
  return {
    LockIndex: 0,
    Key: key,
    Flags: 0,
    Value: value === null ? null : b64(value),
    CreateIndex: 5,
    ModifyIndex: modifyIndex,
  };
}

/** etcd v2's `GET /v2/keys/<dir>` answer with these children (key, value or null for none, dir flag). */
export function etcd2Listing(dir: string, nodes: { key: string; value?: string; dir?: boolean }[]): unknown {
  return {
    action: "get",
    node: {
      key: dir,
      dir: true,
      nodes: nodes.map((n) => ({
        key: n.key,
        ...(n.dir ? { dir: true } : { value: n.value ?? "" }),
        modifiedIndex: 7,
        createdIndex: 7,
      })),
      modifiedIndex: 4,
      createdIndex: 4,
    },
  };
}

/** etcd v3's `POST /v3/kv/range` answer (JSON gateway: base64 keys and values, proto3 omits empty fields). */
export function etcd3Range(revision: string, kvs: { key: string; value: string | null }[]): unknown {
  const out: Record<string, unknown> = {
    header: {
      cluster_id: "14841639068965178418",
      member_id: "10276657743932975437",
      revision,
      raft_term: "2",
    },
  };
  if (kvs.length > 0) {
    out.kvs = kvs.map((e) => ({
      key: b64(e.key),
      create_revision: "2",
      mod_revision: "3",
      version: "1",
      ...(e.value === null || e.value === "" ? {} : { value: b64(e.value) }),
    }));
    out.count = String(kvs.length);
  }
  return out;
}

/** A registry-made spec: the registry defaults, then `extra`. */
export function registrySpec(address: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  const v6 = address.startsWith("[");
  const i = address.lastIndexOf(":");
  return {
    address,
    host: v6 ? address.slice(1, i - 1) : address.slice(0, i),
    port: Number(address.slice(i + 1)),
    ...REGISTRY_DEFAULTS,
    maxConns: 0,
    slowStart: 0,
    origin: { file: null, line: 0 },
    ...extra,
  };
}

/** A translation context. */
export function ctx(path: string, index = "42", current: ServerSpec[] = []): TranslateContext {
  return { path, index, current };
}

/** The snapshot, or a failed assertion naming the error. */
export function snap(result: Snapshot | TranslateError): Snapshot {
  if ("error" in result) throw new Error(`unexpected translate error: ${result.error}`);
  return result;
}

/** Addresses of a snapshot's servers, in order. */
export const addrs = (s: Snapshot): string[] => s.servers.map((x) => x.address);
