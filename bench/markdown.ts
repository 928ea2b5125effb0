/** What the reports of every scenario format the same way. */
import type { SocketErrorKinds } from "./load.js";
import type { MachineInfo } from "./system.js";

/** `n` with `digits` decimals; "–" for null, NaN and infinities. */
export function fixed(n: number | null, digits: number): string {
  return n === null || !Number.isFinite(n) ? "–" : n.toFixed(digits);
}

/** `n` rounded, with thousands separators; "–" for null, NaN and infinities. */
export function int(n: number | null): string {
  return n === null || !Number.isFinite(n) ? "–" : Math.round(n).toLocaleString("en-US");
}

/** A markdown table: the first two columns left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
  const align = header.map((_h, i) => (i < 2 ? "---" : "---:"));
  return [line(header), line(align), ...rows.map(line)].join("\n");
}

/** A run's CPU figures, percent: its two cores' busy time, and processes outside the benchmark (of one core). */
interface CpuFigures {
  cpu0BusyPct: number | null;
  cpu1BusyPct: number | null;
  otherCpuPct: number | null;
}

/** The CPU columns of a table of runs: their headers, and a run's cells. */
export const cpuColumns = {
  header: ["CPU0 %", "CPU1 %", "other CPU %"],
  cells: (x: CpuFigures): string[] => [
    fixed(x.cpu0BusyPct, 0),
    fixed(x.cpu1BusyPct, 0),
    fixed(x.otherCpuPct, 0),
  ],
};

/** One "- " line per item, or "- none". */
export function bullets(items: string[]): string {
  return items.length === 0 ? "- none" : items.map((n) => `- ${n}`).join("\n");
}

/** "1. ", "2. ", … before each item. */
export function numbered(items: string[]): string[] {
  return items.map((f, n) => `${n + 1}. ${f}`);
}

/** A "## " section: its title, a blank line, the lines of its body, and a blank line. */
export function section(title: string, ...body: string[]): string[] {
  return [`## ${title}`, "", ...body, ""];
}

/** The title (with the run's date, UTC), a blank line and the machine line. */
export function reportHead(title: string, i: MachineInfo): string[] {
  return [
    `# ${title}, ${i.date.slice(0, 16).replace("T", " ")} UTC`,
    "",
    `- Machine: ${i.nproc} CPUs, ${i.cpuModel}, Linux ${i.kernel}`,
  ];
}

/** "1,234 (read 1,200, connect 34)": the total and its non-zero kinds. */
export function socketErrorText(total: number, kinds: SocketErrorKinds | null): string {
  const parts = kinds === null ? [] : (Object.entries(kinds) as [string, number][]).filter(([, n]) => n > 0);
  if (total === 0 || parts.length === 0) return int(total);
  return `${int(total)} (${parts.map(([k, n]) => `${k} ${int(n)}`).join(", ")})`;
}
