/**
 * The status handlers a location can name (`upstream_show`, `upsync_status`, `check_status`), rendered from one
 * process's state: the single process's, or a cluster primary's after it summed its workers' counters.
 */
import type { CheckStatusFormat, LocationHandlerConf } from "../config/types.js";
import type { HealthChecker } from "../check/checker.js";
import type { RegistryRunner } from "../discovery/runner.js";
import type { ErrorLog } from "../log/error-log.js";
import { LATENCY_BUCKETS } from "../upstream/peer.js";
import type { Upstream } from "../upstream/upstream.js";
import {
  type CheckPeerStatus,
  NO_CHECK_SERVERS,
  type PeerTraffic,
  checkStatusBadArgument,
  parseCheckStatusArgs,
  renderCheckStatus,
} from "./check-status.js";
import { renderUpstreamShow, type ShowRequest, type ShowResponse } from "./upstream-show.js";
import { renderUpsyncStatus } from "./upsync-status.js";

/** What the pages read. */
export interface StatusSources {
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly registry: RegistryRunner | null;
  readonly checker: HealthChecker;
  readonly errorLog: ErrorLog;
}

/** Answers a status handler (the admin API is answered elsewhere: it reads a body first). */
export function renderStatusPage(
  p: StatusSources,
  handler: LocationHandlerConf,
  req: ShowRequest,
): ShowResponse {
  if (handler.kind === "upsync_status") return renderUpsyncStatus(p.registry?.status() ?? [], req);
  if (handler.kind === "check_status") return checkStatus(p, handler.format, req);
  if (handler.kind === "api") return { status: 500, headers: [], body: null };
  // As the module: primary servers only (backup servers are in the dump and upsync_status).
  const list = [...p.upstreams.values()].map((u) => ({
    name: u.conf.name,
    servers: (p.registry?.servers(u.conf.name)?.servers() ?? u.group.all().map((peer) => peer.spec)).filter(
      (spec) => !spec.backup,
    ),
  }));
  return renderUpstreamShow(list, req);
}

/** The check_status page (check spec §3) with the proxy's per-server traffic and the registry's state. */
function checkStatus(p: StatusSources, format: CheckStatusFormat, req: ShowRequest): ShowResponse {
  const peers = p.checker.servers();
  if (req.method === "GET" || req.method === "HEAD") {
    if (peers.length === 0) p.errorLog.log("error", NO_CHECK_SERVERS);
    for (const bad of parseCheckStatusArgs(req.args).bad)
      p.errorLog.log("error", checkStatusBadArgument(bad));
  }
  const traffic = (c: CheckPeerStatus): PeerTraffic | null => {
    const t = p.upstreams.get(c.upstream)?.group.get(c.name)?.traffic;
    if (!t) return null;
    return {
      requests: t.requests,
      failures: t.failures,
      latencySeconds: {
        sum: t.latencySum,
        count: t.requests,
        buckets: t.latencyCounts.slice(0, LATENCY_BUCKETS.length).map((n, i) => [LATENCY_BUCKETS[i]!, n]),
      },
    };
  };
  const sync = (p.registry?.status() ?? []).map((st) => ({
    upstream: st.upstream,
    ok: p.registry?.ok(st.upstream) ?? true,
    lastSyncSeconds: st.lastSync === null ? null : st.lastSync / 1000,
    refused: st.refused,
    servers: st.servers.length,
  }));
  return renderCheckStatus({ generation: p.checker.generation, peers, traffic, sync }, format, req);
}
