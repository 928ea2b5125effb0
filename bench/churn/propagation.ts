/**
 * Propagation delay of `--scenario churn`: how long after the registry acknowledged a write syncgate serves it.
 * With syncgate's blocking query held open by the Consul double, the harness writes one change in-process (the
 * double answers the held query inside put()/delete(), so the write is acknowledged when the call returns) and
 * then polls `GET /upstream_show?churn` on one keep-alive connection, waiting ~1 ms between polls, until the
 * change shows. upstream_show lists the servers the balancer picks from (the same list, swapped in one step), so
 * this observes "applied" directly, whatever the load balancing order. The figure is an upper bound: it ends
 * when the first poll that shows the change comes back; the change was applied after the previous poll was
 * sent, and each sample keeps that lower bound too.
 */
import { Agent, request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsulDouble } from "../../test/support/consul-double.js";
import { kvValue, serverLine, type ServerState } from "./changes.js";
import { KV_FOLDER } from "./setup.js";

/** One measured change. */
export interface PropagationSample {
  kind: "add" | "remove";
  addr: string;
  /** From the write's acknowledgement to the arrival of the first poll that showed it, ms (upper bound). */
  ms: number;
  /** From the acknowledgement to the sending of the last poll that did not show it, ms (lower bound; 0 if none). */
  loMs: number;
  /** Polls it took. */
  polls: number;
  /** Round trip of the last poll, ms (the resolution of the measurement, with the ~1 ms pause). */
  rttMs: number;
}

/** What one series of samples needs. */
export interface PropagationSpec {
  consul: ConsulDouble;
  /** syncgate's port (it has `location = /upstream_show`). */
  port: number;
  /** Servers that are toggled in and out, one per sample pair; none of them in the registry at the start. */
  extra: readonly string[];
  /** Stop after this many samples ... */
  samples: number;
  /** ... or at this performance.now() time. */
  until: number;
  /** A sample not seen in this time is recorded as a timeout and the series goes on. */
  timeoutMs: number;
}

/** A series' samples and the ones that timed out. */
export interface PropagationSeries {
  samples: PropagationSample[];
  timeouts: number;
}

const SHOW_PATH = "/upstream_show?churn";

/** GET upstream_show on the agent's one keep-alive connection; resolves with the body. */
function show(agent: Agent, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: SHOW_PATH, agent, timeout: 2000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (s: string) => (body += s));
      res.on("end", () => resolve(body));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${SHOW_PATH}: no answer in 2 s`)));
    req.on("error", reject);
    req.end();
  });
}

/** Waits (≤ 2 s) until syncgate's blocking query is held by the double, so the write finds it open. */
async function queryHeld(consul: ConsulDouble): Promise<boolean> {
  const deadline = performance.now() + 2000;
  while (consul.waiting() === 0) {
    if (performance.now() > deadline) return false;
    await sleep(1);
  }
  return true;
}

/**
 * Toggles servers of `extra` in and out of the registry (add with weight 2, then remove), measuring each write,
 * with a random 10–30 ms pause before each so writes do not fall in step with anything.
 */
export async function measurePropagation(spec: PropagationSpec): Promise<PropagationSeries> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: PropagationSample[] = [];
  let timeouts = 0;
  const state: ServerState = { weight: 2, down: false };
  try {
    for (let i = 0; samples.length + timeouts < spec.samples && performance.now() < spec.until; i++) {
      const addr = spec.extra[Math.floor(i / 2) % spec.extra.length] as string;
      const kind = i % 2 === 0 ? "add" : "remove";
      const line = serverLine(addr, state);
      await show(agent, spec.port); // The connection is open before the clock starts.
      if (!(await queryHeld(spec.consul)))
        throw new Error("syncgate holds no blocking query on the registry");
      await sleep(10 + Math.random() * 20);
      if (kind === "add") spec.consul.put(`${KV_FOLDER}${addr}`, kvValue(state));
      else spec.consul.delete(`${KV_FOLDER}${addr}`);
      const acked = performance.now();
      let polls = 0;
      let lastMissSent = acked;
      let missed = false;
      for (;;) {
        const sent = performance.now();
        const body = await show(agent, spec.port);
        const received = performance.now();
        polls++;
        const seen = kind === "add" ? body.includes(line) : !body.includes(`server ${addr} `);
        if (seen) {
          samples.push({
            kind,
            addr,
            ms: received - acked,
            loMs: missed ? lastMissSent - acked : 0,
            polls,
            rttMs: received - sent,
          });
          break;
        }
        missed = true;
        lastMissSent = sent;
        if (received - acked > spec.timeoutMs) {
          timeouts++;
          break;
        }
        await sleep(1);
      }
    }
  } finally {
    agent.destroy();
  }
  return { samples, timeouts };
}
