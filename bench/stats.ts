/** Per-run records and their medians per proxy and connection count. */
import type { LoadResult } from "./load.js";
import type { ProxyName } from "./options.js";

/** One measured run of one proxy: the load's figures, and what the harness saw of the proxy. */
export interface RunRecord extends LoadResult {
  round: number;
  conns: number;
  proxy: ProxyName;
  /** socketErrors + badStatus. */
  errors: number;
  /** Peak VmRSS of the proxy's process tree, MB (2^20 bytes). */
  rssMB: number;
  /** CPU time (user + system) of the proxy's process tree per request, µs. */
  cpuUsPerReq: number;
  /** How busy CPU 0 (the proxy) and CPU 1 (load + backends) were, percent. */
  cpu0BusyPct: number | null;
  cpu1BusyPct: number | null;
  /** CPU used outside the benchmark (other users, kernel threads) during the run, % of one core. */
  otherCpuPct: number | null;
  /** TCP connections opened on the machine during the run, wrk's own included (ActiveOpens). */
  tcpConnects: number;
  /** Access log lines written during the run (null: no log). */
  logLines: number | null;
  /** Set when the run could not be measured. */
  failure?: string;
}

/** The medians of one proxy at one connection count. */
export interface Summary {
  proxy: ProxyName;
  conns: number;
  runs: number;
  rps: number;
  rpsMin: number;
  rpsMax: number;
  /** Median req/s over nginx's at the same connection count. */
  rpsRatio: number | null;
  p50Ms: number;
  p99Ms: number;
  /** Median p99 over nginx's (above 1: slower). */
  p99Ratio: number | null;
  /** Total over all runs. */
  errors: number;
  rssMB: number;
  rssMaxMB: number;
  cpuUsPerReq: number;
  cpu0BusyPct: number | null;
  cpu1BusyPct: number | null;
  /** Median CPU used outside the benchmark, % of one core. */
  otherCpuPct: number | null;
  /** Median TCP connections opened per run. */
  tcpConnects: number;
  /** Median access log lines per request. */
  logPerRequest: number | null;
}

/** The median (mean of the middle two for an even count); NaN when empty. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The q-quantile (nearest rank) of `values`; NaN when empty. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

/** The sum of `xs` (0 when empty). */
export function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function present(values: (number | null)[]): number[] {
  return values.filter((v): v is number => v !== null);
}

/** The median of the values that are not null; null when there is none. */
export function medianOrNull(values: (number | null)[]): number | null {
  const xs = present(values);
  return xs.length === 0 ? null : median(xs);
}

/** The median of the finite values (no null, NaN or infinity); null when there is none. */
export function finiteMedianOrNull(values: (number | null)[]): number | null {
  return medianOrNull(values.map((v) => (v !== null && Number.isFinite(v) ? v : null)));
}

/** The smallest of the values that are not null; null when there is none. */
export function minOrNull(values: (number | null)[]): number | null {
  const xs = present(values);
  return xs.length === 0 ? null : Math.min(...xs);
}

/** The largest of the values that are not null; null when there is none. */
export function maxOrNull(values: (number | null)[]): number | null {
  const xs = present(values);
  return xs.length === 0 ? null : Math.max(...xs);
}

/** Median, slowest and fastest req/s of some runs, as the summaries list them. */
export function rpsRange(runs: { rps: number }[]): { rps: number; rpsMin: number; rpsMax: number } {
  const rps = runs.map((r) => r.rps);
  return { rps: median(rps), rpsMin: Math.min(...rps), rpsMax: Math.max(...rps) };
}

/** Medians per proxy and connection count, in the given orders; ratios to nginx. */
export function summarize(runs: RunRecord[], proxies: ProxyName[], conns: number[]): Summary[] {
  const out: Summary[] = [];
  for (const c of conns) {
    const rows: Summary[] = [];
    for (const proxy of proxies) {
      const mine = runs.filter((r) => r.proxy === proxy && r.conns === c && r.failure === undefined);
      if (mine.length === 0) continue;
      rows.push({
        proxy,
        conns: c,
        runs: mine.length,
        ...rpsRange(mine),
        rpsRatio: null,
        p50Ms: median(mine.map((r) => r.p50Ms)),
        p99Ms: median(mine.map((r) => r.p99Ms)),
        p99Ratio: null,
        errors: sum(mine.map((r) => r.errors)),
        rssMB: median(mine.map((r) => r.rssMB)),
        rssMaxMB: Math.max(...mine.map((r) => r.rssMB)),
        cpuUsPerReq: median(mine.map((r) => r.cpuUsPerReq)),
        cpu0BusyPct: medianOrNull(mine.map((r) => r.cpu0BusyPct)),
        cpu1BusyPct: medianOrNull(mine.map((r) => r.cpu1BusyPct)),
        otherCpuPct: medianOrNull(mine.map((r) => r.otherCpuPct)),
        tcpConnects: median(mine.map((r) => r.tcpConnects)),
        logPerRequest: medianOrNull(mine.map((r) => (r.logLines === null ? null : r.logLines / r.requests))),
      });
    }
    const nginx = rows.find((r) => r.proxy === "nginx");
    for (const r of rows) {
      r.rpsRatio = nginx && nginx.rps > 0 ? r.rps / nginx.rps : null;
      r.p99Ratio = nginx && nginx.p99Ms > 0 ? r.p99Ms / nginx.p99Ms : null;
    }
    out.push(...rows);
  }
  return out;
}
