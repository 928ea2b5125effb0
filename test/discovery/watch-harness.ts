/**
 * The harness the watch-loop tests share: an `upsync` on loopback, a loop started on it that collects what it
 * hands on and reports and is aborted (and awaited) when the test ends, and the waits and states they compare.
 */
import type { TestContext } from "node:test";
import type { UpsyncConf, UpsyncType } from "../../src/config/types.js";
import type { Snapshot, SourceState, WatchOptions } from "../../src/discovery/types.js";
import { eventually } from "../support/wait.js";

export { sleep } from "../support/wait.js";

/**
 * An `upsync` of `type` reading `path` from these loopback ports: 50 ms interval, 2 s timeout (so Consul's
 * wait=1s, the floor); `over` overrides.
 */
export function upsyncConf(
  type: UpsyncType,
  ports: number[],
  path: string,
  over: Partial<UpsyncConf> = {},
): UpsyncConf {
  return {
    type,
    scheme: "http",
    addresses: ports.map((port) => ({ host: "127.0.0.1", port })),
    path,
    interval: 50,
    timeout: 2000,
    strongDependency: false,
    tokenFile: null,
    lb: null,
    origin: { file: null, line: 0 },
    ...over,
  };
}

/** A loop started by `watch`: every snapshot and state so far, in order, and how to end it early. */
export interface Watching {
  snaps: Snapshot[];
  states: SourceState[];
  ac: AbortController;
  done: Promise<void>;
}

/** What every loop's options hold (`watchFile` takes the rest of WatchOptions as optional). */
type Base = Pick<WatchOptions, "signal" | "onSnapshot" | "onState">;

/**
 * Starts `loop` on `conf`: servers in service are those of the last snapshot, jitter is 0, and `extra` adds or
 * overrides options (a loop's test-only ones). The test's end aborts the loop and waits for it.
 */
export function watch<O extends Base>(
  t: TestContext,
  loop: (conf: UpsyncConf, opts: O) => Promise<void>,
  conf: UpsyncConf,
  extra: Partial<O> = {},
): Watching {
  const ac = new AbortController();
  const snaps: Snapshot[] = [];
  const states: SourceState[] = [];
  const common: WatchOptions = {
    signal: ac.signal,
    onSnapshot: (s) => snaps.push(s),
    onState: (s) => states.push(s),
    current: () => snaps.at(-1)?.servers ?? [],
    random: () => 0,
  };
  const opts: Base & Partial<O> = { ...common, ...extra };
  const done = loop(conf, opts as O);
  t.after(async () => {
    ac.abort();
    await done;
  });
  return { snaps, states, ac, done };
}

/** Waits until `cond` holds, checking every 5 ms for at most `ms`; the timeout names `what`. */
export function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  return eventually(what, cond, ms, 5);
}

/** The ok state at this registry index. */
export const ok = (index: number | string): SourceState => ({ ok: true, error: null, index: String(index) });
