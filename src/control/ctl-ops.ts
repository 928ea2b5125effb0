/**
 * The operations of `syncgate ctl` over resolved targets: list, add, remove, down/up/weight (read-modify-write of
 * the whole registry value), status. Drain is in ./ctl-drain.ts. Each returns plain data the command formats
 * (table or JSON) and rejects with a ControlError carrying a one-line reason.
 */
import type { ServerSpec } from "../config/types.js";
import type { ApiPeer, ApiUpstream } from "./ctl-api.js";
import { apiWriter } from "./ctl-api-writer.js";
import type { CtlTargets, UpstreamTarget } from "./ctl-targets.js";
import { parseAddress, toValue } from "./registry-writer.js";
import { ControlError, type RegistryServer, type RegistryWriter, type ServerValue } from "./types.js";

/** One server row of `ctl list`. */
export interface ListRow {
  server: string;
  weight: number;
  max_fails: number;
  fail_timeout: number;
  backup: boolean;
  down: boolean;
  /** False for a server the running syncgate serves that its source no longer lists. */
  listed: boolean;
  /** Live state in the running syncgate (`up`, `down`, `unhealthy`, `draining`, ...); null when unknown. */
  state: string | null;
  /** Active connections in the running syncgate; null when unknown. */
  active: number | null;
}

/** One upstream of `ctl list`. */
export interface ListSection {
  upstream: string;
  /** Where its servers were read: `consul 127.0.0.1:8500/v1/kv/upstreams/x/`, `api http://...`, `config`. */
  source: string;
  /** Why `ctl` cannot change it; null when it can. */
  read_only: string | null;
  servers: ListRow[];
}

/** The answer of `ctl list`. */
export interface ListResult {
  upstreams: ListSection[];
  /** The API the live columns came from; null when none was known or reachable. */
  live: string | null;
  /** Why the live columns are missing although an API is known; null otherwise. */
  live_error: string | null;
}

/** The answer of a change. */
export interface ChangeResult {
  upstream: string;
  server: string;
  /** `added`, `updated`, `removed`, `absent` (remove of a server not listed: nothing to do). */
  action: "added" | "updated" | "removed" | "absent";
  source: string;
  /** The value written (null for a removal). */
  value: ServerValue | null;
  /** A warning to show (removing the last server). */
  warning: string | null;
}

/** The upstreams a command without UPSTREAM covers: the configuration's, else the API's. */
export async function upstreamNames(targets: CtlTargets): Promise<string[]> {
  if (targets.names !== null) return targets.names;
  if (targets.api) return Object.keys(await targets.api.upstreams());
  throw new ControlError(
    "Usage",
    "name the UPSTREAM: there is no configuration or API to list upstreams from",
  );
}

/** `ctl list [UPSTREAM]`. */
export async function listServers(targets: CtlTargets, upstream: string | undefined): Promise<ListResult> {
  const names = upstream !== undefined ? [upstream] : await upstreamNames(targets);
  const chosen = names.map((n) => targets.target(n));
  let live: Record<string, ApiUpstream> | null = null;
  let liveError: string | null = null;
  if (targets.api) {
    try {
      live = await targets.api.upstreams();
    } catch (err) {
      if (!(err instanceof ControlError)) throw err;
      liveError = err.message;
    }
  }
  const sections: ListSection[] = [];
  for (const t of chosen) {
    const { source, servers } = await readServers(targets, t, live !== null);
    const peers = live?.[t.name];
    sections.push({
      upstream: t.name,
      source,
      read_only: t.readOnly,
      servers: merge(servers, peers?.peers ?? null),
    });
  }
  return { upstreams: sections, live: live !== null ? targets.api!.base : null, live_error: liveError };
}

/** The listed servers of one upstream: its source, else (no source) the API, else the config. */
async function readServers(
  targets: CtlTargets,
  t: UpstreamTarget,
  apiUp: boolean,
): Promise<{ source: string; servers: RegistryServer[] }> {
  if (t.reader) return { source: t.reader.source, servers: await t.reader.list() };
  if (targets.api && apiUp) {
    const w = apiWriter(targets.api, t.name);
    return { source: w.source, servers: await w.list() };
  }
  return { source: "config", servers: t.configServers.map(fromSpec) };
}

function fromSpec(s: ServerSpec): RegistryServer {
  return {
    address: s.address,
    value: {
      weight: s.weight,
      max_fails: s.maxFails,
      fail_timeout: Math.floor(s.failTimeout / 1000),
      down: s.down ? 1 : 0,
      backup: s.backup ? 1 : 0,
    },
  };
}

/** Listed servers with the live columns, then the servers served but no longer listed. */
function merge(servers: RegistryServer[], peers: ApiPeer[] | null): ListRow[] {
  const rows: ListRow[] = servers.map(({ address, value }) => {
    const p = peers?.find((x) => x.server === address);
    return {
      server: address,
      weight: value.weight,
      max_fails: value.max_fails,
      fail_timeout: value.fail_timeout,
      backup: value.backup === 1,
      down: value.down === 1,
      listed: true,
      state: peers === null ? null : (p?.state ?? "-"),
      active: p?.active ?? null,
    };
  });
  for (const p of peers ?? []) {
    if (servers.some((s) => s.address === p.server)) continue;
    rows.push({
      server: p.server,
      weight: p.weight ?? 1,
      max_fails: 0,
      fail_timeout: 0,
      backup: p.backup ?? false,
      down: p.state === "down",
      listed: false,
      state: p.state,
      active: p.active,
    });
  }
  return rows;
}

/** The writer of an upstream, or ReadOnlySource with the reason. */
export function writerOf(t: UpstreamTarget): RegistryWriter {
  if (t.writer) return t.writer;
  throw new ControlError("ReadOnlySource", t.readOnly ?? `upstream "${t.name}" cannot be changed here`, 409);
}

/**
 * `ctl add`: writes the server's whole value (registry defaults for what is not given; `attrs` as typed, checked by
 * toValue); an existing server's value is replaced.
 */
export async function addServer(
  targets: CtlTargets,
  upstream: string,
  address: string,
  attrs: Readonly<Record<string, unknown>>,
): Promise<ChangeResult> {
  const t = targets.target(upstream);
  const w = writerOf(t);
  const server = parseAddress(address);
  const value = toValue(attrs);
  const existed = (await w.list()).some((s) => s.address === server);
  await w.put(server, value);
  return { upstream, server, action: existed ? "updated" : "added", source: w.source, value, warning: null };
}

/** The warning of a forced removal of an upstream's last server. */
export function lastServerWarning(upstream: string, server: string): string {
  return (
    `upstream "${upstream}" has no servers left in its source; running syncgates keep serving ${server}, ` +
    `since they never empty an upstream`
  );
}

/** Refuses to take the last server out of an upstream unless forced. */
export function checkNotLast(
  list: RegistryServer[],
  upstream: string,
  server: string,
  force: boolean,
): boolean {
  const last = list.length === 1 && list[0]!.address === server;
  if (last && !force) {
    throw new ControlError(
      "LastServer",
      `refusing to remove ${server}, the last server of upstream "${upstream}" (--force removes it anyway; ` +
        `running syncgates keep serving it)`,
      409,
    );
  }
  return last;
}

/** `ctl remove`: refuses the last server unless `force`; a server not listed is nothing to do. */
export async function removeServer(
  targets: CtlTargets,
  upstream: string,
  address: string,
  force: boolean,
): Promise<ChangeResult> {
  const t = targets.target(upstream);
  const w = writerOf(t);
  const server = parseAddress(address);
  const list = await w.list();
  if (!list.some((s) => s.address === server)) {
    return { upstream, server, action: "absent", source: w.source, value: null, warning: null };
  }
  const last = checkNotLast(list, upstream, server, force);
  await w.remove(server);
  const warning = last ? lastServerWarning(upstream, server) : null;
  return { upstream, server, action: "removed", source: w.source, value: null, warning };
}

/** The listed value of a server; ServerNotFound when it is not listed. */
export function valueIn(
  list: RegistryServer[],
  upstream: string,
  server: string,
  source: string,
): ServerValue {
  const found = list.find((s) => s.address === server);
  if (!found)
    throw new ControlError(
      "ServerNotFound",
      `server ${server} is not in upstream "${upstream}" (${source})`,
      404,
    );
  return found.value;
}

/** `ctl down`, `ctl up`, `ctl weight`: read the value, change fields, write the whole value back. */
export async function changeServer(
  targets: CtlTargets,
  upstream: string,
  address: string,
  change: Readonly<Record<string, unknown>>,
): Promise<ChangeResult> {
  const t = targets.target(upstream);
  const w = writerOf(t);
  const server = parseAddress(address);
  toValue(change); // a bad value fails before the registry is asked
  const value = toValue(change, valueIn(await w.list(), upstream, server, w.source));
  await w.put(server, value);
  return { upstream, server, action: "updated", source: w.source, value, warning: null };
}

/** One row of `ctl status`. */
export interface StatusRow extends ApiPeer {
  upstream: string;
}

/** `ctl status [UPSTREAM]`: the live table of the running syncgate. */
export async function status(targets: CtlTargets, upstream: string | undefined): Promise<StatusRow[]> {
  const api = needApi(targets, "status");
  const all = await api.upstreams();
  if (upstream !== undefined && !(upstream in all)) {
    if (targets.names !== null) targets.target(upstream); // an unknown name fails with the config's words
    throw new ControlError(
      "UpstreamNotFound",
      `unknown upstream "${upstream}" in the running syncgate (${api.base})`,
      404,
    );
  }
  const rows: StatusRow[] = [];
  for (const [name, u] of Object.entries(all)) {
    if (upstream !== undefined && name !== upstream) continue;
    for (const p of u.peers) rows.push({ upstream: name, ...p });
  }
  return rows;
}

/** The API, or NoApi naming the command that needs it. */
export function needApi(targets: CtlTargets, what: string): NonNullable<CtlTargets["api"]> {
  if (targets.api) return targets.api;
  throw new ControlError(
    "NoApi",
    `${what} needs a running syncgate's API: add an "api" location to the configuration or give --api URL`,
  );
}
