/**
 * What every registry source hands the applier (DESIGN §2): the whole membership of one upstream at one registry
 * index, never a delta. Translators (registry JSON → Snapshot) are pure; the HTTP long polls live elsewhere.
 */
import type { Origin, ServerSpec, UpsyncConf } from "../config/types.js";

/** One registry entry that needs a log line: its key (or entry id) and why, in the module's log words. */
export interface Note {
  key: string;
  reason: string;
}

/** The whole membership of one upstream as one registry answer states it. */
export interface Snapshot {
  /** Servers in registry order (Consul and etcd list keys sorted), de-duplicated by address, first wins. */
  servers: ServerSpec[];
  /** The registry index this answer is at (X-Consul-Index, X-Etcd-Index, etcd v3 revision); "" when unknown. */
  index: string;
  /**
   * Entries that are not in `servers` (bad keys, sub-folders, duplicates, new servers with an unusable value),
   * plus servers already serving whose new value was unusable and which keep their last good attributes.
   */
  skipped: Note[];
  /** Servers in `servers` whose value had a bad field that fell back to its default (spec §2.4 messages). */
  warnings: Note[];
}

/** A registry answer that cannot be read at all: nothing applies, the last good servers keep serving. */
export interface TranslateError {
  error: string;
}

/** What a translator needs besides the response body. */
export interface TranslateContext {
  /** The path of the `upsync` line (`/v1/kv/upstreams/x/`, `/v2/keys/upstreams/x`, `/upstreams/x/`, ...). */
  path: string;
  /** The index from the response head (X-Consul-Index, X-Etcd-Index); "" when it had none. */
  index: string;
  /** Servers of the upstream in service now: one whose new value is unusable keeps these attributes. */
  current: readonly ServerSpec[];
  /** Origin given to the servers built; defaults to `{ file: null, line: 0 }`. */
  origin?: Origin;
}

/**
 * Registry response body → whole membership. `body` is the parsed JSON (a string is parsed here first), or null
 * for "nothing there" (Consul's 404 for an empty prefix, etcd v2's 404 for a deleted directory): an empty list,
 * which the applier refuses (spec §6.3).
 */
export type Translate = (body: unknown, ctx: TranslateContext) => Snapshot | TranslateError;

/**
 * What a source reports about itself: the first outcome, then each change (failing, recovered, another error) —
 * once per change of state, not once per retry (STYLE habit 5).
 */
export interface SourceState {
  ok: boolean;
  /** Why the source cannot be used now (never contains a secret); null when ok. */
  error: string | null;
  /** The index of the last snapshot emitted ("" before the first). */
  index: string;
}

/** What every watch loop takes (`watchConsul`, `watchEtcd2`, `watchEtcd3`, `watchFile`). */
export interface WatchOptions {
  /** Ends the loop promptly (also in the middle of a blocking query); the returned promise then resolves. */
  signal: AbortSignal;
  /** A new whole membership (the applier dedupes, refuses empty lists and diffs). */
  onSnapshot(s: Snapshot): void;
  onState(state: SourceState): void;
  /**
   * Called after every round in which every registry address failed (also while onState stays quiet); a
   * strong_dependency start-up counts these as the module's tries.
   */
  onFailedRound?(error: string): void;
  /** Called on every successful answer of the registry, changed or not (upsync_status's `last_sync`). */
  onAnswer?(): void;
  /** Servers in service now: a server whose new value is unusable keeps these attributes. */
  current(): readonly ServerSpec[];
  /** Jitter source, [0, 1) (Math.random by default). */
  random?: () => number;
  /**
   * The contents of `upsync_token_file`: a Consul ACL token (X-Consul-Token), or etcd `user:password`; never
   * logged.
   */
  token?: string | null;
}

/** A watch loop: runs until `opts.signal` aborts and never rejects. */
export type Watch = (conf: UpsyncConf, opts: WatchOptions) => Promise<void>;
