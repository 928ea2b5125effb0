/** How syncgate talks on the terminal: nginx's "syncgate: [level] message" lines on stderr. */
import type { ConfigMessage } from "../config/engine.js";
import { SyncgateError } from "../lib/errors.js";

/** Where CLI output goes; tests pass their own. */
export interface Out {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** The process's own streams. */
export const processOut: Out = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Prints one log line in nginx's shape. */
export function logLine(out: Out, level: string, text: string): void {
  out.stderr(`syncgate: [${level}] ${text}\n`);
}

/** Prints notices and warnings gathered while loading. */
export function printMessages(out: Out, messages: readonly ConfigMessage[]): void {
  for (const m of messages) logLine(out, m.level, m.text);
}

/** Prints an error (with its hint line) and returns the exit status. */
export function printError(out: Out, err: unknown): number {
  if (err instanceof SyncgateError) {
    logLine(out, err.level, err.message);
    if (err.hint) logLine(out, "notice", err.hint);
    return 1;
  }
  logLine(out, "alert", (err as Error)?.stack ?? String(err));
  return 2;
}
