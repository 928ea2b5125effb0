/** The process's resource limits that syncgate warns about (Node.js has no getrlimit). */
import { readFileSync } from "node:fs";

/**
 * The limit on open files from `/proc/self/limits` (its soft column: Node.js raises the soft limit to the hard one at
 * start, so in a Node.js process this is the hard limit, `ulimit -Hn` or systemd's `LimitNOFILE=`); Infinity when
 * unlimited, null where the file does not exist (not Linux) or says nothing readable.
 */
export function openFileLimit(limits = readLimits()): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits ?? "");
  if (!m?.[1]) return null;
  return m[1] === "unlimited" ? Infinity : Number(m[1]);
}

function readLimits(): string | null {
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return null;
  }
}
