/**
 * No lost requests under registry churn (issue 4 item 8): a real syncgate process follows the Consul double
 * while the membership changes 20 times a second for 10 seconds — adds, removals, re-weights, down flags and
 * whole-set swaps — and keep-alive clients that never retry send a bounded number of requests through it.
 * Every request must succeed, and the backends' own logs must show no request reaching a server more than
 * 200 ms after the registry acknowledged its removal.
 */
import assert from "node:assert/strict";
import { Agent } from "node:http";
import { test } from "node:test";
import { type Backend, startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { startConsulDouble } from "../support/consul-double.js";
import { startSyncgate, waitListening } from "../support/daemon.js";
import { freePort } from "../support/ports.js";
import { tempDir } from "../support/tmp.js";

const KEY = "upstreams/churn/";
const CHANGES_PER_SECOND = 20;
const SECONDS = 10;
const CLIENTS = 4;
/** Requests per client: the load is bounded in count as well as in time. */
const MAX_PER_CLIENT = 2500;
const GRACE_MS = 200;

/** A deterministic PRNG (mulberry32), so a failing sequence can be replayed from the seed in the message. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("20 registry changes a second for 10 s: zero failed requests, nothing reaches a removed server after 200 ms", async (t) => {
  const consul = await startConsulDouble();
  t.after(() => consul.stop());
  const arrivals = new Map<string, number[]>();
  const backends: Backend[] = [];
  for (let i = 0; i < 8; i++) {
    const name = `b${i}`;
    const b = await startBackend(t, name, (_req, res) => {
      arrivals.get(b.addr)!.push(Date.now());
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(name);
    });
    arrivals.set(b.addr, []);
    backends.push(b);
  }
  const port = await freePort();
  const dir = tempDir(t, {
    "syncgate.conf": `pid syncgate.pid;
error_log error.log notice;
events {}
http {
  access_log off;
  upstream churn {
    server 127.0.0.1:11111;
    upsync ${consul.address}/v1/kv/${KEY} upsync_timeout=6m upsync_interval=500ms upsync_type=consul;
    upsync_dump_path ${"servers/churn.conf"};
  }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://churn; } }
}
`,
  });

  // The registry starts with two servers, so the placeholder is gone before the load starts.
  const value = (weight: number, down: boolean): string =>
    JSON.stringify({ weight, max_fails: 2, fail_timeout: 10, down: down ? 1 : 0 });
  const inRegistry = new Map<string, { weight: number; down: boolean }>();
  const put = (addr: string, weight: number, down: boolean): void => {
    consul.put(`${KEY}${addr}`, value(weight, down));
    inRegistry.set(addr, { weight, down });
  };
  /** Per server: the times its removals and additions were acknowledged by the registry, in order. */
  const events = new Map<string, { at: number; kind: "add" | "remove" }[]>();
  const note = (addr: string, kind: "add" | "remove"): void => {
    const list = events.get(addr) ?? [];
    list.push({ at: Date.now(), kind });
    events.set(addr, list);
  };
  const remove = (addr: string): void => {
    consul.delete(`${KEY}${addr}`);
    inRegistry.delete(addr);
    note(addr, "remove");
  };
  const add = (addr: string, weight: number, down: boolean): void => {
    put(addr, weight, down);
    note(addr, "add");
  };
  add(backends[0]!.addr, 1, false);
  add(backends[1]!.addr, 1, false);

  const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
  await waitListening(port);
  const warm = Date.now() + 5000;
  while ((await send(port, "/")).status !== 200) {
    if (Date.now() > warm) throw new Error(`no registry server serves: ${d.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }

  const seed = Date.now() % 100_000;
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const up = (): string[] => [...inRegistry].filter(([, s]) => !s.down).map(([a]) => a);
  const log: string[] = [];

  /** One change that keeps at least one server up (an upstream with every server down would answer 502). */
  const change = (): void => {
    const present = [...inRegistry.keys()];
    const absent = backends.map((b) => b.addr).filter((a) => !inRegistry.has(a));
    const kind = pick(["add", "remove", "weight", "down", "swap"] as const);
    if (kind === "add" && absent.length > 0) {
      const a = pick(absent);
      add(a, 1 + Math.floor(random() * 3), false);
      log.push(`add ${a}`);
    } else if (kind === "remove" && up().length > 1) {
      const candidates = present.filter((a) => up().length > 1 || inRegistry.get(a)!.down);
      const a = pick(candidates);
      if (!inRegistry.get(a)!.down && up().length <= 1) return;
      remove(a);
      log.push(`remove ${a}`);
    } else if (kind === "weight" && present.length > 0) {
      const a = pick(present);
      put(a, 1 + Math.floor(random() * 5), inRegistry.get(a)!.down);
      log.push(`weight ${a}`);
    } else if (kind === "down" && present.length > 0) {
      const a = pick(present);
      const s = inRegistry.get(a)!;
      if (!s.down && up().length <= 1) return;
      put(a, s.weight, !s.down);
      log.push(`${s.down ? "up" : "down"} ${a}`);
    } else if (kind === "swap" && absent.length >= 2) {
      // Whole-set swap: the new servers are written first, then every old one is removed.
      const next = absent.slice(0, 2 + Math.floor(random() * (absent.length - 1)));
      for (const a of next) add(a, 1, false);
      for (const a of present) remove(a);
      log.push(`swap to ${next.join(",")}`);
    }
  };

  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    // One persistent keep-alive connection per client, requests one after another, never retried.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < MAX_PER_CLIENT && !stop; i++) {
      try {
        const r = await send(port, `/c${c}/${i}`, { agent });
        if (r.status === 200) ok++;
        else failures.push(`client ${c} request ${i}: ${r.status} ${r.body.slice(0, 80)}`);
      } catch (err) {
        failures.push(`client ${c} request ${i}: ${String(err)}`);
      }
    }
    agent.destroy();
  });

  const started = Date.now();
  for (let n = 0; n < CHANGES_PER_SECOND * SECONDS; n++) {
    const due = started + (n * 1000) / CHANGES_PER_SECOND;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    change();
  }
  stop = true;
  await Promise.all(clients);

  assert.deepEqual(
    failures.slice(0, 10),
    [],
    `seed ${seed}; ${failures.length} failed of ${ok + failures.length}`,
  );
  assert.ok(ok >= 500, `only ${ok} requests in ${SECONDS} s`);
  // Each spell out of the registry, from a removal to the next addition (or the end): arrivals later than the
  // grace period after the removal are late.
  const late: string[] = [];
  let removals = 0;
  for (const [addr, list] of events) {
    list.forEach((e, i) => {
      if (e.kind !== "remove") return;
      removals++;
      const back = list.slice(i + 1).find((x) => x.kind === "add")?.at ?? Infinity;
      const bad = arrivals.get(addr)!.filter((x) => x > e.at + GRACE_MS && x < back);
      if (bad.length > 0)
        late.push(`${addr}: ${bad.length} requests, first ${bad[0]! - e.at} ms after removal`);
    });
  }
  assert.ok(removals >= 20, `only ${removals} removals`);
  assert.deepEqual(late, [], `seed ${seed}; changes: ${log.slice(-20).join("; ")}`);
  d.child.kill("SIGTERM");
  assert.equal((await d.exited).status, 0, d.stderr());
});
