/** The targets for syncgate, checked against the medians. */
import type { Summary } from "./stats.js";

/** One target and whether the run met it (null: not measured in this run). */
export interface GoalResult {
  goal: string;
  actual: string;
  met: boolean | null;
}

function find(s: Summary[], proxy: string, conns: number): Summary | undefined {
  return s.find((x) => x.proxy === proxy && x.conns === conns);
}

function ratioGoal(
  s: Summary[],
  conns: number,
  other: string,
  pick: (x: Summary) => number,
  min: number | null,
  max: number | null,
  goal: string,
): GoalResult {
  const mine = find(s, "syncgate", conns);
  const theirs = find(s, other, conns);
  if (!mine || !theirs || pick(theirs) <= 0) return { goal, actual: "not measured", met: null };
  const ratio = pick(mine) / pick(theirs);
  const met = (min === null || ratio >= min) && (max === null || ratio <= max);
  const bound = (min ?? max) as number;
  const close =
    Math.abs(ratio - bound) <= 0.1 * bound ? " (within 10% of the target: noise can flip it)" : "";
  return { goal, actual: `${ratio.toFixed(2)}×${close}`, met };
}

/** Checks every target; connection-count targets are checked at each count they name that was measured. */
export function checkGoals(s: Summary[], conns: number[]): GoalResult[] {
  const out: GoalResult[] = [];
  const rps = (x: Summary): number => x.rps;
  const p99 = (x: Summary): number => x.p99Ms;
  out.push(ratioGoal(s, 64, "nginx", rps, 0.5, null, "req/s ≥ 0.5× nginx at 64 connections"));
  for (const c of conns) {
    out.push(ratioGoal(s, c, "undici", rps, 1.3, null, `req/s ≥ 1.3× undici proxy at ${c} connections`));
    out.push(ratioGoal(s, c, "http-proxy", rps, 2, null, `req/s ≥ 2× http-proxy at ${c} connections`));
  }
  out.push(ratioGoal(s, 64, "nginx", p99, null, 2.5, "p99 ≤ 2.5× nginx at 64 connections"));
  out.push(ratioGoal(s, 256, "nginx", p99, null, 3, "p99 ≤ 3× nginx at 256 connections"));
  const mine = s.filter((x) => x.proxy === "syncgate");
  if (mine.length === 0) {
    out.push({ goal: "zero errors", actual: "not measured", met: null });
    out.push({ goal: "RSS ≤ 100 MB", actual: "not measured", met: null });
  } else {
    const errors = mine.reduce((a, x) => a + x.errors, 0);
    out.push({ goal: "zero errors", actual: `${errors} in all runs`, met: errors === 0 });
    const rss = Math.max(...mine.map((x) => x.rssMaxMB));
    out.push({ goal: "RSS ≤ 100 MB", actual: `${rss.toFixed(1)} MB peak`, met: rss <= 100 });
  }
  return out;
}
