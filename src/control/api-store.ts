/**
 * Where the admin API's attribute writes for one upstream go (issue 6 item 2): one small interface, one
 * implementation per file. An upstream with no `upsync` changes in memory (memoryStore); one with a registry
 * writes there and waits for the change to come back (api-store-registry.ts).
 */
import type { ServerSpec } from "../config/types.js";
import type { Upstream } from "../upstream/upstream.js";
import { formatDump, writeDumpAtomic } from "../discovery/dump.js";
import { ControlError } from "./types.js";

/** "applied": this instance serves the change now; "pending": written, not back from the registry yet. */
export type StoreOutcome = "applied" | "pending";

/** The attributes a new server gets when the request leaves them out. */
export interface StoreDefaults {
  weight: number;
  maxFails: number;
  /** ms */
  failTimeout: number;
}

/** The membership of one upstream as the API changes it. */
export interface ServerStore {
  /** What it writes to, for logs: `memory`, `consul 127.0.0.1:8500/v1/kv/upstreams/x/`. */
  readonly source: string;
  readonly defaults: StoreDefaults;
  /** Whether the server is listed already (by this instance, or by the registry). */
  has(address: string): Promise<boolean>;
  /** Adds the server or replaces its attributes. */
  put(spec: ServerSpec): Promise<StoreOutcome>;
  /** Removes the server. */
  remove(address: string): Promise<StoreOutcome>;
}

/** nginx's defaults for a `server` line (weight=1 max_fails=1 fail_timeout=10s). */
export const NGINX_DEFAULTS: StoreDefaults = { weight: 1, maxFails: 1, failTimeout: 10_000 };

/**
 * An upstream with no source: the new list applies at once (peers that stay keep their state). With an
 * `upsync_dump_path` the list is also saved there (atomically; start-up loads it), else it lasts until the next
 * start. The answer waits for the write: a change the API acknowledged survives a restart.
 */
export function memoryStore(upstream: Upstream, now: () => number): ServerStore {
  const specs = (): ServerSpec[] => upstream.group.all().map((p) => p.spec);
  let writing: Promise<void> = Promise.resolve();
  const save = async (list: ServerSpec[]): Promise<StoreOutcome> => {
    upstream.apply(list, now());
    const path = upstream.conf.dumpPath;
    if (path === null || list.length === 0) return "applied";
    const text = formatDump(upstream.conf.name, list, { source: "api", index: "", time: now() });
    // One write at a time, in order: the last change is the file's content.
    const job = writing.then(() => writeDumpAtomic(path, text));
    writing = job.catch(() => undefined);
    try {
      await job;
    } catch (err) {
      throw new ControlError(
        "DumpWriteFailed",
        `applied, but saving it to ${path} failed: ${err instanceof Error ? err.message : String(err)}`,
        500,
      );
    }
    return "applied";
  };
  return {
    source: upstream.conf.dumpPath === null ? "memory" : `memory, saved to ${upstream.conf.dumpPath}`,
    defaults: NGINX_DEFAULTS,
    has: (address) => Promise.resolve(upstream.group.get(address) !== undefined),
    put(spec) {
      const list = specs();
      const i = list.findIndex((s) => s.address === spec.address);
      if (i >= 0) list[i] = spec;
      else list.push(spec);
      return save(list);
    },
    remove(address) {
      return save(specs().filter((s) => s.address !== address));
    },
  };
}
