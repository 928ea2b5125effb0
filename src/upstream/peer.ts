/**
 * Runtime state of upstream servers, kept apart from their specs (STYLE: config is not state). The fields and
 * rules follow nginx's round robin peer (src/http/ngx_http_upstream_round_robin.c): `fails`, `accessed`,
 * `checked`, `current_weight`, `effective_weight`, `max_conns`; timestamps are milliseconds.
 */
import type { ServerSpec } from "../config/types.js";

/** Upper bounds (seconds) of the response-time histogram kept per server. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Traffic counters of one server since it joined (the status page's prometheus format shows them). */
export class PeerTraffic {
  /** Tries that went to this server. */
  requests = 0;
  /** Tries counted as failures (nginx's passive-health failures). */
  failures = 0;
  /** Times the failures reached max_fails, so the server was taken out for fail_timeout (the API's `unavail`). */
  unavail = 0;
  /** Sum of try durations, seconds. */
  latencySum = 0;
  /** Tries per histogram bucket (not cumulative); the last slot holds those above every bound. */
  readonly latencyCounts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);

  /** Counts one finished try that took `ms`. */
  record(ms: number): void {
    this.requests++;
    const s = ms / 1000;
    this.latencySum += s;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && s > LATENCY_BUCKETS[i]!) i++;
    this.latencyCounts[i]!++;
  }
}

/** Told after a server's health or drain state changes (the cluster primary forwards such changes to workers). */
let stateHook: (() => void) | null = null;

/** Sets (or clears, with null) the function told after any server's health or drain state changes. */
export function onPeerState(fn: (() => void) | null): void {
  stateHook = fn;
}

/** The last serial handed out: serials are process-wide and never reused. */
let lastSerial = -1;

/** Runtime state of one upstream server, keyed by upstream + host:port; survives spec updates. */
export class Peer {
  /**
   * Stable number for the peer's lifetime, never reused in the process: the admin API's server `id` and the
   * `check_status` index. A server removed and added again is a new peer with a new serial.
   */
  readonly serial: number;
  /** What the config or registry says now; replaced by update(), the state below is kept. */
  spec: ServerSpec;
  /** Name of the upstream the peer belongs to. */
  readonly upstream: string;
  /** Identity within the upstream: spec.address ("host:port"). */
  readonly id: string;
  /** Requests in flight (nginx's `conns`), counted by acquire()/release(). */
  active = 0;
  /** Failures counted since the peer was last marked live (nginx's `fails`). */
  fails = 0;
  /** When the last failure happened (nginx's `accessed`). */
  accessed = 0;
  /** When the failure window last started (nginx's `checked`). */
  checked = 0;
  /** Smooth weighted round robin accumulator (nginx's `current_weight`). */
  currentWeight = 0;
  /** Weight after failures; climbs back by one per pick (nginx's `effective_weight`). */
  effectiveWeight: number;
  /** Verdict of active health checks; use setHealthy() so a recovery starts slow start. */
  healthy = true;
  /** Set while the peer is drained: it finishes what it has and takes nothing new (the admin API sets it). */
  draining = false;
  /** When `draining` was last set (ms), for upsync_status; null while not draining. */
  drainingSince: number | null = null;
  /** When the current slow-start ramp began; -Infinity when the peer serves at full weight. */
  rampFrom: number;
  /** Requests, failures and response times. */
  readonly traffic = new PeerTraffic();

  constructor(upstream: string, spec: ServerSpec, now: number) {
    this.serial = ++lastSerial;
    this.upstream = upstream;
    this.id = spec.address;
    this.spec = spec;
    this.effectiveWeight = spec.weight;
    // A peer created at run time has just become available: it ramps up (nginx Plus slow_start).
    this.rampFrom = now;
  }

  /** Applies a new spec for the same address; counters, health and drain state are kept. */
  update(spec: ServerSpec, now: number): void {
    if (spec.address !== this.id) throw new Error(`peer ${this.id} cannot take the spec of ${spec.address}`);
    const old = this.spec;
    if (spec.weight !== old.weight) {
      // A fully recovered peer takes the new weight at once; one still recovering from failures keeps its
      // reduced weight (capped), so a re-weight does not forgive failures.
      this.effectiveWeight =
        this.effectiveWeight >= old.weight ? spec.weight : Math.min(this.effectiveWeight, spec.weight);
    }
    if (old.down && !spec.down) this.rampFrom = now;
    this.spec = spec;
  }

  /** Starts or ends draining (the admin API's `drain`); local to this instance and kept across spec updates. */
  setDraining(on: boolean, now: number): void {
    if (on && !this.draining) this.drainingSince = now;
    if (!on) this.drainingSince = null;
    if (this.draining === on) return;
    this.draining = on;
    stateHook?.();
  }

  /** Records an active health check verdict; a transition to healthy starts slow start. */
  setHealthy(healthy: boolean, now: number): void {
    if (healthy === this.healthy) return;
    if (healthy) this.rampFrom = now;
    this.healthy = healthy;
    stateHook?.();
  }

  /** Whether the peer may take a new request now (down, health, drain, max_fails within fail_timeout, max_conns). */
  available(now: number, single: boolean): boolean {
    const s = this.spec;
    if (s.down || !this.healthy || this.draining) return false;
    if (s.maxConns > 0 && this.active >= s.maxConns) return false;
    return !this.failedOut(now, single);
  }

  /** Whether max_fails failures within fail_timeout keep the peer out now (the admin API's `unavail` state). */
  failedOut(now: number, single: boolean): boolean {
    const s = this.spec;
    // nginx: the only server of a group is "never considered unavailable" because of failures.
    if (single) return false;
    return s.maxFails > 0 && this.fails >= s.maxFails && now - this.checked <= s.failTimeout;
  }

  /** Weight in effect now, ramping up over spec.slowStart after it became available (new, or recovered). */
  weightAt(now: number): number {
    const { weight, slowStart } = this.spec;
    const elapsed = now - this.rampFrom;
    if (slowStart <= 0 || weight <= 1 || elapsed >= slowStart) return weight;
    // Linear from 1 (never 0: a ramping peer still gets some requests) to the full weight.
    if (elapsed <= 0) return 1;
    return 1 + Math.floor(((weight - 1) * elapsed) / slowStart);
  }

  /** Counts a request that starts using this peer. */
  acquire(): void {
    this.active++;
  }

  /** Counts a request that stopped using this peer. */
  release(): void {
    if (this.active > 0) this.active--;
  }

  /** Notes that a balancer picked the peer: nginx opens a new failure window when the last one has passed. */
  selected(now: number): void {
    if (now - this.checked > this.spec.failTimeout) this.checked = now;
  }

  /** nginx's ngx_http_upstream_free_round_robin_peer on failure: count it and lower the effective weight. */
  failed(now: number): void {
    const s = this.spec;
    this.traffic.failures++;
    this.fails++;
    if (s.maxFails > 0 && this.fails === s.maxFails) this.traffic.unavail++;
    this.accessed = now;
    this.checked = now;
    if (s.maxFails > 0) this.effectiveWeight -= Math.floor(s.weight / s.maxFails);
    if (this.effectiveWeight < 0) this.effectiveWeight = 0;
  }

  /** nginx's ngx_http_upstream_free_round_robin_peer on success: a success after the window marks it live. */
  succeeded(now: number): void {
    // accessed < checked: this request was picked after the last failure's window had passed.
    if (this.accessed < this.checked) {
      if (this.spec.maxFails > 0 && this.fails >= this.spec.maxFails) this.rampFrom = now;
      this.fails = 0;
    }
  }
}

/** What PeerGroup.apply changed. */
export interface PeerDiff {
  added: Peer[];
  removed: Peer[];
  kept: Peer[];
}

/** The servers of one upstream, primary and backup tiers, in config/registry order. */
export class PeerGroup {
  /** Name of the upstream. */
  readonly upstream: string;
  /** Primary tier, in order. */
  primary: Peer[] = [];
  /** Backup tier, used only when no primary peer is available. */
  backup: Peer[] = [];
  /** Bumped on every apply(), so balancers can cache what they derive from the membership. */
  version = 0;
  readonly #byId = new Map<string, Peer>();

  constructor(upstream: string, specs: ServerSpec[], now: number) {
    this.upstream = upstream;
    // Servers present at start-up serve at full weight at once; only servers that join later, or recover, ramp.
    for (const peer of this.apply(specs, now).added) peer.rampFrom = -Infinity;
  }

  /** nginx's `peers->single`: one primary server and no backup, so failures never make it unavailable. */
  get single(): boolean {
    return this.primary.length === 1 && this.backup.length === 0;
  }

  /** Every peer, primary tier first. */
  all(): Peer[] {
    return [...this.primary, ...this.backup];
  }

  /** The peer with this address, if any. */
  get(id: string): Peer | undefined {
    return this.#byId.get(id);
  }

  /** Applies a whole new spec list: keeps state of peers that stay (by address), adds new, drops removed. */
  apply(specs: ServerSpec[], now: number): PeerDiff {
    const diff: PeerDiff = { added: [], removed: [], kept: [] };
    const next = new Map<string, Peer>();
    const primary: Peer[] = [];
    const backup: Peer[] = [];
    for (const spec of specs) {
      // Peers are keyed by address: a repeated address is the same server, its first line wins.
      if (next.has(spec.address)) continue;
      let peer = this.#byId.get(spec.address);
      if (peer) {
        peer.update(spec, now);
        diff.kept.push(peer);
      } else {
        peer = new Peer(this.upstream, spec, now);
        diff.added.push(peer);
      }
      next.set(spec.address, peer);
      (spec.backup ? backup : primary).push(peer);
    }
    for (const [id, peer] of this.#byId) if (!next.has(id)) diff.removed.push(peer);
    this.#byId.clear();
    for (const [id, peer] of next) this.#byId.set(id, peer);
    this.primary = primary;
    this.backup = backup;
    this.version++;
    return diff;
  }
}
