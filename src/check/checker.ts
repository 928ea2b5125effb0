/**
 * Active health checks at run time (issue 5 items 2–4; check spec §2.2, §2.8, §2.9): one probe loop per checked
 * server of every upstream with `check`. State is keyed by upstream + address, so a registry update that keeps a
 * server keeps its counters; a new server starts at `default_down` and is probed at once, and with no history its
 * first successful probe marks it up whatever `rise` says; a removed server's probes stop. The verdict lands on
 * the Peer (`setHealthy`), which every balancer consults.
 */
import type { CheckConf } from "../config/types.js";
import type { LogLevel } from "../lib/errors.js";
import { openFileLimit } from "../lib/limits.js";
import type { CheckPeerStatus } from "../status/check-status.js";
import type { Peer } from "../upstream/peer.js";
import type { Upstream } from "../upstream/upstream.js";
import { ProbeConnection } from "./probes/kept.js";
import { MAX_TIMER, probePort } from "./probes/run.js";
import type { ProbeResult } from "./probes/types.js";

/**
 * The most a probe is delayed so that it goes out with others due about then (`ProbeClock.schedule`). Under load,
 * 2,000 servers probed each second cost the proxy 1.23× its CPU per request in batches of 10 ms and 1.03× in
 * batches of 100 ms (medians of six interleaved runs; README, "Health checks at scale"): fewer, larger bursts of
 * probe I/O disturb the request path less. The jitter shrinks by as much, so a probe still falls due within the
 * module's window.
 */
const MAX_GRAIN = 100;

/**
 * The most probes started in one turn of the event loop: a batch of 2,000 servers' probes (~160 each 100 ms)
 * goes out in slices, with the proxy's I/O served between them, instead of blocking the loop for the whole batch.
 * At 64 busy client connections the p99 latency rose 1.2 ms with the checks instead of 2.2 ms (kept connections),
 * and 1.9 ms instead of 8.1 ms (`type=tcp`), for about the same CPU (README, "Health checks at scale").
 */
const PROBES_PER_TURN = 16;

/**
 * Starts one probe of `conf.type` against host:port and calls `done` once (never throws) within about
 * `conf.timeout`. `conn` is the server's kept connection between probes (`check_keepalive_requests`), closed by the
 * checker when the server is no longer checked. A callback rather than a promise: at thousands of probes a second
 * the two promises and the microtask turn per probe showed in the CPU profile.
 */
export type ProbeFn = (
  host: string,
  port: number,
  conf: CheckConf,
  signal: AbortSignal | undefined,
  conn: ProbeConnection,
  done: (result: ProbeResult) => void,
) => void;

/** One checked server as the status page shows it, whether it was probed yet, and its totals (admin API). */
export interface CheckedServer extends CheckPeerStatus {
  probed: boolean;
  /** Probes that finished since the server joined. */
  checks: number;
  /** Probes that failed. */
  failedChecks: number;
  /** Times the server was marked down by its probes. */
  unhealthy: number;
  /** Whether the last probe passed; null before the first. */
  lastPassed: boolean | null;
}

/** What the checker needs from its surroundings. */
export interface CheckerOptions {
  log: (level: LogLevel, message: string) => void;
  now: () => number;
  probe: ProbeFn;
  random?: () => number;
  /** The open-file limit (default: the process's own, read with `openFileLimit()` once servers are checked). */
  fileLimit?: number | null;
}

/** The check state of one server: survives membership updates that keep the server. */
class Checked implements Scheduled, Timed {
  readonly index: number;
  up: boolean;
  rise = 0;
  fall = 0;
  probed = false;
  checks = 0;
  failedChecks = 0;
  unhealthy = 0;
  lastPassed: boolean | null = null;
  peer: Peer;
  /** When the next probe is due (`performance.now()` ms), while it waits in the checker's `ProbeClock`. */
  due = 0;
  /** Whether a probe is scheduled. */
  queued = false;
  /** The probe in flight's deadline and its place in the upstream's `Deadlines`. */
  deadline = 0;
  prevTimed: Timed | null = null;
  nextTimed: Timed | null = null;
  timed = false;
  /** Starts the next probe (made once per server rather than a closure per probe). */
  fire: () => void = () => undefined;
  /** Takes the probe's result (made once per server, as `fire`). */
  done: (result: ProbeResult) => void = () => undefined;
  /** The probe session: aborts the probe in flight and closes the kept connection (http) when the server is dropped. */
  readonly conn = new ProbeConnection(true);
  /** Resolves after the first probe result (or the removal of the server). */
  readonly first: Promise<void>;
  firstDone: () => void = () => undefined;

  constructor(index: number, peer: Peer, up: boolean) {
    this.index = index;
    this.peer = peer;
    this.up = up;
    this.first = new Promise((resolve) => (this.firstDone = resolve));
  }
}

/** What `ProbeClock` schedules: the server's due time and queue mark live on it, so nothing is made per probe. */
export interface Scheduled {
  /** When `fire()` is due (`performance.now()` ms), while it waits in the clock. */
  due: number;
  /** Whether it waits in the clock now. */
  queued: boolean;
  fire(): void;
}

/**
 * When each server's next probe is due: due times are whole multiples of a grain (1 ms at least), and the servers
 * due at one time wait in one bucket, a plain array, fired in the order they came. One Node timer for the earliest
 * bucket. Scheduling appends to a bucket and cancelling only unmarks the server (a bucket skips what is no longer
 * due at its time), so nothing is searched or moved per probe. A binary heap of 2,000 servers touched ~20 of them per
 * probe to keep its order, each on its own cache line: the buckets took about 3% off a probe's CPU (perf, idle, 2,000
 * servers). A Node timer per probe costs more still (its jittered delay is new to Node's timer lists nearly every
 * time). With `perTurn`, what is due goes out that many at a time, one turn of the event loop each, so the I/O that
 * came meanwhile is served between the slices.
 */
export class ProbeClock<C extends Scheduled = Scheduled> {
  /** The buckets by due time, and their times in a min-heap: (interval + jitter) ÷ grain of them, ~15 at 1 s. */
  readonly #buckets = new Map<number, C[]>();
  readonly #times: number[] = [];
  /** Emptied bucket arrays, kept for reuse. */
  readonly #spare: C[][] = [];
  /** The bucket being fired over several turns of the event loop, its time, and the next entry to look at. */
  #current: C[] | null = null;
  #currentDue = 0;
  #next = 0;
  #timer: NodeJS.Timeout | null = null;
  /** When #timer fires. */
  #armed = Infinity;
  #immediate: NodeJS.Immediate | null = null;
  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#armed = Infinity;
    this.#run();
  };
  readonly #onImmediate = (): void => {
    this.#immediate = null;
    this.#run();
  };

  /**
   * @param perTurn the most `fire()` calls in one turn of the event loop; the rest of what is due follows in the
   *   next turns (`setImmediate`), after the I/O that came meanwhile
   */
  constructor(readonly perTurn = Infinity) {}

  /**
   * Runs `c.fire()` in `delay` ms (moving it if it was due already), or up to `grain` ms later: due times are
   * rounded up to a multiple of `grain` (at least 1 ms, the resolution of Node's timers), so that servers falling
   * due close together are probed in one timer callback (one wake-up of the process instead of one per server).
   */
  schedule(c: C, delay: number, grain = 0): void {
    const g = grain >= 1 ? grain : 1;
    const due = Math.ceil((performance.now() + delay) / g) * g;
    c.due = due;
    c.queued = true;
    let bucket = this.#buckets.get(due);
    if (bucket === undefined) {
      bucket = this.#spare.pop() ?? [];
      this.#buckets.set(due, bucket);
      heapPush(this.#times, due);
      this.#arm();
    }
    bucket.push(c);
  }

  /**
   * Forgets `c`'s scheduled probe: its bucket skips it, and lets go of it when its time comes (a server removed
   * from checking is held until then, at most an interval and its jitter).
   */
  cancel(c: C): void {
    c.queued = false;
  }

  /** Drops every scheduled probe and the timer (checking stopped). */
  stop(): void {
    for (const bucket of this.#buckets.values()) for (const c of bucket) c.queued = false;
    const current = this.#current;
    if (current !== null) for (let i = this.#next; i < current.length; i++) current[i]!.queued = false;
    this.#current = null;
    this.#buckets.clear();
    this.#times.length = 0;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    this.#timer = null;
    this.#immediate = null;
    this.#armed = Infinity;
  }

  #run(): void {
    const times = this.#times;
    // Node fires a timer on its loop's ms clock: what falls due within the next ms runs now too.
    const now = performance.now() + 1;
    let left = this.perTurn;
    for (;;) {
      let bucket = this.#current;
      if (bucket === null) {
        if (times.length === 0 || times[0]! > now) break;
        const due = heapPop(times);
        bucket = this.#buckets.get(due)!;
        // Out of the map first: what a fire schedules for this same time makes a new bucket, run by this loop.
        this.#buckets.delete(due);
        this.#current = bucket;
        this.#currentDue = due;
        this.#next = 0;
      }
      const due = this.#currentDue;
      while (this.#next < bucket.length) {
        if (left <= 0) {
          this.#immediate ??= setImmediate(this.#onImmediate);
          return;
        }
        const c = bucket[this.#next++]!;
        // Cancelled, or moved to another time (or already fired from an earlier entry of this bucket).
        if (!c.queued || c.due !== due) continue;
        c.queued = false;
        left--;
        c.fire();
        // stop() from within fire(): nothing is left to run.
        if (this.#current !== bucket) return;
      }
      this.#current = null;
      bucket.length = 0;
      if (this.#spare.length < 64) this.#spare.push(bucket);
    }
    this.#arm();
  }

  #arm(): void {
    const first = this.#times[0];
    if (first === undefined || first >= this.#armed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#armed = first;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, first - performance.now()));
  }
}

function heapPush(heap: number[], v: number): void {
  let i = heap.length;
  heap.push(v);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= v) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = v;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  const n = heap.length;
  if (n === 0) return top;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1]! < heap[child]!) child++;
    if (heap[child]! >= last) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
  return top;
}

/** What `Deadlines` queues: the deadline and the queue links live on it, so nothing is made per probe. */
export interface Timed {
  /** When the probe in flight times out (`performance.now()` ms), while it is queued. */
  deadline: number;
  prevTimed: Timed | null;
  nextTimed: Timed | null;
  /** Whether it is queued now. */
  timed: boolean;
}

/**
 * The deadlines of the probes in flight of one upstream. They share one timeout, so they fall due in the order the
 * probes started: a queue, and one Node timer for its head. A probe that ends leaves the queue at once and the
 * timer stays as it is; when it fires, it ends what is overdue and is set again for the new head. That is about one
 * timer per timeout period instead of one made and cleared per probe (its list, queue entry and ref count toggled
 * showed in the CPU profile at thousands of probes a second).
 */
export class Deadlines<T extends Timed = Timed> {
  #head: T | null = null;
  #tail: T | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #tick = (): void => this.#run();

  /**
   * @param timeoutMs how long a probe may run
   * @param expire ends a probe whose deadline passed (it is out of the queue by then)
   */
  constructor(
    readonly timeoutMs: number,
    readonly expire: (t: T) => void,
  ) {}

  /** Queues `t`'s deadline: `timeoutMs` from now. */
  add(t: T): void {
    if (t.timed) this.remove(t);
    t.deadline = performance.now() + this.timeoutMs;
    t.timed = true;
    t.prevTimed = this.#tail;
    t.nextTimed = null;
    if (this.#tail === null) this.#head = t;
    else this.#tail.nextTimed = t;
    this.#tail = t;
    if (this.#timer === null) this.#arm(t.deadline);
  }

  /** Takes `t` out of the queue (its probe ended); nothing when it is not queued. */
  remove(t: T): void {
    if (!t.timed) return;
    t.timed = false;
    const prev = t.prevTimed as T | null;
    const next = t.nextTimed as T | null;
    if (prev === null) this.#head = next;
    else prev.nextTimed = next;
    if (next === null) this.#tail = prev;
    else next.prevTimed = prev;
    t.prevTimed = null;
    t.nextTimed = null;
  }

  /** Empties the queue and drops the timer (checking stopped). */
  stop(): void {
    while (this.#head !== null) this.remove(this.#head);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #run(): void {
    this.#timer = null;
    // Node fires a timer on its loop's ms clock: a deadline within the next ms is due now too.
    const now = performance.now() + 1;
    for (let t = this.#head; t !== null && t.deadline <= now; t = this.#head) {
      this.remove(t);
      this.expire(t);
    }
    if (this.#head !== null) this.#arm(this.#head.deadline);
  }

  #arm(deadline: number): void {
    this.#timer = setTimeout(this.#tick, Math.min(Math.max(0, deadline - performance.now()), MAX_TIMER));
  }
}

/** The checked servers of one upstream. */
class CheckedUpstream {
  readonly servers = new Map<string, Checked>();
  /** The deadlines of its probes in flight: a probe that outlives `timeout` fails as a timeout. */
  readonly deadlines: Deadlines<Checked>;
  /**
   * The next probe is due an interval after the last one finished, plus a jitter below `spread` so that servers
   * probed together drift apart, rounded up to `grain`: within [interval, interval + min(interval / 2, 1 s)] after
   * the last result (the module: [interval, 1.5 × interval]).
   */
  readonly grain: number;
  readonly spread: number;
  constructor(
    readonly upstream: Upstream,
    readonly conf: CheckConf,
  ) {
    this.deadlines = new Deadlines(conf.timeout, (c) => c.conn.expire());
    this.grain = Math.min(MAX_GRAIN, Math.floor(conf.interval / 8));
    this.spread = Math.max(0, Math.min(conf.interval / 2, 1000) - this.grain);
  }
}

/** Every upstream with `check` in one running configuration. */
export class HealthChecker {
  readonly #opts: CheckerOptions;
  readonly #random: () => number;
  readonly #upstreams: CheckedUpstream[] = [];
  readonly #clock = new ProbeClock<Checked>(PROBES_PER_TURN);
  #stopped = false;
  /** Configuration loads: 1 at start, +1 per reload (check_status's `generation`). */
  #generation = 1;
  /** The open-file limit: undefined until first needed (read then, so a process without checks never reads it). */
  #fileLimit: number | null | undefined;
  /** Whether the warning about the open-file limit was logged (once per process). */
  #filesWarned = false;

  constructor(opts: CheckerOptions) {
    this.#opts = opts;
    this.#random = opts.random ?? Math.random;
    this.#fileLimit = opts.fileLimit;
  }

  /** Configuration loads: 1 at start, +1 per reload (check_status's `generation`). */
  get generation(): number {
    return this.#generation;
  }

  /** Counts a configuration reload. */
  reloaded(): void {
    this.#generation++;
  }

  /** Whether any upstream is checked. */
  get size(): number {
    return this.#upstreams.length;
  }

  /**
   * Checks `upstream` (which must have `conf.check`): its servers now, and every membership change after —
   * new servers probed at once, removed ones no more.
   */
  add(upstream: Upstream): void {
    const conf = upstream.conf.check;
    if (!conf) return;
    const u = new CheckedUpstream(upstream, conf);
    this.#upstreams.push(u);
    this.#track(u);
    upstream.onMembership(() => this.#track(u));
  }

  /** Stops checking `upstream` (a reload removed or replaced it); its probes in flight are aborted. */
  remove(upstream: Upstream): void {
    const i = this.#upstreams.findIndex((x) => x.upstream === upstream);
    if (i === -1) return;
    const [u] = this.#upstreams.splice(i, 1);
    for (const c of u!.servers.values()) this.#drop(u!, c);
    u!.deadlines.stop();
    u!.servers.clear();
  }

  /** Whether `upstream` is checked now. */
  checks(upstream: Upstream): boolean {
    return this.#upstreams.some((x) => x.upstream === upstream);
  }

  /**
   * Resolves when every server checked now has its first result, or `timeout` of its upstream passed (start-up
   * runs one round before the listeners accept, issue 5 item 3).
   */
  async firstRound(): Promise<void> {
    await Promise.all(
      this.#upstreams.flatMap((u) =>
        [...u.servers.values()].map((c) => this.#bounded(c.first, u.conf.timeout + 100)),
      ),
    );
  }

  /**
   * Resolves when each server `ids` of `upstream` names has its first probe result, or after the check timeout:
   * what a membership update waits for before its removals apply (issue 4 item 3).
   */
  async firstResults(upstream: Upstream, ids: readonly string[]): Promise<void> {
    const u = this.#upstreams.find((x) => x.upstream === upstream);
    if (!u) return;
    const waits = ids.map((id) => u.servers.get(id)?.first).filter((p) => p !== undefined);
    await Promise.all(waits.map((w) => this.#bounded(w, u.conf.timeout + 100)));
  }

  /** Whether a server new to `upstream` starts down until its first probe (`check ... default_down=true`). */
  startsDown(upstream: Upstream): boolean {
    return upstream.conf.check?.defaultDown === true && this.#upstreams.some((x) => x.upstream === upstream);
  }

  /** Every checked server, in upstream order, primary then backup servers, in their order. */
  servers(): CheckedServer[] {
    const out: CheckedServer[] = [];
    for (const u of this.#upstreams) {
      for (const peer of u.upstream.group.all()) {
        const c = u.servers.get(peer.id);
        if (!c) continue;
        out.push({
          index: c.index,
          upstream: u.upstream.conf.name,
          name: peer.id,
          up: c.up,
          rise: c.rise,
          fall: c.fall,
          type: u.conf.type,
          port: u.conf.port,
          probed: c.probed,
          checks: c.checks,
          failedChecks: c.failedChecks,
          unhealthy: c.unhealthy,
          lastPassed: c.lastPassed,
        });
      }
    }
    return out;
  }

  /** Stops every probe (in flight ones are aborted). */
  stop(): void {
    this.#stopped = true;
    for (const u of this.#upstreams) {
      for (const c of u.servers.values()) this.#drop(u, c);
      u.deadlines.stop();
    }
    this.#clock.stop();
  }

  #bounded(p: Promise<void>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      void p.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Brings the checked set in line with the upstream's servers (`down` servers are not checked, as the module). */
  #track(u: CheckedUpstream): void {
    if (this.#stopped || !this.#upstreams.includes(u)) return;
    const seen = new Set<string>();
    for (const peer of u.upstream.group.all()) {
      if (peer.spec.down) continue;
      seen.add(peer.id);
      const known = u.servers.get(peer.id);
      if (known) {
        // Same server, maybe a new Peer object (never today: PeerGroup keeps them); its verdict carries over.
        known.peer = peer;
        peer.setHealthy(known.up, this.#opts.now());
        continue;
      }
      // The peer's serial: the admin API's server id, so the two pages name a server alike.
      const c = new Checked(peer.serial, peer, !u.conf.defaultDown);
      u.servers.set(peer.id, c);
      c.fire = () => this.#probe(u, c);
      c.done = (result) => this.#probed(u, c, result);
      peer.setHealthy(c.up, this.#opts.now());
      // Probed at once (start-up waits for this first round; a server added later should not sit idle for an
      // interval); the jitter of the following rounds spreads servers probed together.
      this.#schedule(c, 0);
    }
    for (const [id, c] of u.servers) {
      if (seen.has(id)) continue;
      this.#drop(u, c);
      u.servers.delete(id);
    }
    this.#warnFiles();
  }

  /**
   * Each checked server holds a probe socket (kept between probes with `check_keepalive_requests`, else open while
   * its probe runs): once they alone take more than half of the open-file limit, say so once. Past the limit every
   * new socket fails with "Too many open files" — probes (which mark their servers down), clients and upstream
   * connections alike.
   */
  #warnFiles(): void {
    if (this.#filesWarned) return;
    let servers = 0;
    for (const u of this.#upstreams) servers += u.servers.size;
    if (servers === 0) return;
    if (this.#fileLimit === undefined) this.#fileLimit = openFileLimit();
    const limit = this.#fileLimit;
    if (limit === null || servers * 2 <= limit) return;
    this.#filesWarned = true;
    this.#opts.log(
      "warn",
      `${servers} checked servers hold up to ${servers} probe sockets, more than half of the open-file limit ` +
        `(${limit}): raise it (ulimit -n, systemd LimitNOFILE=) or probes and connections fail with ` +
        `"Too many open files"`,
    );
  }

  #drop(u: CheckedUpstream, c: Checked): void {
    this.#clock.cancel(c);
    u.deadlines.remove(c);
    c.conn.close();
    c.firstDone();
  }

  #schedule(c: Checked, delay: number, grain = 0): void {
    if (this.#stopped) return;
    this.#clock.schedule(c, delay, grain);
  }

  #probe(u: CheckedUpstream, c: Checked): void {
    const { host, port } = c.peer.spec;
    // Queued first: a probe can end before the call returns (an address that cannot be dialled).
    u.deadlines.add(c);
    this.#opts.probe(host, probePort(u.conf, port), u.conf, undefined, c.conn, c.done);
  }

  #probed(u: CheckedUpstream, c: Checked, result: ProbeResult): void {
    u.deadlines.remove(c);
    // Every way out of the checked set (#drop) closes the server's session: no map lookup per probe.
    if (c.conn.closed) return;
    this.#record(u, c, result);
    this.#schedule(c, u.conf.interval + Math.floor(this.#random() * u.spread), u.grain);
  }

  /** spec §2.2, plus the rule for a server with no history: its first success marks it up. */
  #record(u: CheckedUpstream, c: Checked, result: ProbeResult): void {
    const first = !c.probed;
    c.probed = true;
    c.checks++;
    c.lastPassed = result.ok;
    if (!result.ok) c.failedChecks++;
    const name = u.upstream.conf.name;
    if (result.ok) {
      c.rise++;
      c.fall = 0;
      if (!c.up && (c.rise >= u.conf.rise || first)) this.#flip(c, true, name, null);
    } else {
      c.rise = 0;
      c.fall++;
      if (c.up && c.fall >= u.conf.fall) this.#flip(c, false, name, result.reason);
    }
    c.firstDone();
  }

  #flip(c: Checked, up: boolean, upstream: string, reason: string | null): void {
    c.up = up;
    if (!up) c.unhealthy++;
    c.peer.setHealthy(up, this.#opts.now());
    const why = reason === null ? "" : `, ${reason}`;
    this.#opts.log(
      "error",
      `${up ? "enable" : "disable"} check peer: ${c.peer.id} (upstream "${upstream}"${why})`,
    );
  }
}
