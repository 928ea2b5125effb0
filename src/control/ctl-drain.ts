/**
 * `ctl drain`: the running syncgate stops giving the server new requests (API `PATCH {"drain": true}`), ctl waits
 * until its active connections are 0 or the timeout passes, showing progress, then removes it from its source
 * (the registry, or the API for an upstream with no registry). Registries have no drain field, so the drain
 * itself lives in the instance (NGINX Plus's `drain` does the same).
 */
import { checkNotLast, lastServerWarning, needApi, valueIn, writerOf } from "./ctl-ops.js";
import type { CtlTargets } from "./ctl-targets.js";
import { parseAddress } from "./registry-writer.js";

/** How to drain. */
export interface DrainOptions {
  /** Longest wait for the active connections to end, ms. */
  timeoutMs: number;
  /** Remove it even when it is the upstream's last server. */
  force: boolean;
  /** Pause between two looks at the active connections, ms. */
  pollMs: number;
  /** Prints one progress line (human output), or nothing (JSON). */
  progress(line: string): void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** What a drain did. */
export interface DrainResult {
  upstream: string;
  server: string;
  /** True when its active connections reached 0 before the timeout. */
  drained: boolean;
  /** Active connections when the wait ended. */
  active: number;
  waited_ms: number;
  /** The source it was removed from. */
  source: string;
  warning: string | null;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Drains `address` of `upstream` through the API, then removes it from its source. */
export async function drainServer(
  targets: CtlTargets,
  upstream: string,
  address: string,
  opts: DrainOptions,
): Promise<DrainResult> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const t = targets.target(upstream);
  const api = needApi(targets, "drain");
  const w = writerOf(t);
  const server = parseAddress(address);
  const list = await w.list();
  valueIn(list, upstream, server, w.source);
  const last = checkNotLast(list, upstream, server, opts.force);
  const peer = await api.find(upstream, server);
  await api.patch(upstream, peer.id, { drain: true });

  const start = now();
  opts.progress(
    `draining ${server} of upstream "${upstream}": no new requests (timeout ${seconds(opts.timeoutMs)})`,
  );
  let active = -1;
  let shown = -1;
  let shownAt = start;
  for (;;) {
    const live = await api.upstreams();
    active = live[upstream]?.peers.find((p) => p.server === server)?.active ?? 0;
    const waited = now() - start;
    if (active === 0 || waited >= opts.timeoutMs) break;
    if (active !== shown || now() - shownAt >= 1000) {
      opts.progress(`  ${active} active connection${active === 1 ? "" : "s"} after ${seconds(waited)}`);
      shown = active;
      shownAt = now();
    }
    await sleep(Math.min(opts.pollMs, Math.max(0, opts.timeoutMs - waited)));
  }
  const waited = now() - start;
  if (active === 0) opts.progress(`  drained after ${seconds(waited)}`);
  else opts.progress(`  timeout after ${seconds(waited)} with ${active} active; removing it anyway`);

  await w.remove(server);
  opts.progress(`removed ${server} from ${w.source}`);
  return {
    upstream,
    server,
    drained: active === 0,
    active,
    waited_ms: waited,
    source: w.source,
    warning: last ? lastServerWarning(upstream, server) : null,
  };
}
