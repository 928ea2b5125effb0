/** What the signal handling of runtime/serve.ts drives: one process, or a cluster's primary. */
import type { LoadResult } from "../config/adapt.js";
import type { LogLevel } from "../lib/errors.js";
import type { CloseMode } from "../proxy/server.js";

export interface Runtime {
  /** Writes to the running configuration's error log. */
  log(level: LogLevel, message: string): void;
  /** Configuration loads so far (1 at start). */
  readonly generation: number;
  /** Applies a configuration re-read on SIGHUP; throws, keeping the running one, when it cannot. */
  reload(loaded: LoadResult): Promise<void>;
  /** Reopens the log files (SIGUSR1). */
  reopen(): Promise<void>;
  /** Stops serving (SIGTERM/SIGINT at once, SIGQUIT gracefully). */
  stop(mode: CloseMode): Promise<void>;
}
