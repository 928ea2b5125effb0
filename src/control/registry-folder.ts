/**
 * The writer every key-value registry shares (Consul KV, etcd v2, etcd v3): one key per server, `<folder><ip:port>`,
 * whose value is the JSON of upsync spec §2.4. A key may spell an address another way (`010.0.0.1:80`,
 * `[0:0::1]:80`, written by hand); the read side takes the first spelling in key order and ignores the rest
 * (server-entry.ts), so a write goes to that spelling and a removal removes every one — otherwise `ctl weight`
 * would change a key syncgate ignores, and `ctl remove` would leave the server serving.
 */
import type { ServerSpec } from "../config/types.js";
import { compareKeys, parseServerKey } from "../discovery/server-entry.js";
import type { RegistryWriter } from "./types.js";
import { parseAddress, serverValue, toValue, valueJson } from "./value.js";

/** One registry's folder of server keys, as folderWriter drives it; every call rejects with a ControlError. */
export interface FolderStore {
  /** For messages, as RegistryWriter.source. */
  readonly source: string;
  /** The key prefix holding the servers, ending in "/" (`upstreams/x/`, `/upstreams/x/`). */
  readonly folder: string;
  /** Every key under the folder, and the servers syncgate would apply from them (the source's translator). */
  read(): Promise<{ keys: string[]; servers: ServerSpec[] }>;
  /** Sets `key` to `value`. */
  set(key: string, value: string): Promise<void>;
  /** Deletes `key`; a missing key is no error. */
  unset(key: string): Promise<void>;
}

/** A key as a URL path: each segment escaped, `:` kept readable (`upstreams/x/10.0.0.1:80`). */
export function keyPath(key: string): string {
  return key
    .split("/")
    .map((s) => encodeURIComponent(s).replace(/%3A/gi, ":"))
    .join("/");
}

/** The keys of `folder` that name `address` (canonical), in key order. */
export function spellings(keys: readonly string[], folder: string, address: string): string[] {
  return keys
    .filter((k) => {
      if (!k.startsWith(folder)) return false;
      const got = parseServerKey(k.slice(folder.length));
      return "address" in got && got.address === address;
    })
    .sort(compareKeys);
}

/** The RegistryWriter of a key-value registry. */
export function folderWriter(store: FolderStore): RegistryWriter {
  return {
    source: store.source,
    async list() {
      const { servers } = await store.read();
      return servers.map((s) => ({ address: s.address, value: serverValue(s) }));
    },
    async put(address, value) {
      const addr = parseAddress(address);
      const text = valueJson(toValue({ ...value }));
      const { keys } = await store.read();
      await store.set(spellings(keys, store.folder, addr)[0] ?? `${store.folder}${addr}`, text);
    },
    async remove(address) {
      const addr = parseAddress(address);
      const { keys } = await store.read();
      const canonical = `${store.folder}${addr}`;
      // The canonical key even when not listed: a key written since the listing goes too (DELETE is idempotent).
      for (const key of new Set([...spellings(keys, store.folder, addr), canonical])) await store.unset(key);
    },
  };
}
