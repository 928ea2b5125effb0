/**
 * The `upsync_status` location handler's answer (issue 4 item 6): the sync state of every synced upstream as
 * JSON — source, last index, last sync and change, last error, refused updates, dump path and age, and each server
 * with where it came from. Field names are snake_case like the NGINX Plus API; times are ISO 8601 (UTC), ages ms,
 * `fail_timeout` seconds as in the registry; a server the admin API drains on this instance says so (`drain`, set
 * by `api`, since when). Pure: the HTTP layer writes it. `upstream_show` stays as the module's.
 */
import type { SyncStatus } from "../discovery/sync.js";
import type { ShowRequest, ShowResponse } from "./upstream-show.js";

/** One server in upsync_status. */
export interface UpsyncServerJson {
  server: string;
  weight: number;
  max_fails: number;
  fail_timeout: number;
  down: boolean;
  backup: boolean;
  origin: string;
  /** Present while this instance drains the server: a local override that registry updates keep. */
  drain?: { origin: "api"; since: string };
}

/** One upstream in upsync_status. */
export interface UpsyncUpstreamJson {
  source: string;
  last_index: string | null;
  last_sync: string | null;
  last_change: string | null;
  last_error: { message: string; time: string } | null;
  refused: number;
  dump: { path: string | null; written: string | null; age_ms: number | null; error: string | null };
  servers: UpsyncServerJson[];
}

/** The whole document: upstreams by name, in declaration order. */
export interface UpsyncStatusJson {
  upstreams: Record<string, UpsyncUpstreamJson>;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** One upstream's JSON object. */
export function upsyncUpstreamJson(s: SyncStatus): UpsyncUpstreamJson {
  return {
    source: s.source,
    last_index: s.lastIndex,
    last_sync: iso(s.lastSync),
    last_change: iso(s.lastChange),
    last_error: s.lastError && { message: s.lastError.message, time: iso(s.lastError.time)! },
    refused: s.refused,
    dump: { path: s.dump.path, written: iso(s.dump.written), age_ms: s.dump.ageMs, error: s.dump.error },
    servers: s.servers.map(({ spec, origin, drainingSince }) => ({
      server: spec.address,
      weight: spec.weight,
      max_fails: spec.maxFails,
      fail_timeout: Math.floor(spec.failTimeout / 1000),
      down: spec.down,
      backup: spec.backup,
      origin,
      ...(drainingSince === null ? {} : { drain: { origin: "api" as const, since: iso(drainingSince)! } }),
    })),
  };
}

/** The document for these upstreams. */
export function upsyncStatusJson(list: readonly SyncStatus[]): UpsyncStatusJson {
  const upstreams: Record<string, UpsyncUpstreamJson> = {};
  for (const s of list) upstreams[s.upstream] = upsyncUpstreamJson(s);
  return { upstreams };
}

/**
 * The answer to `GET|HEAD /upsync_status[?NAME]`: every upstream, or (query string = a name, exact) that one in the
 * same document shape; an unknown name is a 404 with a JSON error. Bodies are 2-space indented and end in "\n".
 * Other methods get 405 and nginx's error page (body null).
 */
export function renderUpsyncStatus(list: readonly SyncStatus[], req: ShowRequest): ShowResponse {
  if (req.method !== "GET" && req.method !== "HEAD") return { status: 405, headers: [], body: null };
  let status = 200;
  let doc: unknown;
  if (req.args === null || req.args === "") doc = upsyncStatusJson(list);
  else {
    const name = req.args;
    const one = list.filter((s) => s.upstream === name);
    if (one.length > 0) doc = upsyncStatusJson(one);
    else {
      status = 404;
      doc = { error: `upstream "${name}" is not synced or does not exist` };
    }
  }
  const body = `${JSON.stringify(doc, null, 2)}\n`;
  const headers = ["Content-Type", "application/json", "Content-Length", String(Buffer.byteLength(body))];
  return { status, headers, body: req.method === "HEAD" ? "" : body };
}
