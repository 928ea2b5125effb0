/**
 * Consul's KV table (https://developer.hashicorp.com/consul/api-docs/kv): entries, the KV table index, and
 * tombstones for deleted keys (so a list's index never drops until they are reaped).
 */
import type { Wake } from "./blocking.js";
import type { Raft } from "./raft.js";

/** One stored key, as Consul's DirEntry. */
export interface KvEntry {
  key: string;
  value: Buffer | null;
  flags: number;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
}

/** The KV entries and their indexes. */
export class KvTable {
  /** Consul's KV table index (kvs + tombstones): the index of the last KV write; catalog writes leave it. */
  #index = 1;
  readonly #entries = new Map<string, KvEntry>();
  /** Deleted keys → the index of their deletion (Consul's KV graveyard). */
  readonly #tombstones = new Map<string, number>();
  readonly #raft: Raft;
  readonly #wake: Wake;

  constructor(raft: Raft, wake: Wake) {
    this.#raft = raft;
    this.#wake = wake;
  }

  /** The KV table index. */
  get index(): number {
    return this.#index;
  }

  /** A stored entry, or undefined. */
  get(key: string): KvEntry | undefined {
    return this.#entries.get(key);
  }

  /** Every stored entry, unordered. */
  values(): IterableIterator<KvEntry> {
    return this.#entries.values();
  }

  /** Stores `key`; returns the write's index. */
  put(key: string, value: string | Buffer | null, flags: number): number {
    const index = ++this.#raft.index;
    this.#index = index;
    const old = this.#entries.get(key);
    const v = value === null || value.length === 0 ? null : Buffer.from(value);
    this.#entries.set(key, {
      key,
      value: v,
      flags,
      createIndex: old?.createIndex ?? index,
      modifyIndex: index,
      lockIndex: old?.lockIndex ?? 0,
    });
    this.#tombstones.delete(key);
    this.#wake("kv", key);
    return index;
  }

  /** Deletes `key` (`recurse`: every key under the prefix); returns the index after it. */
  delete(key: string, recurse: boolean): number {
    const gone = recurse ? [...this.#entries.keys()].filter((k) => k.startsWith(key)) : [key];
    if (!gone.some((k) => this.#entries.has(k))) return this.#raft.index; // Consul: no table change, no new KV index
    const index = ++this.#raft.index;
    this.#index = index;
    for (const k of gone) {
      if (!this.#entries.delete(k)) continue;
      this.#tombstones.set(k, index);
      this.#wake("kv", k);
    }
    return index;
  }

  /** Index of a list under `prefix`: newest entry or tombstone there, else the KV table's (Consul's kvsList). */
  listIndex(prefix: string): number {
    let idx = 0;
    for (const e of this.#entries.values()) if (e.key.startsWith(prefix)) idx = Math.max(idx, e.modifyIndex);
    for (const [k, i] of this.#tombstones) if (k.startsWith(prefix)) idx = Math.max(idx, i);
    return idx === 0 ? this.#index : idx;
  }

  /** setIndex()'s part here: indexes capped at `n`, tombstones gone. */
  capAt(n: number): void {
    this.#index = Math.min(this.#index, n);
    for (const e of this.#entries.values()) {
      e.createIndex = Math.min(e.createIndex, n);
      e.modifyIndex = Math.min(e.modifyIndex, n);
    }
    this.#tombstones.clear();
  }

  /** Drops the tombstones, as Consul's graveyard reaping does: a list whose newest write was a delete goes back. */
  reapTombstones(): void {
    this.#tombstones.clear();
  }
}
