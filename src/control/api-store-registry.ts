/**
 * The admin API's writes for an upstream that follows a registry (issue 6 item 2): they go to the registry, in
 * its own value format, so every syncgate (and nginx + upsync) following it sees them; this instance applies
 * them when its own sync brings them back, like any other change. The API answers once that happened (bounded),
 * so a GET right after the answer shows the change.
 */
import type { ServerSpec } from "../config/types.js";
import { REGISTRY_DEFAULTS } from "../discovery/server-entry.js";
import type { Upstream } from "../upstream/upstream.js";
import type { ServerStore, StoreOutcome } from "./api-store.js";
import type { RegistryWriter } from "./types.js";
import { serverValue } from "./value.js";

/** How often the wait looks at the upstream, ms. */
const POLL = 10;

/** Same attributes as a registry value holds them. */
export function sameAttributes(a: ServerSpec, b: ServerSpec): boolean {
  return (
    a.weight === b.weight &&
    a.maxFails === b.maxFails &&
    a.failTimeout === b.failTimeout &&
    a.backup === b.backup &&
    a.down === b.down
  );
}

/** Resolves "applied" as soon as `done()` holds, "pending" after `ms`. */
async function until(done: () => boolean, ms: number): Promise<StoreOutcome> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() >= end) return "pending";
    await new Promise((r) => setTimeout(r, POLL));
  }
  return "applied";
}

/** Writes through `writer`, then waits up to `waitMs` for the upstream to show the change. */
export function registryStore(writer: RegistryWriter, upstream: Upstream, waitMs: number): ServerStore {
  const group = upstream.group;
  return {
    source: writer.source,
    defaults: REGISTRY_DEFAULTS,
    async has(address) {
      if (group.get(address)) return true;
      return (await writer.list()).some((s) => s.address === address);
    },
    async put(spec) {
      await writer.put(spec.address, serverValue(spec));
      return until(() => {
        const now = group.get(spec.address);
        return now !== undefined && sameAttributes(now.spec, spec);
      }, waitMs);
    },
    async remove(address) {
      await writer.remove(address);
      return until(() => group.get(address) === undefined, waitMs);
    },
  };
}
