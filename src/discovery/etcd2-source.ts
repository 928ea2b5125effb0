/**
 * The I/O loop of `upsync_type=etcd` (etcd v2 keys API, upsync spec §3.3; issue 4): read the whole directory, then
 * wait on it (`?wait=true&recursive=true&waitIndex=<X-Etcd-Index + 1>`). Like the module, a watch event is only a
 * trigger: the directory is read again and the new listing is the snapshot, so no event arithmetic can go wrong.
 * etcd keeps the last 1000 events; a wait on an older index answers errorCode 401 ("outdated and cleared"), which
 * also means "read again" (https://etcd.io/docs/v2.3/api/#waiting-for-a-change). Failures keep the last good
 * servers: no snapshot, backoff per retryDelay, onState tells each change once.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { UpsyncAddress, UpsyncConf } from "../config/types.js";
import { retryDelay, safely, stateReporter } from "./loop.js";
import { etcd2Directory, translateEtcd2 } from "./etcd2.js";
import {
  RegistryError,
  registryGet,
  registryOrigin,
  type RegistryResponse,
  registryWhere,
  statusError,
} from "./registry-http.js";
import type { WatchOptions } from "./types.js";

/** Options of watchEtcd2: the common ones, plus a fetch to use instead of node:http (tests). */
export interface WatchEtcd2Options extends WatchOptions {
  fetch?: typeof fetch;
}

/** etcd's EcodeKeyNotFound (a deleted directory) and EcodeEventIndexCleared (a wait older than the history). */
const KEY_NOT_FOUND = 100;
const EVENT_INDEX_CLEARED = 401;
/** The reread reason of a wait whose index etcd no longer has. */
const CLEARED = "event index cleared";

/**
 * The URL of a full read (`waitIndex` null: `?recursive=true`) or of a wait on the directory of `path`. The path's
 * own query is kept (`quorum=true`, ...) minus the parameters that are ours (`recursive`, `wait`, `waitIndex`) and
 * `stream`, which would turn a wait into a never-ending answer.
 */
export function etcd2Url(scheme: string, addr: UpsyncAddress, path: string, waitIndex: bigint | null): URL {
  const q = path.indexOf("?");
  const own = q < 0 ? [] : path.slice(q + 1).split("&");
  const params = own.filter((p) => p !== "" && !/^(?:recursive|wait|waitIndex|stream)(?:=|$)/.test(p));
  if (waitIndex === null) params.push("recursive=true");
  else params.push("wait=true", "recursive=true", `waitIndex=${waitIndex}`);
  return new URL(`${registryOrigin(scheme, addr)}/v2/keys${etcd2Directory(path)}?${params.join("&")}`);
}

/** What one answer means for the loop. */
export type Etcd2Step =
  /** A listing at this X-Etcd-Index (body null: the directory does not exist). */
  | { listing: { index: bigint; indexText: string; body: unknown } }
  /** A wait fired (an event) or its index was cleared: read the directory again, at once. */
  | { reread: string }
  | { error: string };

/** The JSON of an answer; undefined when it is not JSON. */
function parseJson(res: RegistryResponse): unknown {
  try {
    return JSON.parse(res.body.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

const asRecord = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};

/** An unexpected status, in etcd's own words (the `message` of its error body) when it gave some. */
function etcdStatusError(res: RegistryResponse, body: unknown, where: string): string {
  const m = asRecord(body).message;
  if (typeof m !== "string") return statusError(res, where);
  return `upsync_server ${where} answered http_status: ${res.status} (${m.slice(0, 200)})`;
}

/** Reads the answer of a full read: 200 with X-Etcd-Index and JSON, or 404 errorCode 100 (no directory). */
export function readEtcd2Listing(res: RegistryResponse, where: string): Etcd2Step {
  const indexText = res.header("x-etcd-index")?.trim() ?? "";
  const body = parseJson(res);
  if (body === undefined) {
    if (res.status !== 200) return { error: statusError(res, where) };
    return { error: `upsync_parse_json: root error in the answer of upsync_server ${where}` };
  }
  const missing = res.status === 404 && asRecord(body).errorCode === KEY_NOT_FOUND;
  if (res.status !== 200 && !missing) return { error: etcdStatusError(res, body, where) };
  if (!/^\d{1,20}$/.test(indexText)) {
    return { error: `upsync_server ${where} answered without a valid X-Etcd-Index` };
  }
  return { listing: { index: BigInt(indexText), indexText, body: missing ? null : body } };
}

/** Reads the answer of a wait: an event (any `action`) or errorCode 401 ask for a new read; all else is an error. */
export function readEtcd2Wait(res: RegistryResponse, where: string): Etcd2Step {
  const body = parseJson(res);
  if (body === undefined) {
    if (res.status !== 200) return { error: statusError(res, where) };
    return { error: `upsync_parse_json: root error in the answer of upsync_server ${where}` };
  }
  const o = asRecord(body);
  if (res.status === 200 && typeof o.action === "string") return { reread: `event ${o.action}` };
  if (res.status === 400 && o.errorCode === EVENT_INDEX_CLEARED) return { reread: CLEARED };
  if (res.status === 200) return { error: `upsync_server ${where} answered a wait without an event` };
  return { error: etcdStatusError(res, body, where) };
}

/**
 * Watches the etcd v2 directory of `conf` until `opts.signal` aborts; never rejects. A wait that runs out of
 * `upsync_timeout` after etcd answered its head is normal (nothing changed) and is issued again at once. An error tries the next address at
 * once; when every address failed, the round pauses per retryDelay and the next request is a full read, so a
 * recovery is seen (and reported) without waiting for a change.
 */
export async function watchEtcd2(conf: UpsyncConf, opts: WatchEtcd2Options): Promise<void> {
  const { signal } = opts;
  const random = opts.random ?? Math.random;
  const headers: Record<string, string> = { Accept: "application/json" };
  if (opts.token) headers.Authorization = `Basic ${Buffer.from(opts.token, "utf8").toString("base64")}`;
  const addresses = conf.addresses;

  /** 0: read the whole directory next; else wait for this index. */
  let waitIndex = 0n;
  let emitted: bigint | null = null;
  let indexText = "";
  let at = 0;
  let failedInRound = 0;
  let failedRounds = 0;
  /** Waits answered "cleared" in a row. */
  let cleared = 0;
  const report = stateReporter(opts, () => indexText);
  if (addresses.length === 0) return report(false, "upsync: no registry address to query");

  while (!signal.aborted) {
    const addr = addresses[at]!;
    const where = registryWhere(addr);
    const waiting = waitIndex > 0n;
    let step: Etcd2Step | null;
    try {
      const url = etcd2Url(conf.scheme ?? "http", addr, conf.path, waiting ? waitIndex : null);
      const res = await registryGet(url, where, {
        headers,
        signal,
        timeout: conf.timeout,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      });
      step = waiting ? readEtcd2Wait(res, where) : readEtcd2Listing(res, where);
    } catch (err) {
      // etcd sends a wait's head at once: one that then saw no change within upsync_timeout is no failure, but
      // one without a head (a frozen etcd still accepts connections) is.
      const idle = waiting && err instanceof RegistryError && err.reason === "idle";
      step = idle
        ? null
        : { error: err instanceof RegistryError ? err.message : `upsync_server ${where}: ${String(err)}` };
    }
    if (signal.aborted) break;
    if (step === null) {
      cleared = 0;
      continue;
    }

    if ("listing" in step) {
      const { index, body } = step.listing;
      // Any move counts, backwards too: a restored or new cluster has its own contents.
      if (index !== emitted) {
        const t = translateEtcd2(body, {
          path: conf.path,
          index: step.listing.indexText,
          current: opts.current(),
        });
        if ("error" in t) step = { error: `${t.error} (upsync_server ${where})` };
        else {
          emitted = index;
          indexText = step.listing.indexText;
          safely(() => opts.onSnapshot(t));
        }
      }
      if (!("error" in step)) waitIndex = index + 1n;
    } else if ("reread" in step) {
      waitIndex = 0n;
      // A directory written more than 1000 times between each read and the next wait would have every wait
      // answered "cleared": after two in a row, pause upsync_interval before reading again (no busy loop).
      cleared = step.reread === CLEARED ? cleared + 1 : 0;
      if (cleared >= 2) {
        await sleep(retryDelay(conf.interval, 0, random), undefined, { signal }).catch(() => undefined);
      }
    }

    if ("error" in step) {
      waitIndex = 0n;
      at = (at + 1) % addresses.length;
      if (++failedInRound < addresses.length) continue;
      failedInRound = 0;
      failedRounds++;
      report(false, step.error);
      const failed = step.error;
      safely(() => opts.onFailedRound?.(failed));
      await sleep(retryDelay(conf.interval, failedRounds, random), undefined, { signal }).catch(
        () => undefined,
      );
      continue;
    }
    failedInRound = 0;
    failedRounds = 0;
    report(true, null);
  }
}
