/**
 * The applier of one synced upstream (issue 4 items 3, 4 and 6; upsync spec §6, §4.5): takes whole snapshots from
 * any source, skips unchanged ones, refuses any that would empty the upstream, hands the rest to Upstream.apply
 * (which keeps the state of peers that stay) and writes the dump file only when something changed. It also keeps
 * what `upsync_status` shows. Synchronous except the dump write, which is serialised and never throws.
 */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { ServerSpec, UpstreamConf, UpsyncConf } from "../config/types.js";
import { type LogLevel, SyncgateError, errnoText } from "../lib/errors.js";
import type { Upstream } from "../upstream/upstream.js";
import { formatDump, parseDump, writeDumpAtomic } from "./dump.js";
import type { Note, Snapshot } from "./types.js";

/** Where a server in service came from (issue 4 item 6; `api` arrives with the control issue). */
export type ServerOrigin = "config" | "dump" | "registry" | "api";

/** What apply() did with a snapshot. */
export type ApplyResult = "applied" | "unchanged" | "refused";

/** What UpstreamSync needs from its surroundings; tests pass doubles. */
export interface UpstreamSyncOptions {
  /** Error-log line (without nginx's time/pid prefix). */
  log(level: LogLevel, message: string): void;
  /** Clock, ms since the epoch. */
  now(): number;
  /** Dump writer; writeDumpAtomic by default. */
  writeDump?: typeof writeDumpAtomic;
  /** When the dump file found at start was last written (its mtime), so upsync_status shows its age. */
  dumpWrittenAt?: number | null;
  /** The upstream's active health checks, if any. */
  checks?: {
    /** Whether a new server starts down until its first probe (`default_down=true`). */
    startsDown(): boolean;
    /** Resolves when the servers named have their first probe result, or after the check timeout. */
    firstResults(ids: readonly string[]): Promise<void>;
  };
}

/** One server as upsync_status shows it. */
export interface ServerSyncStatus {
  spec: ServerSpec;
  origin: ServerOrigin;
  /** When the admin API drained it on this instance (ms), null when it is not drained. */
  drainingSince: number | null;
}

/** Sync state of one upstream (issue 4 item 6); times are ms since the epoch, null when it never happened. */
export interface SyncStatus {
  upstream: string;
  /** The source of the last snapshot, else the configured one (`consul 127.0.0.1:8500/v1/kv/upstreams/x/`). */
  source: string;
  /** Registry index of the last snapshot received (applied, unchanged or refused). */
  lastIndex: string | null;
  /** Last snapshot that was applied or found unchanged. */
  lastSync: number | null;
  /** Last snapshot that changed the servers. */
  lastChange: number | null;
  lastError: { message: string; time: number } | null;
  /** Refused updates, counted once per registry index. */
  refused: number;
  dump: { path: string | null; written: number | null; ageMs: number | null; error: string | null };
  /** Servers in service, in registry (or config) order. */
  servers: ServerSyncStatus[];
}

/** The source as logs, the dump comment and upsync_status name it: `TYPE [scheme://]host:port[,...]PATH`. */
export function describeSource(u: UpsyncConf): string {
  if (u.type === "file") return `file ${u.path}`;
  const hosts = u.addresses.map((a) =>
    a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`,
  );
  const scheme = u.scheme === "https" ? "https://" : "";
  return `${u.type} ${scheme}${hosts.join(",")}${hideToken(u.path)}`;
}

/**
 * The path with the value of a `token` query parameter hidden: `?token=SECRET` is the module's way to pass a
 * Consul ACL token (upsync_token_file is syncgate's), and the source is logged, dumped and served.
 */
function hideToken(path: string): string {
  return path.replace(/([?&]token=)[^&]*/gi, "$1(hidden)");
}

/** Everything a ServerSpec says except where it was written: a difference here is a change to apply and dump. */
function sameSpec(a: ServerSpec, b: ServerSpec): boolean {
  return (
    a.address === b.address &&
    a.host === b.host &&
    a.port === b.port &&
    a.weight === b.weight &&
    a.maxFails === b.maxFails &&
    a.failTimeout === b.failTimeout &&
    a.maxConns === b.maxConns &&
    a.backup === b.backup &&
    a.down === b.down &&
    a.slowStart === b.slowStart
  );
}

/** Same servers with the same attributes in the same order (order is what upstream_show, the dump and RR see). */
function sameList(a: readonly ServerSpec[], b: readonly ServerSpec[]): boolean {
  return a.length === b.length && a.every((s, i) => sameSpec(s, b[i]!));
}

/** Keeps the servers of one upstream in step with its registry. */
export class UpstreamSync {
  readonly #upstream: Upstream;
  readonly #conf: UpstreamConf;
  readonly #opts: UpstreamSyncOptions;
  readonly #writeDump: typeof writeDumpAtomic;
  #servers: ServerSpec[];
  #origins = new Map<string, ServerOrigin>();
  #source: string;
  #lastIndex: string | null = null;
  #lastSync: number | null = null;
  #lastChange: number | null = null;
  #lastError: { message: string; time: number } | null = null;
  #refused = 0;
  #refusedIndex: string | null = null;
  #dumpWritten: number | null = null;
  #dumpError: string | null = null;
  #dumpPending: { text: string; count: number } | null = null;
  #dumpRunning: Promise<void> | null = null;
  /** Counts hand-overs to the upstream, so a pending second step knows when a newer update superseded it. */
  #applySteps = 0;

  constructor(upstream: Upstream, conf: UpstreamConf, opts: UpstreamSyncOptions) {
    this.#upstream = upstream;
    this.#conf = conf;
    this.#opts = opts;
    this.#writeDump = opts.writeDump ?? writeDumpAtomic;
    this.#dumpWritten = opts.dumpWrittenAt ?? null;
    this.#source = conf.upsync ? describeSource(conf.upsync) : "config";
    // Servers in service now came from the config or from the dump it (or loadDumpAtStart) read.
    this.#servers = upstream.group.all().map((p) => p.spec);
    for (const s of this.#servers) {
      const fromDump = conf.dumpPath !== null && s.origin.file === conf.dumpPath;
      this.#origins.set(s.address, fromDump ? "dump" : "config");
    }
  }

  /** Servers in service, in registry order: a translator's `current`, and what upstream_show lists. */
  servers(): readonly ServerSpec[] {
    return this.#servers;
  }

  /**
   * Applies a whole snapshot from `source` (as describeSource names it). Entry notes are logged once per index.
   * Zero usable servers → "refused" (spec §6.3): nothing changes, `cannot delete all peers` is logged and counted
   * once per refused index. The same servers → "unchanged" (no dump). Else the upstream takes the list — peers
   * that stay keep their state, so the first sync replaces the config/dump servers without resetting them — and
   * the dump is written.
   */
  apply(s: Snapshot, source: string): ApplyResult {
    const now = this.#opts.now();
    const name = this.#conf.name;
    const newIndex = s.index !== this.#lastIndex;
    this.#source = source;
    this.#lastIndex = s.index;
    const servers = this.#usable(s, newIndex);

    if (servers.length === 0) {
      if (this.#refusedIndex === s.index) return "refused";
      this.#refusedIndex = s.index;
      this.#refused++;
      const n = this.#servers.length;
      const message =
        `upsync_del_peer: upstream "${name}" cannot delete all peers: index ${s.index || "(none)"} from ` +
        `${source} lists no usable server, ${n === 1 ? "the last server keeps" : `the last ${n} servers keep`} serving`;
      this.#opts.log("error", message);
      this.#lastError = { message, time: now };
      return "refused";
    }
    this.#refusedIndex = null;
    this.#lastSync = now;
    const old = this.#servers;
    this.#origins = new Map(servers.map((x) => [x.address, "registry"]));
    if (sameList(old, servers)) return "unchanged";

    this.#applyToUpstream(old, servers, now);
    this.#servers = servers;
    this.#lastChange = now;
    const before = new Map(old.map((x) => [x.address, x]));
    let added = 0;
    let changed = 0;
    for (const x of servers) {
      const was = before.get(x.address);
      if (!was) added++;
      else if (!sameSpec(was, x)) changed++;
      before.delete(x.address);
    }
    this.#opts.log(
      "notice",
      `upsync: upstream "${name}" applied index ${s.index || "(none)"} from ${source}: ${servers.length} ` +
        `servers, ${added} added, ${before.size} removed, ${changed} changed`,
    );
    if (this.#conf.dumpPath !== null)
      this.#scheduleDump({ text: this.#dumpText(s.index), count: servers.length });
    return "applied";
  }

  /**
   * The registry answered (changed or not): `last_sync` moves, and a dump whose last write failed is written
   * again, so a full disk or a permission fixed later does not leave a stale dump until the next change.
   */
  heard(): void {
    this.#lastSync = this.#opts.now();
    if (this.#dumpError !== null && this.#dumpRunning === null && this.#conf.dumpPath !== null) {
      this.#scheduleDump({ text: this.#dumpText(this.#lastIndex ?? ""), count: this.#servers.length });
    }
  }

  /** Records a source failure (registry down, bad answer) for upsync_status; the source logs it. */
  noteError(message: string): void {
    this.#lastError = { message, time: this.#opts.now() };
  }

  /**
   * Hands the list to the upstream. When new servers start down until their first probe (`default_down`), the
   * servers this update removes keep serving until those first results (bounded by the check timeout), so an
   * update never leaves the upstream with nothing to serve merely because its new servers wait to be probed
   * (issue 4 item 3). A newer update supersedes the pending second step.
   */
  #applyToUpstream(old: readonly ServerSpec[], servers: ServerSpec[], now: number): void {
    const step = ++this.#applySteps;
    const next = new Set(servers.map((x) => x.address));
    const prev = new Set(old.map((x) => x.address));
    const removed = old.filter((x) => !next.has(x.address));
    const added = servers.filter((x) => !prev.has(x.address)).map((x) => x.address);
    const checks = this.#opts.checks;
    if (removed.length === 0 || added.length === 0 || !checks?.startsDown()) {
      this.#upstream.apply(servers, now);
      return;
    }
    this.#upstream.apply([...servers, ...removed], now);
    void checks.firstResults(added).then(() => {
      if (step === this.#applySteps) this.#upstream.apply(servers, this.#opts.now());
    });
  }

  /** Resolves once every dump write scheduled so far has finished (or failed and been logged). */
  flush(): Promise<void> {
    return this.#dumpRunning ?? Promise.resolve();
  }

  /** The sync state now. */
  status(): SyncStatus {
    const now = this.#opts.now();
    const written = this.#dumpWritten;
    return {
      upstream: this.#conf.name,
      source: this.#source,
      lastIndex: this.#lastIndex,
      lastSync: this.#lastSync,
      lastChange: this.#lastChange,
      lastError: this.#lastError,
      refused: this.#refused,
      dump: {
        path: this.#conf.dumpPath,
        written,
        ageMs: written === null ? null : Math.max(0, now - written),
        error: this.#dumpError,
      },
      servers: this.#servers.map((spec) => ({
        spec,
        origin: this.#origins.get(spec.address) ?? "config",
        drainingSince: this.#upstream.group.get(spec.address)?.drainingSince ?? null,
      })),
    };
  }

  /** The snapshot's servers that can serve: de-duplicated by address, host names dropped (logged on a new index). */
  #usable(s: Snapshot, log: boolean): ServerSpec[] {
    const name = this.#conf.name;
    const notes: Note[] = [...s.skipped];
    const seen = new Set<string>();
    const out: ServerSpec[] = [];
    const m = this.#conf.balancer.method;
    // nginx refuses `backup` with these balancers (and so would the next start, reading the dump): ignore it.
    const noBackup = m === "ip_hash" || m === "hash" || m === "random";
    for (const x of s.servers) {
      // Translators refuse both already (spec §2.3, §6.2); kept here so no source can slip one through.
      if (isIP(x.host) === 0)
        notes.push({ key: x.address, reason: `host name in "${x.address}" is not allowed` });
      else if (seen.has(x.address)) notes.push({ key: x.address, reason: `duplicate server ${x.address}` });
      else {
        seen.add(x.address);
        if (x.backup && noBackup) {
          notes.push({
            key: x.address,
            reason: `upsync: balancing method "${m}" does not support "backup", served as a primary server`,
          });
          out.push({ ...x, backup: false });
        } else out.push(x);
      }
    }
    // Backup servers alone never serve (nginx refuses such an upstream): as empty as no server at all.
    const onlyBackups = out.length > 0 && out.every((x) => x.backup);
    if (onlyBackups) notes.push({ key: "(all)", reason: "upsync: every server listed is a backup server" });
    if (log) {
      for (const n of [...notes, ...s.warnings])
        this.#opts.log("error", `${n.reason}, key: "${n.key}", upstream: "${name}"`);
    }
    return onlyBackups ? [] : out;
  }

  #dumpText(index: string): string {
    return formatDump(this.#conf.name, this.#servers, {
      source: this.#source,
      index,
      time: this.#opts.now(),
    });
  }

  #scheduleDump(job: { text: string; count: number }): void {
    // Latest wins: a write in progress finishes, then only the newest pending text is written.
    this.#dumpPending = job;
    this.#dumpRunning ??= this.#drainDumps();
  }

  async #drainDumps(): Promise<void> {
    const path = this.#conf.dumpPath!;
    for (let job = this.#dumpPending; job !== null; job = this.#dumpPending) {
      this.#dumpPending = null;
      try {
        await this.#writeDump(path, job.text);
        this.#dumpWritten = this.#opts.now();
        this.#dumpError = null;
        this.#opts.log(
          "notice",
          `upsync_dump_server: dump conf file ${path} succeeded, number of servers is ${job.count}`,
        );
      } catch (err) {
        const message = `upsync_dump_server: ${err instanceof Error ? err.message : String(err)}`;
        this.#dumpError = message;
        this.#lastError = { message, time: this.#opts.now() };
        this.#opts.log("error", message);
      }
    }
    this.#dumpRunning = null;
  }
}

/**
 * The servers of the upstream's dump file, read before the first registry request (issue 4 item 4). A missing,
 * empty or comment-only dump is null (serve the config's servers); an unreadable or unparsable one throws a
 * SyncgateError naming the file (and line), which start-up reports as nginx does for a bad `include`.
 * Servers keep their host as written; the runtime resolves names as for config servers.
 */
export async function loadDumpAtStart(conf: UpstreamConf): Promise<ServerSpec[] | null> {
  const path = conf.dumpPath;
  if (path === null) return null;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new SyncgateError("SG_ERR_IO", `open() "${path}" failed ${errnoText(err)}`);
  }
  const servers = parseDump(text, path);
  return servers.length === 0 ? null : servers;
}

/**
 * The servers an upstream starts with (issue 4 item 4): for an upstream with a dump file (a synced one, or one
 * whose admin-API changes are kept in `upsync_dump_path`), the dump's when it lists any —
 * read where the config `include`s it, else from `upsync_dump_path` before the first registry request — because
 * the dump is the registry's last word and already replaced the config's placeholder servers; else the config's.
 */
export async function startServers(u: UpstreamConf): Promise<UpstreamConf["servers"]> {
  if (u.dumpPath === null) return u.servers;
  const included = u.servers.filter((s) => s.origin.file === u.dumpPath);
  if (included.length > 0) return included;
  return (await loadDumpAtStart(u)) ?? u.servers;
}
