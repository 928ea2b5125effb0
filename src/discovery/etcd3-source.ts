/**
 * The I/O loop of `upsync_type=etcd3` (issue 4), through etcd's JSON gRPC gateway (etcd ≥ 3.4 serves `/v3/...`,
 * https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/): `POST /v3/kv/range` over the key prefix gives the first
 * snapshot at `header.revision`; then one `POST /v3/watch` from the next revision streams newline-delimited
 * `{"result":{...}}` objects. Event batches are applied to the listing read last (puts replace, deletes remove), and
 * the result is translated whole, so each batch costs no request; a reconnect (stream ended or broke, compaction)
 * reads the range again. etcd says nothing while the prefix is quiet, so silence is no failure: after a quiet
 * spell the loop sends a progress request on the open stream and only an unanswered one counts as a dead
 * connection. Failures keep the last good servers: no snapshot, backoff per retryDelay, onState once per change.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { UpsyncAddress, UpsyncConf } from "../config/types.js";
import { retryDelay, safely, stateReporter } from "./loop.js";
import { etcd3AuthBody, etcd3Prefix, etcd3RangeEnd, translateEtcd3 } from "./etcd3.js";
import {
  RegistryError,
  registryOrigin,
  registryPost,
  type RegistryResponse,
  registryStream,
  registryWhere,
  statusError,
} from "./registry-http.js";
import type { WatchOptions } from "./types.js";

/** Options of watchEtcd3: the common ones, plus test hooks. */
export interface WatchEtcd3Options extends WatchOptions {
  /** Quiet time (ms) after which a progress request checks the stream; max(upsync_interval, 1 s) by default. */
  progressAfter?: number;
  /** Test hook: awaited between the range and the watch it starts (to change the registry in between). */
  beforeWatch?: () => Promise<void>;
}

/** One key-value of the gateway's JSON (base64 key and value; proto3 omits empty fields). */
type Kv = Record<string, unknown>;

/** The JSON bodies of a range and of a watch's create request over `prefix`, from revision `start`. */
export function etcd3Requests(prefix: string, start: bigint): { range: string; watch: string } {
  const key = Buffer.from(prefix, "utf8").toString("base64");
  const rangeEnd = etcd3RangeEnd(prefix).toString("base64");
  return {
    range: JSON.stringify({ key, range_end: rangeEnd }),
    watch: `${JSON.stringify({ create_request: { key, range_end: rangeEnd, start_revision: String(start) } })}\n`,
  };
}

/** What one line of the watch stream means for the loop. */
export type WatchLine =
  | { created: true }
  /** Events up to `revision`; puts and deletes to apply in order. */
  | { events: { del: boolean; kv: Kv }[]; revision: bigint }
  /** The start revision was compacted away: read the range again (not a failure). */
  | { compacted: string }
  /** A progress notification or anything else with no event: the stream is alive. */
  | { alive: true }
  | { error: string };

const asObject = (v: unknown): Record<string, unknown> | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** The message of a gateway error object (`{"error":"..","message":".."}` or `{"error":{"message":..}}`). */
function gatewayError(o: Record<string, unknown>): string {
  const inner = asObject(o.error);
  const m = inner?.message ?? o.message ?? o.error;
  return typeof m === "string" ? m : JSON.stringify(o).slice(0, 200);
}

/** Decimal text of a revision in the gateway's JSON (int64 as a string), or null. */
function revisionOf(v: unknown): bigint | null {
  const t = typeof v === "number" ? String(v) : v;
  return typeof t === "string" && /^\d{1,20}$/.test(t) ? BigInt(t) : null;
}

/** Reads one line of the watch stream. */
export function readWatchLine(line: string, where: string): WatchLine {
  let o: Record<string, unknown> | null;
  try {
    o = asObject(JSON.parse(line));
  } catch {
    return { error: `upsync_parse_json: a watch message of upsync_server ${where} is not JSON` };
  }
  if (!o) return { error: `upsync_parse_json: a watch message of upsync_server ${where} is not an object` };
  if (o.error !== undefined) return { error: `upsync_server ${where} ended the watch: ${gatewayError(o)}` };
  const r = asObject(o.result);
  if (!r) return { error: `upsync_parse_json: a watch message of upsync_server ${where} has no result` };
  const compact = revisionOf(r.compact_revision);
  if (compact !== null && compact > 0n) return { compacted: String(compact) };
  if (r.canceled === true) {
    const why = typeof r.cancel_reason === "string" ? r.cancel_reason : "no reason given";
    return { error: `upsync_server ${where} canceled the watch: ${why}` };
  }
  if (r.created === true) return { created: true };
  if (!Array.isArray(r.events) || r.events.length === 0) return { alive: true };
  let revision = revisionOf(asObject(r.header)?.revision) ?? 0n;
  const events: { del: boolean; kv: Kv }[] = [];
  for (const e of r.events as unknown[]) {
    const kv = asObject(asObject(e)?.kv);
    if (!kv || typeof kv.key !== "string") {
      return { error: `upsync_parse_json: a watch event of upsync_server ${where} has no kv` };
    }
    const mod = revisionOf(kv.mod_revision);
    if (mod !== null && mod > revision) revision = mod;
    events.push({ del: asObject(e)?.type === "DELETE", kv });
  }
  return { events, revision };
}

/** Status and JSON of a range (or authenticate) answer; every other shape is an error. */
function readJson(
  res: RegistryResponse,
  where: string,
): { json: Record<string, unknown> } | { error: string } {
  let o: Record<string, unknown> | null = null;
  try {
    o = asObject(JSON.parse(res.body.toString("utf8")));
  } catch {
    // Reported below.
  }
  if (res.status !== 200) {
    if (!o) return { error: statusError(res, where) };
    return { error: `upsync_server ${where} answered http_status: ${res.status} (${gatewayError(o)})` };
  }
  if (!o) return { error: `upsync_parse_json: root error in the answer of upsync_server ${where}` };
  return { json: o };
}

/** Thrown inside one attempt: the attempt failed with this log message. */
class AttemptError extends Error {}

/**
 * Watches the etcd v3 key prefix of `conf` until `opts.signal` aborts; never rejects. Each attempt: authenticate
 * (when a `user:password` token is set: `POST /v3/auth/authenticate`, the token then sent as `Authorization`),
 * range, watch until the stream ends or breaks. An error tries the next address at once; when every address
 * failed, the round pauses per retryDelay. The state turns ok once a watch is created, so a registry that lists but
 * refuses watches is reported failing once, not twice per retry.
 */
export async function watchEtcd3(conf: UpsyncConf, opts: WatchEtcd3Options): Promise<void> {
  const { signal } = opts;
  const random = opts.random ?? Math.random;
  const prefix = etcd3Prefix(conf.path);
  const progressAfter = opts.progressAfter ?? Math.max(conf.interval, 1000);
  const addresses = conf.addresses;

  let emitted: bigint | null = null;
  let indexText = "";
  let failedInRound = 0;
  let failedRounds = 0;
  let at = 0;
  const report = stateReporter(opts, () => indexText);
  const succeeded = (): void => {
    failedInRound = 0;
    failedRounds = 0;
    report(true, null);
  };
  /** Translates the listing and hands it on when the revision moved; a bad listing is an attempt error. */
  const emit = (kvs: Map<string, Kv>, revision: bigint, where: string): void => {
    if (revision === emitted) return;
    const body = { header: { revision: String(revision) }, kvs: [...kvs.values()] };
    const t = translateEtcd3(body, { path: conf.path, index: String(revision), current: opts.current() });
    if ("error" in t) throw new AttemptError(`${t.error} (upsync_server ${where})`);
    emitted = revision;
    indexText = t.index;
    safely(() => opts.onSnapshot(t));
  };
  if (addresses.length === 0) return report(false, "upsync: no registry address to query");

  const attempt = async (addr: UpsyncAddress, where: string): Promise<void> => {
    const base = registryOrigin(conf.scheme ?? "http", addr);
    const bounded = { signal, timeout: conf.timeout };
    const headers: Record<string, string> = { Accept: "application/json" };
    if (opts.token) headers.Authorization = await authenticate(base, where, opts.token, bounded);

    for (;;) {
      const range = readJson(
        await registryPost(new URL(`${base}/v3/kv/range`), where, etcd3Requests(prefix, 0n).range, {
          headers,
          ...bounded,
        }),
        where,
      );
      if ("error" in range) throw new AttemptError(range.error);
      const revision = revisionOf(asObject(range.json.header)?.revision);
      if (revision === null)
        throw new AttemptError(`upsync_server ${where} answered a range without a revision`);
      const listed = range.json.kvs ?? [];
      if (!Array.isArray(listed))
        throw new AttemptError(`upsync_parse_json: kvs is not an array (upsync_server ${where})`);
      // Keyed by the base64 key, as events name them; an entry without a key stays in (under a name no key has)
      // so the translator reports it.
      const kvs = new Map<string, Kv>();
      (listed as unknown[]).forEach((kv, i) => {
        const o = asObject(kv) ?? {};
        kvs.set(typeof o.key === "string" ? o.key : `#${i}`, o);
      });
      emit(kvs, revision, where);
      if (opts.beforeWatch) await opts.beforeWatch();
      if (signal.aborted) return;
      await watch(base, where, headers, kvs, revision);
    }
  };

  /** Follows one watch; resolves when the range must be read again (compaction), else throws. */
  const watch = async (
    base: string,
    where: string,
    headers: Record<string, string>,
    kvs: Map<string, Kv>,
    from: bigint,
  ): Promise<void> => {
    const stream = await registryStream(
      new URL(`${base}/v3/watch`),
      where,
      etcd3Requests(prefix, from + 1n).watch,
      {
        headers,
        signal,
        timeout: conf.timeout,
      },
    );
    let silent = false;
    let probe: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const quiet = (): void => {
      clearTimeout(probe);
      clearTimeout(deadline);
      deadline = undefined;
      probe = setTimeout(() => {
        stream.send(`${JSON.stringify({ progress_request: {} })}\n`);
        deadline = setTimeout(() => {
          silent = true;
          stream.close();
        }, conf.timeout);
      }, progressAfter);
    };
    try {
      if (stream.status !== 200) {
        const first = await stream.next().catch(() => null);
        let o: Record<string, unknown> | null = null;
        try {
          o = first === null ? null : asObject(JSON.parse(first));
        } catch {
          // Not the gateway's JSON: the status alone says it.
        }
        throw new AttemptError(
          `upsync_server ${where} answered http_status: ${stream.status}${o ? ` (${gatewayError(o)})` : ""}`,
        );
      }
      let revision = from;
      for (;;) {
        quiet();
        let line: string | null;
        try {
          line = await stream.next();
        } catch (err) {
          if (silent)
            throw new AttemptError(
              `upsync_timeout: upsync_server ${where} did not answer a progress request`,
            );
          throw err;
        }
        if (line === null) throw new AttemptError(`upsync_server ${where} ended the watch`);
        const got = readWatchLine(line, where);
        if ("error" in got) throw new AttemptError(got.error);
        if ("compacted" in got) return;
        if ("created" in got) succeeded();
        if (!("events" in got)) {
          // A progress notification: the registry is alive and the watch current.
          safely(() => opts.onAnswer?.());
          continue;
        }
        for (const e of got.events) {
          if (e.del) kvs.delete(e.kv.key as string);
          else kvs.set(e.kv.key as string, e.kv);
        }
        revision = got.revision > revision ? got.revision : revision + 1n;
        emit(kvs, revision, where);
      }
    } finally {
      clearTimeout(probe);
      clearTimeout(deadline);
      stream.close();
    }
  };

  while (!signal.aborted) {
    const addr = addresses[at]!;
    const where = registryWhere(addr);
    let error: string;
    try {
      await attempt(addr, where);
      if (signal.aborted) break;
      error = `upsync_server ${where} ended the watch`;
    } catch (err) {
      if (signal.aborted) break;
      error =
        err instanceof AttemptError || err instanceof RegistryError
          ? err.message
          : `upsync_server ${where}: ${String(err)}`;
    }
    at = (at + 1) % addresses.length;
    if (++failedInRound < addresses.length) continue;
    failedInRound = 0;
    failedRounds++;
    report(false, error);
    safely(() => opts.onFailedRound?.(error));
    await sleep(retryDelay(conf.interval, failedRounds, random), undefined, { signal }).catch(
      () => undefined,
    );
  }
}

/** `user:password` → the gateway's auth token (the password never reaches a message). */
async function authenticate(
  base: string,
  where: string,
  token: string,
  bounded: { signal: AbortSignal; timeout: number },
): Promise<string> {
  const res = await registryPost(new URL(`${base}/v3/auth/authenticate`), where, etcd3AuthBody(token), {
    headers: { Accept: "application/json" },
    ...bounded,
  });
  const got = readJson(res, where);
  if ("error" in got) throw new AttemptError(`etcd authentication failed: ${got.error}`);
  if (typeof got.json.token !== "string" || got.json.token === "") {
    throw new AttemptError(`upsync_server ${where} answered an authentication without a token`);
  }
  return got.json.token;
}
