/** Human output of `syncgate ctl`: aligned tables and one-line reports (pure; `--json` prints the data as is). */
import type { DrainResult } from "./ctl-drain.js";
import type { ChangeResult, ListResult, StatusRow } from "./ctl-ops.js";
import type { ServerValue } from "./types.js";

/** Columns padded to their widest cell, two blanks apart, no trailing blanks. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [head, ...rows].map(line).join("\n") + "\n";
}

const yesNo = (b: boolean): string => (b ? "yes" : "no");

/** `ctl list`. */
export function formatList(r: ListResult): string {
  const withLive = r.live !== null;
  const head = [
    "SERVER",
    "WEIGHT",
    "MAX_FAILS",
    "FAIL_TIMEOUT",
    "BACKUP",
    "DOWN",
    ...(withLive ? ["STATE", "ACTIVE"] : []),
  ];
  const parts = r.upstreams.map((u) => {
    let out = `upstream ${u.upstream}: ${u.source}${u.read_only !== null ? " (read-only)" : ""}\n`;
    if (u.servers.length === 0) return `${out}(no servers)\n`;
    const rows = u.servers.map((s) => [
      s.server,
      String(s.weight),
      s.listed ? String(s.max_fails) : "-",
      s.listed ? `${s.fail_timeout}s` : "-",
      yesNo(s.backup),
      yesNo(s.down),
      ...(withLive
        ? [
            s.listed ? (s.state ?? "-") : `${s.state ?? "-"} (not listed)`,
            s.active === null ? "-" : String(s.active),
          ]
        : []),
    ]);
    out += table(head, rows);
    return out;
  });
  let text = parts.join("\n");
  if (r.live_error !== null) text += `(no live state: ${r.live_error})\n`;
  return text;
}

/** `weight=1 max_fails=2 fail_timeout=10 backup=0 down=0`, the registry value's fields. */
export function formatValue(v: ServerValue): string {
  return `weight=${v.weight} max_fails=${v.max_fails} fail_timeout=${v.fail_timeout} backup=${v.backup} down=${v.down}`;
}

/** `ctl add|remove|down|up|weight`: one line. */
export function formatChange(c: ChangeResult): string {
  const where = `upstream "${c.upstream}" (${c.source})`;
  switch (c.action) {
    case "added":
      return `added ${c.server} to ${where}: ${formatValue(c.value!)}\n`;
    case "updated":
      return `updated ${c.server} in ${where}: ${formatValue(c.value!)}\n`;
    case "removed":
      return `removed ${c.server} from ${where}\n`;
    case "absent":
      return `${c.server} is not in ${where}: nothing to remove\n`;
  }
}

/** The last line of `ctl drain` (the progress lines came before). */
export function formatDrain(d: DrainResult): string {
  return d.drained
    ? `drained and removed ${d.server} from upstream "${d.upstream}"\n`
    : `removed ${d.server} from upstream "${d.upstream}" with ${d.active} active after the timeout\n`;
}

/** `ctl status`: the live health table. */
export function formatStatus(rows: StatusRow[]): string {
  if (rows.length === 0) return "(no servers)\n";
  const head = [
    "UPSTREAM",
    "ID",
    "SERVER",
    "STATE",
    "ACTIVE",
    "REQUESTS",
    "FAILS",
    "CHECKS",
    "CHECK_FAILS",
    "LAST_CHECK",
  ];
  const n = (v: number | undefined): string => (v === undefined ? "-" : String(v));
  return table(
    head,
    rows.map((r) => {
      const h = r.health_checks;
      const last = h?.last_passed === undefined ? "-" : h.last_passed ? "passed" : "failed";
      return [
        r.upstream,
        String(r.id),
        r.server,
        r.state,
        String(r.active),
        n(r.requests),
        n(r.fails),
        n(h?.checks),
        n(h?.fails),
        last,
      ];
    }),
  );
}
