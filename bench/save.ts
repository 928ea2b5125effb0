/** Where the reports go: bench/results/, as markdown and JSON. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes bench/results/YYYY-MM-DD-HHMM<suffix>.md and .json (`date`: the run's, UTC); returns the two paths. */
export function saveResults(
  root: string,
  date: string,
  suffix: string,
  markdown: string,
  data: unknown,
): [string, string] {
  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stem = `${date.slice(0, 10)}-${date.slice(11, 13)}${date.slice(14, 16)}${suffix}`;
  const md = join(dir, `${stem}.md`);
  const json = join(dir, `${stem}.json`);
  writeFileSync(md, markdown);
  writeFileSync(json, `${JSON.stringify(data, null, 2)}\n`);
  return [md, json];
}
