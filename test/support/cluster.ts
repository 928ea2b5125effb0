/** A running `worker_processes N` syncgate for tests: its worker processes, and one client per worker. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { Daemon } from "./daemon.js";
import { KeepAliveClient } from "./keepalive.js";

/** The pids of the worker processes of primary `pid` (its children), sorted. */
export function workerPids(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/**
 * One keep-alive connection served by each of `n` workers, found by asking `pidPath` (a location answering
 * `return 200 "$pid"`) on new connections; fails after 200 connections without every worker met.
 */
export async function clientPerWorker(
  port: number,
  n: number,
  pidPath = "/pid",
): Promise<Map<number, KeepAliveClient>> {
  const found = new Map<number, KeepAliveClient>();
  for (let tries = 0; tries < 200 && found.size < n; tries += 8) {
    const batch = Array.from({ length: 8 }, () => new KeepAliveClient(port));
    const pids = await Promise.all(batch.map(async (c) => Number((await c.get(pidPath)).body)));
    batch.forEach((c, i) => {
      if (found.has(pids[i]!) || found.size >= n) c.close();
      else found.set(pids[i]!, c);
    });
  }
  if (found.size < n) {
    for (const c of found.values()) c.close();
    throw new Error(`connections reached ${found.size} of ${n} workers`);
  }
  return found;
}

/**
 * Waits until `pidFile` exists (a cluster writes it once every worker listens); fails with the server's stderr
 * when it exits first or after `ms`.
 */
export async function waitReady(d: Daemon, pidFile: string, ms = 20_000): Promise<void> {
  const state = { exited: "" };
  void d.exited.then((e) => (state.exited = `exited with status ${e.status} signal ${e.signal}`));
  const end = Date.now() + ms;
  while (!existsSync(pidFile)) {
    if (state.exited) throw new Error(`syncgate ${state.exited} before it was ready: ${d.stderr()}`);
    if (Date.now() > end) throw new Error(`syncgate not ready after ${ms} ms: ${d.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
