/**
 * Blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking): `index` and `wait` (up to
 * 10 min, default 5 min, plus up to wait/16 of jitter), and the held queries that writes wake.
 */
import type { ServerResponse } from "node:http";
import { parseGoDuration } from "./go-parse.js";
import { text } from "./http.js";

const MAX_WAIT = 10 * 60_000;
const DEFAULT_WAIT = 5 * 60_000;

/** What a write changed: a KV key, or a lower-case service name. */
export type Table = "kv" | "service";

/** Tells the held queries about a write to `key` of `table`. */
export type Wake = (table: Table, key: string) => void;

/** `index` and `wait` of a query. */
export interface BlockingParams {
  minIndex: number;
  wait: number;
}

interface Waiter {
  /** Whether a write to `key` of `table` (a KV key, or a lower-case service name) concerns this query. */
  concerns(table: Table, key: string): boolean;
  /** Answers now if the query's index moved past its `index`. */
  recheck(): void;
}

/** The blocking queries held open. */
export class BlockingQueries {
  readonly #waiters = new Set<Waiter>();
  readonly #random: () => number;

  /** `random`: source of Consul's wait jitter. */
  constructor(random: () => number) {
    this.#random = random;
  }

  /** Queries held open right now. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Forgets every held query (their connections are going away). */
  clear(): void {
    this.#waiters.clear();
  }

  /** Rechecks the held queries a write to `key` of `table` concerns. */
  wake(table: Table, key: string): void {
    for (const w of [...this.#waiters]) if (w.concerns(table, key)) w.recheck();
  }

  /** `index` and `wait` of a query (Consul's parseWait), or null after answering 400. */
  params(q: URLSearchParams, res: ServerResponse): BlockingParams | null {
    const minIndex = q.has("index") ? Number(q.get("index")) : 0;
    if (!Number.isSafeInteger(minIndex) || minIndex < 0) {
      text(res, 400, "Invalid index");
      return null;
    }
    let wait = DEFAULT_WAIT;
    if (q.has("wait")) {
      const w = parseGoDuration(q.get("wait") ?? "");
      if (w === null) {
        text(res, 400, "Invalid wait time");
        return null;
      }
      wait = Math.min(w, MAX_WAIT);
    }
    return { minIndex, wait };
  }

  /**
   * A blocking query: answers at once when `minIndex` is 0 (never block on 0) or the resource's index already
   * moved past it; else holds the request until a write that `concerns` it moves the index past `minIndex`, or
   * until `wait` plus up to wait/16 of jitter runs out, and then answers at the index of that moment.
   */
  hold(
    p: BlockingParams,
    res: ServerResponse,
    concerns: Waiter["concerns"],
    indexNow: () => number,
    answer: () => void,
  ): void {
    if (p.minIndex === 0 || indexNow() > p.minIndex) return answer();
    const waiter: Waiter = {
      concerns,
      recheck: () => {
        if (indexNow() > p.minIndex) done();
      },
    };
    const timer = setTimeout(() => done(), p.wait + Math.floor(this.#random() * (p.wait / 16)));
    const done = (): void => {
      clearTimeout(timer);
      if (!this.#waiters.delete(waiter)) return;
      answer();
    };
    this.#waiters.add(waiter);
    res.on("close", () => {
      clearTimeout(timer);
      this.#waiters.delete(waiter);
    });
  }
}
