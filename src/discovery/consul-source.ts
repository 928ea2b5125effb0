/**
 * The I/O loop of `upsync_type=consul`, `consul_services` and `consul_health` (issue 4 items 2 and 5): blocking
 * queries on the KV folder (`recurse`), the catalog's or the health endpoint's service, each answer translated
 * into a whole Snapshot. Follows Consul's blocking-query rules
 * (https://developer.hashicorp.com/consul/api-docs/features/blocking): `index` from the last `X-Consul-Index`,
 * an explicit `wait`, reset to 0 when the index goes backwards, never block on index 0, and pace early returns.
 * Failures keep the last good servers: no snapshot is emitted, retries back off, onState tells each change once.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { UpsyncAddress, UpsyncConf } from "../config/types.js";
import { translateConsulHealth, translateConsulServices } from "./consul-catalog.js";
import { translateConsulKv } from "./consul-kv.js";
import { RegistryError, registryGet, type RegistryResponse, statusError } from "./registry-http.js";
import { retryDelay, safely, stateReporter } from "./loop.js";
import type { Snapshot, Translate, WatchOptions } from "./types.js";

// The pause between rounds is shared by every loop; tests of the Consul loop import it from here.
export { retryDelay };

/** Options of watchConsul: the common ones, plus a fetch to use instead of node:http (tests). */
export interface WatchConsulOptions extends WatchOptions {
  fetch?: typeof fetch;
}

/** Consul's cap on `wait` (its docs: "limited to 10 minutes"). */
const MAX_WAIT = 10 * 60_000;

/**
 * The `wait` of a blocking query: min(10 min, upsync_timeout × 15/16 − 1 s). Consul may add up to wait/16 of
 * jitter, so the answer still comes before `upsync_timeout`. Short timeouts: 1 s while that still ends in time
 * (timeouts from 1.2 s), else three quarters of the timeout (at least 100 ms) — a wait that outlasts the
 * timeout would make every blocking query fail.
 */
export function consulWait(timeoutMs: number): number {
  const wait = Math.floor((timeoutMs * 15) / 16) - 1000;
  if (wait >= 1000) return Math.min(MAX_WAIT, wait);
  if (timeoutMs >= 1200) return 1000;
  return Math.max(100, Math.floor((timeoutMs * 3) / 4));
}

/** `wait` as Consul parses it (a Go duration): whole seconds as `10s`, else `875ms`. */
export function formatWait(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * The URL of one query: the `upsync` path with its own query kept (minus any `recurse`, `index` or `wait`, which
 * are ours), then `recurse` (KV only: the catalog and health endpoints list a service, not a folder), and
 * `index` + `wait` when blocking (index > 0). The module appended `?recurse` even after an existing `?` (spec
 * §2.1); this builds the query string properly (issue 4 item 2).
 */
export function consulUrl(
  scheme: string,
  addr: UpsyncAddress,
  path: string,
  index: bigint,
  waitMs: number,
  recurse = true,
): URL {
  const q = path.indexOf("?");
  const pathname = q < 0 ? path : path.slice(0, q);
  const own = q < 0 ? [] : path.slice(q + 1).split("&");
  const params = own.filter((p) => p !== "" && !/^(?:recurse|index|wait)(?:=|$)/.test(p));
  if (recurse) params.push("recurse");
  if (index > 0n) params.push(`index=${index}`, `wait=${formatWait(waitMs)}`);
  const host = addr.host.includes(":") ? `[${addr.host}]` : addr.host;
  const slash = pathname.startsWith("/") ? "" : "/";
  return new URL(`${scheme}://${host}:${addr.port}${slash}${pathname}?${params.join("&")}`);
}

/** One answer, read: the index it is at and the parsed body (null for Consul's 404 of an empty folder). */
type Answer = { index: bigint; indexText: string; body: unknown } | { error: string };

/** Status, X-Consul-Index and JSON of one answer; every other shape is an error that changes nothing. */
export function readAnswer(res: RegistryResponse, where: string): Answer {
  const raw = res.header("x-consul-index");
  const indexText = raw?.trim() ?? "";
  const known = /^\d{1,20}$/.test(indexText);
  if (res.status === 404 && known) return { index: BigInt(indexText), indexText, body: null };
  if (res.status !== 200) return { error: statusError(res, where) };
  if (!known) return { error: `upsync_server ${where} answered without a valid X-Consul-Index` };
  try {
    return { index: BigInt(indexText), indexText, body: JSON.parse(res.body.toString("utf8")) as unknown };
  } catch {
    return { error: `upsync_parse_json: root error in the answer of upsync_server ${where}` };
  }
}

/**
 * Watches the Consul KV folder of `conf` until `opts.signal` aborts; never rejects. The first query (index 0)
 * answers at once; then each query blocks until the folder changes or `wait` runs out. A moved index (or a used-up
 * wait) is followed by the next query at once, so a change is never delayed by a sleep; an early return with an
 * unchanged index pauses `upsync_interval` (Consul asks clients to rate-limit). An error tries the next address at
 * once; when every address failed, the round pauses per retryDelay and the next one starts without blocking.
 */
export async function watchConsul(conf: UpsyncConf, opts: WatchConsulOptions): Promise<void> {
  const { signal } = opts;
  const random = opts.random ?? Math.random;
  const waitMs = consulWait(conf.timeout);
  const headers: Record<string, string> = { Accept: "application/json" };
  if (opts.token) headers["X-Consul-Token"] = opts.token;
  const addresses = conf.addresses;
  const kv = conf.type === "consul";
  const translate: Translate =
    conf.type === "consul_services"
      ? translateConsulServices
      : conf.type === "consul_health"
        ? translateConsulHealth
        : translateConsulKv;

  let index = 0n;
  let indexText = "";
  let at = 0;
  let failedInRound = 0;
  let failedRounds = 0;
  let recovering = false;
  const report = stateReporter(opts, () => indexText);
  const pause = async (ms: number): Promise<void> => {
    await sleep(ms, undefined, { signal }).catch(() => undefined);
  };
  if (addresses.length === 0) return report(false, "upsync: no registry address to query");

  while (!signal.aborted) {
    const addr = addresses[at]!;
    const where = addr.host.includes(":") ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
    const blocking = index > 0n && !recovering;
    const started = Date.now();
    let answer: Answer;
    try {
      const url = consulUrl(conf.scheme ?? "http", addr, conf.path, blocking ? index : 0n, waitMs, kv);
      const res = await registryGet(url, where, {
        headers,
        signal,
        timeout: conf.timeout,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      });
      answer = readAnswer(res, where);
    } catch (err) {
      answer = {
        error: err instanceof RegistryError ? err.message : `upsync_server ${where}: ${String(err)}`,
      };
    }
    if (signal.aborted) break;

    // Translate only a moved index; a translation that fails is an error like garbage.
    let snapshot: Snapshot | null = null;
    if (!("error" in answer)) {
      // Consul's docs: an index of 0 is a server bug; 1 always blocks safely. Lower than ours: start over at 0.
      const got = answer.index > 0n ? answer.index : 1n;
      if (got < index) {
        index = 0n;
        continue;
      }
      if (got > index) {
        const t = translate(answer.body, {
          path: conf.path,
          index: answer.indexText,
          current: opts.current(),
        });
        if ("error" in t) answer = { error: `${t.error} (upsync_server ${where})` };
        else {
          snapshot = t;
          index = got;
          indexText = answer.indexText;
        }
      }
    }

    if ("error" in answer) {
      at = (at + 1) % addresses.length;
      if (++failedInRound < addresses.length) continue;
      failedInRound = 0;
      failedRounds++;
      // The next round reads without blocking: a registry that is back answers at once (recovery is seen and
      // logged now, not when a blocking query of up to 10 min ends), and what changed meanwhile applies.
      recovering = true;
      report(false, answer.error);
      const failed = answer.error;
      safely(() => opts.onFailedRound?.(failed));
      await pause(retryDelay(conf.interval, failedRounds, random));
      continue;
    }

    failedInRound = 0;
    failedRounds = 0;
    recovering = false;
    if (snapshot) {
      const s = snapshot;
      safely(() => opts.onSnapshot(s));
      report(true, null);
      continue;
    }
    report(true, null);
    // Unchanged index: a used-up wait re-polls at once; an early return (idempotent write, ...) pauses.
    if (blocking && Date.now() - started < waitMs) await pause(retryDelay(conf.interval, 0, random));
  }
}
