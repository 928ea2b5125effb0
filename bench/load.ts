/** Drives load with wrk (one thread) or, failing that, autocannon; both report the same figures. */
import { capture } from "./procs.js";
import type { Tools } from "./system.js";

/** What one load run measured. */
export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
  /** Responses with status 400 and above (wrk's "Non-2xx or 3xx responses"). */
  badStatus: number;
}

/** One load run: `conns` connections for `seconds` against `url`, the generator pinned to `cpu`. */
export interface LoadSpec {
  url: string;
  conns: number;
  seconds: number;
  cpu: string | null;
}

/** wrk's socket errors by kind. */
export interface SocketErrorKinds {
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

/** The socket errors of several runs added up; null when there are none or any run's are unknown. */
export function sumKinds(xs: (SocketErrorKinds | null)[]): SocketErrorKinds | null {
  if (xs.length === 0 || xs.some((x) => x === null)) return null;
  const out: SocketErrorKinds = { connect: 0, read: 0, write: 0, timeout: 0 };
  for (const x of xs as SocketErrorKinds[]) {
    for (const k of Object.keys(out) as (keyof SocketErrorKinds)[]) out[k] += x[k];
  }
  return out;
}

// wrk calls done() once at the end; a script that defines only done() keeps wrk's fast static request.
const WRK_MARK = "WRK_JSON ";

/**
 * One wrk run: the figures, and the socket errors they sum by kind (a reload shows as read errors). The wrk
 * script path is passed in: it lives in bench/ beside the sources.
 */
export async function runWrkDetailed(
  wrk: string,
  script: string,
  spec: LoadSpec,
): Promise<{ load: LoadResult; kinds: SocketErrorKinds }> {
  const args = [
    "-t1",
    `-c${spec.conns}`,
    `-d${spec.seconds}s`,
    "--timeout",
    "10s",
    "--latency",
    "-s",
    script,
  ];
  const r = await capture("wrk", wrk, [...args, spec.url], spec.cpu);
  const line = r.stdout.split("\n").find((l) => l.startsWith(WRK_MARK));
  if (r.code !== 0 || !line) throw new Error(`wrk failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  const j = JSON.parse(line.slice(WRK_MARK.length)) as Record<string, number>;
  const num = (k: string): number => j[k] ?? 0;
  const durationS = num("duration_us") / 1e6;
  const kinds = { connect: num("connect"), read: num("read"), write: num("write"), timeout: num("timeout") };
  const load = {
    requests: num("requests"),
    durationS,
    rps: durationS > 0 ? num("requests") / durationS : 0,
    p50Ms: num("p50_us") / 1000,
    p99Ms: num("p99_us") / 1000,
    maxMs: num("max_us") / 1000,
    socketErrors: kinds.connect + kinds.read + kinds.write + kinds.timeout,
    badStatus: num("status"),
  };
  return { load, kinds };
}

/** One wrk run's figures. */
export async function runWrk(wrk: string, script: string, spec: LoadSpec): Promise<LoadResult> {
  return (await runWrkDetailed(wrk, script, spec)).load;
}

interface AutocannonJson {
  duration: number;
  requests: { total: number };
  latency: { p50: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  "4xx": number;
  "5xx": number;
}

/** autocannon's CLI with JSON output; its errors already include timeouts. */
export async function runAutocannon(script: string, spec: LoadSpec): Promise<LoadResult> {
  const args = [script, "-c", String(spec.conns), "-d", String(spec.seconds), "-t", "10", "-j", spec.url];
  const r = await capture("autocannon", process.execPath, args, spec.cpu);
  if (r.code !== 0) throw new Error(`autocannon failed (${r.code}): ${r.stderr.trim()}`);
  const j = JSON.parse(r.stdout) as AutocannonJson;
  return {
    requests: j.requests.total,
    durationS: j.duration,
    rps: j.duration > 0 ? j.requests.total / j.duration : 0,
    p50Ms: j.latency.p50,
    p99Ms: j.latency.p99,
    maxMs: j.latency.max,
    socketErrors: j.errors,
    badStatus: (j["4xx"] ?? 0) + (j["5xx"] ?? 0),
  };
}

/** A load run with the socket errors by kind (null with autocannon, which has no breakdown). */
export interface DetailedLoad extends LoadResult {
  socketErrorKinds: SocketErrorKinds | null;
}

/**
 * One load run of `spec`, keeping wrk's socket errors by kind when wrk is the generator (a reload that closes
 * keep-alive connections shows as read errors); with autocannon, runLoad's figures.
 */
export async function runDetailedLoad(
  tools: Tools,
  wrkScript: string,
  spec: LoadSpec,
): Promise<DetailedLoad> {
  if (tools.wrk === null) return { ...(await runLoad(tools, wrkScript, spec)), socketErrorKinds: null };
  const { load, kinds } = await runWrkDetailed(tools.wrk, wrkScript, spec);
  return { ...load, socketErrorKinds: kinds };
}

/** Runs one load with whichever generator `tools` has. */
export function runLoad(tools: Tools, wrkScript: string, spec: LoadSpec): Promise<LoadResult> {
  if (tools.wrk !== null) return runWrk(tools.wrk, wrkScript, spec);
  if (tools.autocannon !== null) return runAutocannon(tools.autocannon, spec);
  throw new Error("no load generator");
}

/** The warm-up before a measured run: `spec` for `seconds`, nothing when that is 0. */
export async function warmUp(
  tools: Tools,
  wrkScript: string,
  spec: Omit<LoadSpec, "seconds">,
  seconds: number,
): Promise<void> {
  if (seconds > 0) await runLoad(tools, wrkScript, { ...spec, seconds });
}
