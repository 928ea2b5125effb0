/**
 * What every watch loop shares (consul-source, etcd2-source, etcd3-source): the pause between failed rounds,
 * callbacks that cannot break the loop, and state reports made once per change.
 */
import type { SourceState, WatchOptions } from "./types.js";

/** Longest pause between failed rounds. */
const MAX_BACKOFF = 30_000;

/**
 * Pause before the next round after `failures` failed rounds in a row: upsync_interval doubled per failure up to
 * a cap (16 × interval, at most 30 s, never below the interval), plus up to min(1 s, that pause) of jitter — the
 * module's interval + random()%1000, scaled down for short intervals. `failures` 0: the interval plus jitter.
 */
export function retryDelay(intervalMs: number, failures: number, random: () => number): number {
  const cap = Math.max(intervalMs, Math.min(MAX_BACKOFF, intervalMs * 16));
  const base = Math.min(cap, intervalMs * 2 ** Math.max(0, Math.min(failures - 1, 20)));
  return base + Math.floor(random() * Math.min(1000, base));
}

/** Calls a caller's callback; a throw there is the caller's bug and must not end the watch. */
export function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // Nothing to do here: the loop keeps the registry in sync whatever a consumer does.
  }
}

/**
 * The `report(ok, error)` of a loop: every success counts as an answer (onAnswer); onState hears the first
 * outcome and then each flip between ok and failing — not each retry (STYLE habit 5). `index` gives the index
 * of the last snapshot emitted, for the state.
 */
export function stateReporter(
  opts: Pick<WatchOptions, "onState" | "onAnswer">,
  index: () => string,
): (ok: boolean, error: string | null) => void {
  let reported: boolean | null = null;
  return (ok, error) => {
    if (ok) safely(() => opts.onAnswer?.());
    if (reported === ok) return;
    reported = ok;
    const state: SourceState = { ok, error, index: index() };
    safely(() => opts.onState(state));
  };
}
