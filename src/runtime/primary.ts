/**
 * A cluster's primary (`worker_processes N`, N > 1): owns what must happen once — registry watches, health
 * checks, the dump files, admin API writes — in a ProxyServer that never listens, and N workers that serve. Every
 * change of membership, health or drain state goes to the workers as per-upstream state tagged with the
 * configuration generation; a worker that starts (or restarts) gets all of it at once. The workers accept on the
 * listening sockets themselves (SCHED_NONE): round-robin scheduling would pass every connection through this
 * process (measured: README, Process model). A worker that dies is logged and replaced.
 */
import cluster, { type Worker as ClusterWorker } from "node:cluster";
import { createServer } from "node:net";
import { availableParallelism, constants } from "node:os";
import type { LoadResult } from "../config/adapt.js";
import type { Config } from "../config/types.js";
import { type LogLevel, SyncgateError } from "../lib/errors.js";
import { listenOn } from "../proxy/listeners.js";
import { type CloseMode, ProxyServer } from "../proxy/server.js";
import { listenersOf } from "../router/servers.js";
import type { ShowResponse } from "../status/upstream-show.js";
import { onPeerState } from "../upstream/peer.js";
import type { Upstream } from "../upstream/upstream.js";
import {
  sumCounters,
  type ToPrimary,
  type ToWorker,
  type UpstreamCounters,
  upstreamState,
} from "./messages.js";
import { giveLogs } from "./privileges.js";
import type { Runtime } from "./types.js";

/** How long start-up waits for the workers to listen. */
const START_TIMEOUT = 60_000;
/** How long a status page waits for each worker's counters. */
const COUNTERS_TIMEOUT = 1_000;
/** How long after start a worker's death counts as a failed start (then replaced only after RESPAWN_PAUSE). */
const EARLY_DEATH = 2_000;
const RESPAWN_PAUSE = 1_000;
/** How long a reload waits for the workers to apply it before it reports done anyway. */
const RELOAD_WAIT = 10_000;

interface Member {
  worker: ClusterWorker;
  /** The configuration generation the worker serves (0 until it listens). */
  gen: number;
  startedAt: number;
  /** Being stopped on purpose (shutdown, fewer workers after a reload): its exit is not a crash. */
  leaving: boolean;
  counters: Map<number, (u: UpstreamCounters[]) => void>;
}

/** The number of workers `worker_processes` asks for. */
export function workerCount(value: number | "auto", cores: number): number {
  return value === "auto" ? Math.max(1, cores) : Math.max(1, value);
}

export class ClusterPrimary implements Runtime {
  private readonly members = new Map<number, Member>();
  private gen = 1;
  private lastId = 0;
  private pending = false;
  /** What each upstream's last state sent was (JSON), so only changed upstreams travel. */
  private readonly sent = new Map<string, string>();
  private readonly watched = new WeakSet<Upstream>();
  private startWaiters: { resolve: () => void; reject: (e: Error) => void } | null = null;

  private constructor(
    private proxy: ProxyServer,
    private config: Config,
  ) {
    onPeerState(() => this.schedule());
    this.watch();
    cluster.on("exit", (worker, code, signal) => this.exited(worker, code, signal));
    cluster.on("message", (worker, m: ToPrimary) => this.receive(worker, m));
  }

  /** Syncs registries and runs the first round of checks here, then starts the workers and waits until they listen. */
  static async start(loaded: LoadResult, count: number): Promise<ClusterPrimary> {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ serialization: "advanced" });
    const proxy = await ProxyServer.create(loaded);
    try {
      await proxy.start();
    } catch (err) {
      await proxy.close();
      throw err;
    }
    const p = new ClusterPrimary(proxy, loaded.config);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new SyncgateError("SG_ERR_IO", "worker processes did not start in time")),
          START_TIMEOUT,
        );
        p.startWaiters = {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        for (let i = 0; i < count; i++) p.fork();
      });
    } catch (err) {
      await p.stop({ graceful: false });
      throw err;
    } finally {
      p.startWaiters = null;
    }
    return p;
  }

  get generation(): number {
    return this.gen;
  }

  log(level: LogLevel, message: string): void {
    this.proxy.errorLog.log(level, message);
  }

  private fork(): void {
    const worker = cluster.fork();
    this.members.set(worker.id, {
      worker,
      gen: 0,
      startedAt: Date.now(),
      leaving: false,
      counters: new Map(),
    });
  }

  private send(m: Member, msg: ToWorker): void {
    if (!m.worker.isConnected()) return;
    try {
      m.worker.send(msg);
    } catch {
      // The worker is going away: its exit is handled there.
    }
  }

  /** Every configured upstream of the running configuration, by name. */
  private upstreams(): Upstream[] {
    return (this.config.http?.upstreams ?? []).flatMap((c) => this.proxy.upstreams.get(c.name) ?? []);
  }

  /** Follows membership changes of upstreams not followed yet (after start and each reload). */
  private watch(): void {
    for (const u of this.upstreams()) {
      if (this.watched.has(u)) continue;
      this.watched.add(u);
      u.onMembership(() => this.schedule());
    }
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => this.broadcast());
  }

  /** Sends the upstreams whose state changed since last sent to every worker serving the current generation. */
  private broadcast(): void {
    this.pending = false;
    const changed = [];
    for (const u of this.upstreams()) {
      const state = upstreamState(u);
      const json = JSON.stringify(state);
      if (this.sent.get(u.conf.name) === json) continue;
      this.sent.set(u.conf.name, json);
      changed.push(state);
    }
    if (changed.length === 0) return;
    for (const m of this.members.values()) {
      if (m.gen === this.gen) this.send(m, { t: "state", gen: this.gen, upstreams: changed });
    }
  }

  /** Everything a worker needs for the current generation. */
  private sendAll(m: Member): void {
    this.send(m, { t: "state", gen: this.gen, upstreams: this.upstreams().map(upstreamState) });
  }

  private receive(worker: ClusterWorker, msg: ToPrimary): void {
    const m = this.members.get(worker.id);
    if (!m) return;
    switch (msg.t) {
      case "hello":
        this.send(m, { t: "config", gen: this.gen, config: this.config });
        this.sendAll(m);
        return;
      case "ready":
        this.ready(m, msg.gen);
        return;
      case "failed":
        this.failed(m, msg.gen, msg.message);
        return;
      case "counters":
        m.counters.get(msg.id)?.(msg.upstreams);
        m.counters.delete(msg.id);
        return;
      case "show":
      case "api":
        this.answer(msg).then(
          (response) => this.send(m, { t: "answer", id: msg.id, response }),
          (err: unknown) => {
            this.log("crit", `${msg.t} failed: ${String(err)}`);
            this.send(m, { t: "answer", id: msg.id, response: { status: 500, headers: [], body: null } });
          },
        );
    }
  }

  private ready(m: Member, gen: number): void {
    const first = m.gen === 0;
    m.gen = gen;
    this.notify();
    if (gen !== this.gen) {
      // Ready on a configuration that a reload replaced meanwhile (it started, or its reload outlasted the wait):
      // it was not told of the newer one, so it is now.
      if (!m.leaving) {
        const upstreams = this.upstreams().map(upstreamState);
        this.send(m, { t: "reload", gen: this.gen, config: this.config, upstreams });
      }
      return;
    }
    // Everything again: a reloaded worker's new upstreams start from it, and changes broadcast while the worker was
    // starting or reloading did not reach it (broadcasts go to workers serving the current generation).
    this.sendAll(m);
    if (first && this.startWaiters && [...this.members.values()].every((x) => x.gen > 0)) {
      this.startWaiters.resolve();
    }
  }

  private failed(m: Member, gen: number, message: string): void {
    if (m.gen === 0) {
      this.log("emerg", `worker process ${m.worker.process.pid} could not start: ${message}`);
      this.startWaiters?.reject(new SyncgateError("SG_ERR_IO", message));
      return;
    }
    // The primary checked the configuration, so this is rare (a port taken in between): replace the worker, which
    // starts on the new configuration.
    this.log(
      "alert",
      `worker process ${m.worker.process.pid} failed to reload (generation ${gen}): ${message}`,
    );
    m.leaving = true;
    this.notify();
    this.send(m, { t: "stop", graceful: true, timeoutMs: this.config.main.workerShutdownTimeout });
    if (!this.stopping) this.fork();
  }

  private exited(worker: ClusterWorker, code: number | null, signal: string | null): void {
    const m = this.members.get(worker.id);
    if (!m) return;
    this.members.delete(worker.id);
    this.notify();
    for (const done of m.counters.values()) done([]);
    if (m.leaving || this.stopping) return;
    const how = signal
      ? `on signal ${constants.signals[signal as NodeJS.Signals] ?? signal}`
      : `with code ${code ?? 0}`;
    this.log("alert", `worker process ${worker.process.pid} exited ${how}`);
    if (this.startWaiters) {
      this.startWaiters.reject(new SyncgateError("SG_ERR_IO", `worker process exited ${how} while starting`));
      return;
    }
    // nginx respawns at once; a worker dying right after start is replaced after a pause, not in a tight loop.
    const early = Date.now() - m.startedAt < EARLY_DEATH;
    setTimeout(
      () => {
        if (!this.stopping) this.fork();
      },
      early ? RESPAWN_PAUSE : 0,
    );
  }

  /** Answers a status page or API request a worker passed on, with every worker's counters summed first. */
  private async answer(msg: Extract<ToPrimary, { t: "show" | "api" }>): Promise<ShowResponse> {
    if (msg.t === "api" && msg.req.method !== "GET") {
      const body = msg.req.body === null ? null : Buffer.from(msg.req.body);
      return this.proxy.api(msg.write, { ...msg.req, body });
    }
    await this.collect();
    return msg.t === "api" ? this.proxy.api(msg.write, msg.req) : this.proxy.show(msg.handler, msg.req);
  }

  private async collect(): Promise<void> {
    const reports = await Promise.all(
      [...this.members.values()]
        .filter((m) => m.gen > 0)
        .map(
          (m) =>
            new Promise<UpstreamCounters[]>((resolve) => {
              const id = ++this.lastId;
              const timer = setTimeout(() => {
                m.counters.delete(id);
                resolve([]);
              }, COUNTERS_TIMEOUT);
              m.counters.set(id, (u) => {
                clearTimeout(timer);
                resolve(u);
              });
              this.send(m, { t: "counters?", id });
            }),
        ),
    );
    sumCounters(this.proxy.upstreams, reports);
  }

  /** Told after every worker event (ready, failed, exited): what reload() waits on. */
  private readonly events = new Set<() => void>();

  private notify(): void {
    for (const fn of [...this.events]) fn();
  }

  /** Resolves when `done()` holds after some worker event, or after `ms`. */
  private until(done: () => boolean, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        this.events.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.events.delete(check);
        resolve();
      }, ms);
      this.events.add(check);
      check();
    });
  }

  async reload(loaded: LoadResult): Promise<void> {
    const previous = this.proxy;
    await probeNewListeners(previous.config, loaded.config);
    const next = await ProxyServer.create(loaded, {}, previous);
    await next.commit(previous);
    this.proxy = next;
    this.config = loaded.config;
    this.gen++;
    this.watch();
    const told = [...this.members.values()].filter((m) => !m.leaving && m.gen > 0);
    // With the state of the new generation, so a worker's new upstreams never serve the config's placeholders;
    // every worker serving has that state now, so only later changes travel.
    const upstreams = this.upstreams().map(upstreamState);
    this.sent.clear();
    for (const state of upstreams) this.sent.set(state.name, JSON.stringify(state));
    for (const m of told) this.send(m, { t: "reload", gen: this.gen, config: this.config, upstreams });
    this.resize(loaded.config);
    // "reconfigured" means every worker serves the new configuration (or was replaced because it could not).
    const gen = this.gen;
    await this.until(
      () => told.every((m) => m.gen === gen || m.leaving || !this.members.has(m.worker.id)),
      RELOAD_WAIT,
    );
  }

  /** A reload that changes `worker_processes` starts or stops workers. */
  private resize(config: Config): void {
    const want = workerCount(config.main.workerProcesses, availableParallelism());
    const live = [...this.members.values()].filter((m) => !m.leaving);
    for (let i = live.length; i < want; i++) this.fork();
    for (const m of live.slice(want)) {
      m.leaving = true;
      this.send(m, { t: "stop", graceful: true, timeoutMs: config.main.workerShutdownTimeout });
    }
  }

  async reopen(): Promise<void> {
    await this.proxy.reopenLogs();
    giveLogs(this.config, this.proxy.logPaths());
    for (const m of this.members.values()) this.send(m, { t: "reopen" });
  }

  stop(mode: CloseMode): Promise<void> {
    if (this.stopped) {
      // A fast stop during a graceful one: the workers stop waiting for their requests in flight.
      if (!mode.graceful) for (const m of this.members.values()) this.send(m, this.stopMessage(mode));
      return this.stopped;
    }
    this.stopped = this.shut(mode);
    return this.stopped;
  }

  private stopped: Promise<void> | null = null;

  /** Whether a stop began: exits are expected and no worker is replaced. */
  private get stopping(): boolean {
    return this.stopped !== null;
  }

  private stopMessage(mode: CloseMode): ToWorker {
    return mode.graceful ? { t: "stop", ...mode } : { t: "stop", graceful: false, timeoutMs: null };
  }

  private async shut(mode: CloseMode): Promise<void> {
    onPeerState(null);
    const exits = [...this.members.values()].map(
      (m) =>
        new Promise<void>((resolve) =>
          m.worker.isDead() ? resolve() : m.worker.once("exit", () => resolve()),
        ),
    );
    for (const m of this.members.values()) this.send(m, this.stopMessage(mode));
    // A worker that does not exit in time (a bug, or a graceful stop without worker_shutdown_timeout that waits on
    // a stuck client) is killed only on a fast stop.
    if (!mode.graceful) {
      const timer = setTimeout(() => {
        for (const m of this.members.values()) m.worker.process.kill("SIGKILL");
      }, 5_000);
      await Promise.all(exits);
      clearTimeout(timer);
    } else await Promise.all(exits);
    cluster.removeAllListeners("exit");
    cluster.removeAllListeners("message");
    await this.proxy.close({ graceful: false });
  }
}

/**
 * Binds (and releases) the addresses a new configuration listens on and the running one does not, so a port that
 * is taken fails the reload here instead of in every worker.
 */
async function probeNewListeners(running: Config, next: Config): Promise<void> {
  const have = new Set(listenersOf(running.http?.servers ?? []).map((l) => l.key));
  for (const l of listenersOf(next.http?.servers ?? [])) {
    if (have.has(l.key)) continue;
    const s = createServer();
    await listenOn(s, l);
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
