/**
 * Whether a reload changed an upstream (issue 7): upstreams that did not change keep their servers, health and
 * registry state. Where the servers are managed at run time (a registry with `upsync`, or the admin API's changes
 * kept in `upsync_dump_path`), the listed servers are left out of the comparison: the dump file the config
 * includes changes on every sync. Where a directive was written (file:line) never matters.
 */
import type { UpstreamConf } from "../config/types.js";

/** Whether `a` and `b` define the same upstream, as a reload compares them. */
export function sameUpstream(a: UpstreamConf, b: UpstreamConf): boolean {
  return canonical(a) === canonical(b);
}

function canonical(u: UpstreamConf): string {
  const managed = u.upsync !== null || u.dumpPath !== null;
  return JSON.stringify(managed ? { ...u, servers: null } : u, (key, value: unknown) =>
    key === "origin" ? undefined : value,
  );
}
