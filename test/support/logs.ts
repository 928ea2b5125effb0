/** Reading the proxy's log files in tests: a file not written yet (logs open lazily) reads as empty. */
import { existsSync, readFileSync } from "node:fs";

/** The lines of a log file, without the final empty one; [] when the file does not exist. */
export function logLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "");
}

/** Lines at error level or above ([error], [crit], [alert], [emerg]). */
export function errorLines(path: string): string[] {
  return logLines(path).filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
}
