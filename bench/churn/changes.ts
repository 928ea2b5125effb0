/**
 * The registry churn of `--scenario churn`, pure: a membership (server → weight and down flag), the changes that
 * move it (add, remove, re-weight, down/up, whole-set swap), a seeded generator that never leaves zero servers
 * up, and the two ways a contender hears of a change — Consul KV writes (syncgate) and a rewritten nginx
 * `server` file (nginx + reload, as consul-template would do it).
 */

/** One server's registry attributes. */
export interface ServerState {
  weight: number;
  down: boolean;
}

/** The upstream's members: `127.0.0.1:PORT` → attributes. Sorted by address wherever it is written out. */
export type Membership = ReadonlyMap<string, ServerState>;

/** One registry change. A swap replaces every present server with `to` (all up, weight 1). */
export type Change =
  | { kind: "add"; addr: string; weight: number }
  | { kind: "remove"; addr: string }
  | { kind: "weight"; addr: string; weight: number }
  | { kind: "down"; addr: string; down: boolean }
  | { kind: "swap"; to: string[] };

/** The kinds, in the order the generator tries them after its random pick. */
const KINDS = ["add", "remove", "weight", "down", "swap"] as const;

/** Attributes every registry entry carries besides weight and down (the brief's value; nginx gets the same). */
export const MAX_FAILS = 2;
export const FAIL_TIMEOUT_S = 10;

/** mulberry32: a small seeded PRNG, so both contenders of a round see the very same change sequence. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Servers of `m` that are up. */
export function upCount(m: Membership): number {
  let n = 0;
  for (const s of m.values()) if (!s.down) n++;
  return n;
}

/** `m` after `c`. */
export function applyChange(m: Membership, c: Change): Membership {
  if (c.kind === "swap") return new Map(c.to.map((a) => [a, { weight: 1, down: false }]));
  const next = new Map(m);
  const old = m.get(c.addr);
  switch (c.kind) {
    case "add":
      next.set(c.addr, { weight: c.weight, down: false });
      break;
    case "remove":
      next.delete(c.addr);
      break;
    case "weight":
      next.set(c.addr, { weight: c.weight, down: old?.down ?? false });
      break;
    case "down":
      next.set(c.addr, { weight: old?.weight ?? 1, down: c.down });
      break;
  }
  return next;
}

/**
 * One change that really changes `m` and keeps at least one server up: the kind is drawn at random and, when it
 * cannot apply (nothing absent to add, the last up server to remove, ...), the next kind is tried, so the
 * generator always yields exactly one change per tick.
 */
export function nextChange(m: Membership, pool: readonly string[], random: () => number): Change {
  const present = [...m.keys()];
  const absent = pool.filter((a) => !m.has(a));
  const ups = upCount(m);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const start = Math.floor(random() * KINDS.length);
  for (let i = 0; i < KINDS.length; i++) {
    const kind = KINDS[(start + i) % KINDS.length] as (typeof KINDS)[number];
    if (kind === "add" && absent.length > 0) {
      return { kind, addr: pick(absent), weight: 1 + Math.floor(random() * 3) };
    }
    // Removing (or downing) an up server is allowed only while another one stays up.
    const removable = present.filter((a) => m.get(a)?.down === true || ups > 1);
    if (kind === "remove" && removable.length > 0 && present.length > 1) {
      return { kind, addr: pick(removable) };
    }
    if (kind === "weight" && present.length > 0) {
      const addr = pick(present);
      const was = m.get(addr)?.weight ?? 1;
      return { kind, addr, weight: 1 + ((was + Math.floor(random() * 4)) % 5) }; // 1..5, never `was`
    }
    if (kind === "down" && removable.length > 0) {
      const addr = pick(removable);
      return { kind, addr, down: m.get(addr)?.down !== true };
    }
    if (kind === "swap" && absent.length >= 2) {
      const shuffled = [...absent];
      for (let j = shuffled.length - 1; j > 0; j--) {
        const k = Math.floor(random() * (j + 1));
        [shuffled[j], shuffled[k]] = [shuffled[k] as string, shuffled[j] as string];
      }
      return { kind, to: shuffled.slice(0, 2 + Math.floor(random() * (absent.length - 1))).sort() };
    }
  }
  throw new Error("no possible change (the pool needs at least 3 servers)");
}

/** `count` changes from `start`, seeded; the memberships after each change come along. */
export function changeSequence(
  start: Membership,
  pool: readonly string[],
  count: number,
  seed: number,
): { changes: Change[]; states: Membership[] } {
  const random = seededRandom(seed);
  const changes: Change[] = [];
  const states: Membership[] = [];
  let m = start;
  for (let i = 0; i < count; i++) {
    const c = nextChange(m, pool, random);
    m = applyChange(m, c);
    changes.push(c);
    states.push(m);
  }
  return { changes, states };
}

/** The Consul KV value of one server (nginx-upsync-module's JSON). */
export function kvValue(s: ServerState): string {
  return JSON.stringify({
    weight: s.weight,
    max_fails: MAX_FAILS,
    fail_timeout: FAIL_TIMEOUT_S,
    down: s.down ? 1 : 0,
  });
}

/** One KV write: `value` null deletes the key. */
export interface KvWrite {
  addr: string;
  value: string | null;
}

/**
 * The KV writes that take the registry from `from` to `to`: new and changed keys first, deletions last, so the
 * registry never lists fewer up servers mid-change than before and after it (a swap is several writes; Consul
 * KV has no multi-key write short of a transaction).
 */
export function kvWrites(from: Membership, to: Membership): KvWrite[] {
  const puts: KvWrite[] = [];
  for (const [addr, s] of [...to].sort(byAddress)) {
    const was = from.get(addr);
    if (!was || was.weight !== s.weight || was.down !== s.down) puts.push({ addr, value: kvValue(s) });
  }
  const deletes = [...from.keys()].filter((a) => !to.has(a)).sort();
  return [...puts, ...deletes.map((addr) => ({ addr, value: null }))];
}

function byAddress(a: [string, ServerState], b: [string, ServerState]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** One `server` line, as syncgate's upstream_show and dump print it (and nginx reads it). */
export function serverLine(addr: string, s: ServerState): string {
  const down = s.down ? " down" : "";
  return `server ${addr} weight=${s.weight} max_fails=${MAX_FAILS} fail_timeout=${FAIL_TIMEOUT_S}s${down};`;
}

/** nginx's `include`d server file for membership `m`, sorted by address like Consul's `?recurse`. */
export function nginxServers(m: Membership): string {
  return [...m]
    .sort(byAddress)
    .map(([addr, s]) => `${serverLine(addr, s)}\n`)
    .join("");
}

/** A change in a few words, for the report's sample of the sequence. */
export function describeChange(c: Change): string {
  switch (c.kind) {
    case "add":
      return `add ${c.addr} weight=${c.weight}`;
    case "remove":
      return `remove ${c.addr}`;
    case "weight":
      return `weight ${c.addr} → ${c.weight}`;
    case "down":
      return `${c.down ? "down" : "up"} ${c.addr}`;
    case "swap":
      return `swap to ${c.to.join(",")}`;
  }
}
