/** What a request needs from the running proxy: routing tables, upstreams, logs, auth. */
import type { Config, HttpSettings, LocationHandlerConf, ServerConf } from "../config/types.js";
import type { ShowRequest, ShowResponse } from "../status/upstream-show.js";
import type { HtpasswdStore } from "../access/htpasswd.js";
import type { ErrorLog } from "../log/error-log.js";
import type { Upstream } from "../upstream/upstream.js";
import type { LocationMatcher } from "../router/locations.js";
import type { LogLevel } from "../lib/errors.js";
import type { RequestContext } from "./context.js";
import type { ApiRequest } from "../control/api.js";
import type { VirtualHosts } from "../router/servers.js";
import type { ClientConnection } from "./client.js";

/** The proxy's shared state for one loaded configuration. */
export interface Services {
  config: Config;
  /** Upstream by name: explicit ones, and implicit ones for literal proxy_pass addresses ("host:port"). */
  upstreams: Map<string, Upstream>;
  /** The implicit upstream for "host:port" picked at run time (proxy_pass with variables), or null. */
  upstreamFor(authority: string): Upstream | null;
  /** Location matcher of a server. */
  locations(server: ServerConf): LocationMatcher;
  /** allow/deny verdict for a client under `settings`. */
  access(settings: HttpSettings, clientAddr: string): "allow" | "deny";
  htpasswd: HtpasswdStore;
  errorLog: ErrorLog;
  /** Writes the access log lines of a finished request. */
  logAccess(ctx: RequestContext): void;
  /** Logs an error about a request with nginx's context suffix (client, server, request, upstream, host). */
  logRequestError(level: LogLevel, ctx: RequestContext, message: string, upstream?: string): void;
  /** Answers a location's status handler (a cluster worker asks the primary: a promise then). */
  handle(handler: LocationHandlerConf, req: ShowRequest): ShowResponse | Promise<ShowResponse>;
  /** Answers the admin API (`api [write=on]`); the body was read first. */
  api(write: boolean, req: ApiRequest): Promise<ShowResponse>;
  /** Random source for balancers (injectable). */
  now(): number;
  /** The configuration a reload replaced this one with (null while this one is current). */
  readonly next: Services | null;
  /** The virtual hosts of a local address in this configuration, or null when it no longer listens there. */
  hostsAt(addr: string, port: number): VirtualHosts | null;
  /** A connection starts being served by this configuration (it moved here after a reload). */
  attach(conn: ClientConnection): void;
  /** A connection stops being served by this configuration (closed, or moved on after a reload). */
  detach(conn: ClientConnection): void;
}
