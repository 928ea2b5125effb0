/**
 * The churn runs' load: wrk as bench/load.ts runs it, but keeping wrk's socket errors by kind (a reload that
 * closes keep-alive connections shows as read errors); autocannon, which has no breakdown, through runLoad.
 */
import { runLoad, type LoadResult, type LoadSpec } from "../load.js";
import { capture } from "../procs.js";
import type { Tools } from "../system.js";

/** wrk's socket errors by kind. */
export interface SocketErrorKinds {
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

/** A load run with the socket errors by kind (null with autocannon). */
export interface DetailedLoad extends LoadResult {
  socketErrorKinds: SocketErrorKinds | null;
}

const WRK_MARK = "WRK_JSON ";

/** One load run of `spec`, with wrk when there is one. */
export async function runDetailedLoad(
  tools: Tools,
  wrkScript: string,
  spec: LoadSpec,
): Promise<DetailedLoad> {
  if (tools.wrk === null) return { ...(await runLoad(tools, wrkScript, spec)), socketErrorKinds: null };
  const args = [
    "-t1",
    `-c${spec.conns}`,
    `-d${spec.seconds}s`,
    "--timeout",
    "10s",
    "--latency",
    "-s",
    wrkScript,
  ];
  const r = await capture("wrk", tools.wrk, [...args, spec.url], spec.cpu);
  const line = r.stdout.split("\n").find((l) => l.startsWith(WRK_MARK));
  if (r.code !== 0 || !line) throw new Error(`wrk failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  const j = JSON.parse(line.slice(WRK_MARK.length)) as Record<string, number>;
  const num = (k: string): number => j[k] ?? 0;
  const durationS = num("duration_us") / 1e6;
  const kinds = { connect: num("connect"), read: num("read"), write: num("write"), timeout: num("timeout") };
  return {
    requests: num("requests"),
    durationS,
    rps: durationS > 0 ? num("requests") / durationS : 0,
    p50Ms: num("p50_us") / 1000,
    p99Ms: num("p99_us") / 1000,
    maxMs: num("max_us") / 1000,
    socketErrors: kinds.connect + kinds.read + kinds.write + kinds.timeout,
    badStatus: num("status"),
    socketErrorKinds: kinds,
  };
}
