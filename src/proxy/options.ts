/** How a ProxyServer is built and stopped: options for tests, embedding and cluster workers. */
import type { LocationHandlerConf } from "../config/types.js";
import type { ProbeFn } from "../check/checker.js";
import type { ApiRequest } from "../control/api.js";
import type { ErrorLog } from "../log/error-log.js";
import type { ShowRequest, ShowResponse } from "../status/upstream-show.js";

/** Options for tests and embedding. */
export interface ProxyOptions {
  now?: () => number;
  random?: () => number;
  /** Error log to use instead of the configuration's (tests). */
  errorLog?: ErrorLog;
  /** The health-check probe (runProbe by default). */
  probe?: ProbeFn;
  /**
   * A cluster worker's link to the primary: status pages and the admin API are answered there (one view of every
   * worker), and this process neither syncs registries nor probes (the primary sends it the results).
   */
  remote?: RemoteHandlers;
  /** Bind each listener with SO_REUSEPORT, in this process (a cluster worker where Node.js offers it). */
  reusePort?: boolean;
}

/** Where a cluster worker sends what only the primary can answer. */
export interface RemoteHandlers {
  show(handler: LocationHandlerConf, req: ShowRequest): Promise<ShowResponse>;
  api(write: boolean, req: ApiRequest): Promise<ShowResponse>;
}

/** How to stop: at once (SIGTERM), or letting requests in flight finish first (SIGQUIT), bounded when timeoutMs is set. */
export type CloseMode = { graceful: false } | { graceful: true; timeoutMs: number | null };
