/**
 * Registry sync at run time (issue 4): one UpstreamSync and one watch loop per upstream with `upsync`, started
 * after the dump was loaded and before (strong_dependency) or while the listeners accept traffic. Sources only
 * report; this file turns their reports into the error log's lines (once per change of state) and the sync state
 * `upsync_status` shows. Stopping aborts every loop and waits for pending dump writes.
 */
import { setMaxListeners } from "node:events";
import { readFile, stat } from "node:fs/promises";
import type { UpstreamConf, UpsyncConf } from "../config/types.js";
import { configError, errnoText, type LogLevel, SyncgateError } from "../lib/errors.js";
import type { HealthChecker } from "../check/checker.js";
import type { Upstream } from "../upstream/upstream.js";
import { describeSource, type SyncStatus, UpstreamSync } from "./sync.js";
import type { SourceState } from "./types.js";
import { WATCHES } from "./watches.js";

/** Failed rounds (every address tried) after which a strong_dependency start-up gives up, as the module's 3 tries. */
const STRONG_TRIES = 3;
/** A strong_dependency start-up never waits longer than this for its first sync, whatever upsync_timeout says. */
const STRONG_WAIT_MAX = 30_000;

/** What the runner needs from the proxy. */
export interface RunnerOptions {
  log: (level: LogLevel, message: string) => void;
  now: () => number;
  random?: () => number;
  /** Active health checks, so updates that add servers starting down wait for their first probe to remove. */
  checker?: HealthChecker | null;
}

interface Synced {
  conf: UpstreamConf;
  upstream: Upstream;
  /** Stops this upstream's loop (a reload that replaces the upstream stops only its own). */
  ac: AbortController;
  /** The running loop, null until started. */
  loop: Promise<void> | null;
  upsync: UpsyncConf;
  sync: UpstreamSync;
  source: string;
  token: string | null;
  /** Resolves on the first snapshot that leaves the upstream with registry servers (applied or unchanged). */
  first: Promise<void>;
  firstDone: () => void;
  /** Failed rounds seen before the first success (strong_dependency counts them). */
  failures: number;
  lastError: string | null;
  onFailure: (() => void) | null;
  /** The source reported failing and has not recovered. */
  failing: boolean;
}

/** Reads `upsync_token_file` (trimmed); an unreadable or empty file is a start-up error naming the `upsync` line. */
async function readToken(u: UpsyncConf): Promise<string | null> {
  if (u.tokenFile === null) return null;
  let text: string;
  try {
    text = await readFile(u.tokenFile, "utf8");
  } catch (err) {
    throw configError(`upsync_token_file: open() "${u.tokenFile}" failed ${errnoText(err)}`, u.origin);
  }
  const token = text.trim();
  if (token === "") throw configError(`upsync_token_file: "${u.tokenFile}" is empty`, u.origin);
  return token;
}

/** A file's modification time in ms, or null when it cannot be read. */
async function mtime(path: string): Promise<number | null> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return null;
  }
}

/** Every synced upstream of one running configuration. */
export class RegistryRunner {
  readonly #opts: RunnerOptions;
  readonly #synced: Synced[] = [];

  private constructor(opts: RunnerOptions) {
    this.#opts = opts;
  }

  /**
   * Prepares the sync of every upstream with `upsync` (their Upstream objects must hold the config's or the dump's
   * servers already); reads token files, so a missing one fails start-up. Nothing is requested yet. On reload,
   * `previous` is the running configuration's runner: an upstream the reload kept (the same Upstream object) keeps
   * its running watch and sync state; nothing of `previous` changes until adopt().
   */
  static async create(
    confs: readonly UpstreamConf[],
    upstreams: ReadonlyMap<string, Upstream>,
    opts: RunnerOptions,
    previous: RegistryRunner | null = null,
  ): Promise<RegistryRunner> {
    const r = new RegistryRunner(opts);
    const checker = opts.checker ?? null;
    for (const conf of confs) {
      const upstream = upstreams.get(conf.name);
      if (!conf.upsync || !upstream) continue;
      const kept = previous === null ? undefined : previous.#synced.find((s) => s.upstream === upstream);
      if (kept) {
        r.#synced.push(kept);
        continue;
      }
      const token = await readToken(conf.upsync);
      const dumpWrittenAt = conf.dumpPath === null ? null : await mtime(conf.dumpPath);
      let firstDone = (): void => undefined;
      const first = new Promise<void>((resolve) => (firstDone = resolve));
      r.#synced.push({
        conf,
        upstream,
        ac: new AbortController(),
        loop: null,
        upsync: conf.upsync,
        sync: new UpstreamSync(upstream, conf, {
          log: opts.log,
          now: opts.now,
          dumpWrittenAt,
          ...(checker && conf.check
            ? {
                checks: {
                  startsDown: () => checker.startsDown(upstream),
                  firstResults: (ids: readonly string[]) => checker.firstResults(upstream, ids),
                },
              }
            : {}),
        }),
        source: describeSource(conf.upsync),
        token,
        first,
        firstDone,
        failures: 0,
        lastError: null,
        onFailure: null,
        failing: false,
      });
    }
    return r;
  }

  /** Whether any upstream is synced. */
  get size(): number {
    return this.#synced.length;
  }

  /** Starts every watch loop not running yet. */
  start(): void {
    for (const s of this.#synced) {
      if (s.loop !== null) continue;
      // Every request and pause of a loop listens on its signal: a long-lived loop is not a leak.
      setMaxListeners(0, s.ac.signal);
      s.loop = this.#run(s);
    }
  }

  /**
   * After a reload: starts the loops of new upstreams and stops those of `previous` that this runner did not keep
   * (removed or changed upstreams), waiting for their pending dump writes.
   */
  async adopt(previous: RegistryRunner | null): Promise<void> {
    this.start();
    if (!previous) return;
    const dropped = previous.#synced.filter((s) => !this.#synced.includes(s));
    await RegistryRunner.#halt(dropped);
  }

  /**
   * What start-up waits for before the listeners accept. strong_dependency=on (issue 4 item 4): each such upstream's
   * first successful sync; rejects with a SyncgateError naming the upstream and the last error after 3 failed
   * rounds (or 30 s). A watched file (`upsync_type=file`) is local: its first read (or failure) is awaited too,
   * for at most a second, so the first requests do not meet the config's placeholder servers.
   */
  async ready(): Promise<void> {
    const files = this.#synced
      .filter((s) => s.upsync.type === "file" && !s.upsync.strongDependency)
      .map(
        (s) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 1000);
            s.onFailure = () => {
              clearTimeout(timer);
              resolve();
            };
            void s.first.then(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
      );
    await Promise.all([...files, this.#waitStrong()]);
  }

  async #waitStrong(): Promise<void> {
    await Promise.all(
      this.#synced
        .filter((s) => s.upsync.strongDependency)
        .map(
          (s) =>
            new Promise<void>((resolve, reject) => {
              const fail = (why: string): void =>
                reject(
                  new SyncgateError(
                    "SG_ERR_CONFIG",
                    `upsync: upstream "${s.conf.name}" has strong_dependency=on and its first sync from ` +
                      `${s.source} failed: ${why}`,
                  ),
                );
              const bound = Math.min(STRONG_WAIT_MAX, STRONG_TRIES * (s.upsync.timeout + s.upsync.interval));
              const timer = setTimeout(() => fail(s.lastError ?? `no answer within ${bound} ms`), bound);
              // Another upstream may fail start-up first: this timer must not keep the process alive then.
              timer.unref();
              s.onFailure = () => {
                if (s.failures < STRONG_TRIES) return;
                clearTimeout(timer);
                fail(s.lastError ?? "unknown error");
              };
              void s.first.then(() => {
                clearTimeout(timer);
                resolve();
              });
            }),
        ),
    );
  }

  /** Servers of a synced upstream in registry order, or null when `name` is not synced. */
  servers(name: string): UpstreamSync | null {
    return this.#synced.find((s) => s.conf.name === name)?.sync ?? null;
  }

  /** The credentials read from `upsync_token_file` of upstream `name` (the admin API writes with them), or null. */
  token(name: string): string | null {
    return this.#synced.find((s) => s.conf.name === name)?.token ?? null;
  }

  /** Whether the registry of upstream `name` answers now (false while it is failing). */
  ok(name: string): boolean {
    return !(this.#synced.find((s) => s.conf.name === name)?.failing ?? false);
  }

  /** Sync state of every synced upstream, in declaration order. */
  status(): SyncStatus[] {
    return this.#synced.map((s) => s.sync.status());
  }

  /** Stops every loop and waits for them and for pending dump writes. */
  async stop(): Promise<void> {
    await RegistryRunner.#halt(this.#synced);
  }

  static async #halt(list: readonly Synced[]): Promise<void> {
    for (const s of list) s.ac.abort();
    await Promise.all(list.map((s) => s.loop ?? Promise.resolve()));
    await Promise.all(list.map((s) => s.sync.flush()));
  }

  #run(s: Synced): Promise<void> {
    const name = s.conf.name;
    const log = this.#opts.log;
    const onState = (state: SourceState): void => {
      if (!state.ok) {
        const error = state.error ?? "unknown error";
        s.lastError = error;
        s.sync.noteError(error);
        const n = s.sync.servers().length;
        log(
          "error",
          `upsync: upstream "${name}": ${error}; ${n === 1 ? "its server keeps" : `its ${n} servers keep`} ` +
            `serving, retrying`,
        );
        s.failing = true;
      } else if (s.failing) {
        s.failing = false;
        log("notice", `upsync: upstream "${name}": ${s.source} answers again`);
      }
    };
    /** A failed try; `final`: an answer that asking again would not change (strong_dependency stops at once). */
    const failedRound = (error: string, final = false): void => {
      s.lastError = error;
      s.failures = final ? Math.max(s.failures + 1, STRONG_TRIES) : s.failures + 1;
      s.sync.noteError(error);
      s.onFailure?.();
    };
    return WATCHES[s.upsync.type](s.upsync, {
      signal: s.ac.signal,
      onSnapshot: (snap) => {
        let result;
        try {
          result = s.sync.apply(snap, s.source);
        } catch (err) {
          log("alert", `upsync: upstream "${name}": applying index ${snap.index} failed: ${String(err)}`);
          return;
        }
        if (result !== "refused") s.firstDone();
        // An answer that lists no usable server ends a strong_dependency start-up, as the module's 404 did.
        else failedRound(`index ${snap.index || "(none)"} lists no usable server`, true);
      },
      onState,
      onFailedRound: failedRound,
      onAnswer: () => s.sync.heard(),
      current: () => s.sync.servers(),
      token: s.token,
      ...(this.#opts.random ? { random: this.#opts.random } : {}),
    });
  }
}
