/**
 * The running proxy for one configuration: listeners, upstreams with their pools, logs, and the services
 * every request uses. `close()` stops accepting, ends connections and flushes logs.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { LoadResult } from "../config/adapt.js";
import type {
  Config,
  HttpSettings,
  LocationConf,
  CheckStatusFormat,
  LocationHandlerConf,
  LogFormatConf,
  ServerConf,
  UpstreamConf,
} from "../config/types.js";
import { compileAccessRules } from "../access/ip-rules.js";
import { HtpasswdStore } from "../access/htpasswd.js";
import { AccessLogs, type AccessLogWriter } from "../log/access-log.js";
import { ErrorLog, errorLogContext } from "../log/error-log.js";
import { compileLogFormat, type LogLine } from "../log/format.js";
import { buildVirtualHosts, hostsFor, listenersOf } from "../router/servers.js";
import { compileLocations, type LocationMatcher } from "../router/locations.js";
import { errnoText, SyncgateError, type LogLevel } from "../lib/errors.js";
import { LATENCY_BUCKETS } from "../upstream/peer.js";
import { Upstream, implicitServer, resolveServers } from "../upstream/upstream.js";
import { parseHostPort } from "../config/address.js";
import { defaultUpstream } from "../config/defaults.js";
import { HealthChecker, type ProbeFn } from "../check/checker.js";
import { runProbe } from "../check/probes/index.js";
import { RegistryRunner } from "../discovery/runner.js";
import {
  type CheckPeerStatus,
  NO_CHECK_SERVERS,
  type PeerTraffic,
  checkStatusBadArgument,
  parseCheckStatusArgs,
  renderCheckStatus,
} from "../status/check-status.js";
import { loadDumpAtStart } from "../discovery/sync.js";
import { renderUpstreamShow, type ShowRequest, type ShowResponse } from "../status/upstream-show.js";
import { renderUpsyncStatus } from "../status/upsync-status.js";
import { AdminApi, type ApiRequest } from "../control/api.js";
import { registryWriter } from "../control/registry-writer.js";
import { ClientConnection } from "./client.js";
import { resolveListenNames } from "./listen-names.js";
import { type RequestContext, variable } from "./context.js";
import type { Services } from "./services.js";

/** Most implicit upstreams of run-time addresses kept at once. */
const RUNTIME_UPSTREAMS = 256;

/** Options for tests and embedding. */
export interface ProxyOptions {
  now?: () => number;
  random?: () => number;
  /** Error log to use instead of the configuration's (tests). */
  errorLog?: ErrorLog;
  /** The health-check probe (runProbe by default). */
  probe?: ProbeFn;
}

interface AccessTarget {
  writer: AccessLogWriter;
  line: LogLine;
  cond: string | null;
}

function forEachLocation(locs: LocationConf[], fn: (l: LocationConf) => void): void {
  for (const l of locs) {
    fn(l);
    forEachLocation(l.locations, fn);
  }
}

/**
 * The servers an upstream starts with (issue 4 item 4): for an upstream with a dump file (a synced one, or one
 * whose admin-API changes are kept in `upsync_dump_path`), the dump's when it lists any —
 * read where the config `include`s it, else from `upsync_dump_path` before the first registry request — because
 * the dump is the registry's last word and already replaced the config's placeholder servers; else the config's.
 */
async function startServers(u: UpstreamConf): Promise<UpstreamConf["servers"]> {
  if (u.dumpPath === null) return u.servers;
  const included = u.servers.filter((s) => s.origin.file === u.dumpPath);
  if (included.length > 0) return included;
  return (await loadDumpAtStart(u)) ?? u.servers;
}

/** A running syncgate data plane. */
export class ProxyServer implements Services {
  readonly upstreams = new Map<string, Upstream>();
  readonly htpasswd = new HtpasswdStore();
  readonly errorLog: ErrorLog;
  private readonly accessLogs: AccessLogs;
  private readonly accessTargets = new WeakMap<HttpSettings, AccessTarget[]>();
  private readonly accessRules = new WeakMap<HttpSettings, (addr: string) => "allow" | "deny">();
  private readonly matchers = new Map<ServerConf, LocationMatcher>();
  private readonly servers: Server[] = [];
  private readonly conns = new Set<ClientConnection>();
  private readonly random: (() => number) | undefined;
  readonly now: () => number;
  /** Implicit upstreams of addresses picked at run time, least recently used first (see upstreamFor). */
  private readonly runtimeUpstreams = new Map<string, Upstream>();
  /** Registry sync of the upstreams with `upsync` (none when the config has none). */
  registry: RegistryRunner | null = null;
  /** Active health checks of the upstreams with `check`. */
  readonly checker: HealthChecker;
  /** The `api` location handler's state. */
  private readonly adminApi: AdminApi;

  private constructor(
    readonly config: Config,
    opts: ProxyOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random;
    this.errorLog = opts.errorLog ?? new ErrorLog(config.main.errorLog);
    this.accessLogs = new AccessLogs({ onError: (level, message) => this.errorLog.log(level, message) });
    this.checker = new HealthChecker({
      log: (level, message) => this.errorLog.log(level, message),
      now: this.now,
      probe: opts.probe ?? runProbe,
      ...(opts.random ? { random: opts.random } : {}),
    });
    this.adminApi = new AdminApi({
      upstreams: () => this.configuredUpstreams(),
      registry: () => this.registry,
      health: () => this.checker.servers(),
      now: this.now,
      log: (level, message) => this.errorLog.log(level, message),
      writer: registryWriter,
    });
  }

  /** The upstreams of the configuration, in declaration order (not the implicit ones of `proxy_pass ADDRESS`). */
  private configuredUpstreams(): Upstream[] {
    const out: Upstream[] = [];
    for (const c of this.config.http?.upstreams ?? []) {
      const u = this.upstreams.get(c.name);
      if (u) out.push(u);
    }
    return out;
  }

  /** Builds the proxy for a loaded configuration: resolves upstream host names and opens the logs. */
  static async create(loaded: LoadResult, opts: ProxyOptions = {}): Promise<ProxyServer> {
    const config = loaded.config;
    const p = new ProxyServer(config, opts);
    const http = config.http;
    if (!http) return p;
    const now = p.now();
    for (const u of http.upstreams) {
      p.upstreams.set(u.name, new Upstream(u, await resolveServers(await startServers(u)), now, p.random));
    }
    p.registry = await RegistryRunner.create(http.upstreams, p.upstreams, {
      log: (level, message) => p.errorLog.log(level, message),
      now: p.now,
      checker: p.checker,
      ...(p.random ? { random: p.random } : {}),
    });
    const literal = new Map<string, { host: string; port: number }>();
    for (const s of http.servers) {
      p.matchers.set(s, compileLocations(s));
      p.prepareLogs(s.settings, http.logFormats);
      forEachLocation(s.locations, (l) => {
        p.prepareLogs(l.settings, http.logFormats);
        const pp = l.proxyPass;
        if (pp && !pp.variables && !pp.upstream) {
          literal.set(`${pp.host}:${pp.port ?? 80}`, { host: pp.host, port: pp.port ?? 80 });
        }
      });
    }
    // proxy_pass to an address or host name: an implicit upstream of all its addresses, as nginx makes.
    for (const [key, t] of literal) {
      if (!p.upstreams.has(key)) {
        p.upstreams.set(key, p.implicitUpstream(key, await resolveServers([implicitServer(t.host, t.port)])));
      }
    }
    await p.accessLogs.open();
    return p;
  }

  private implicitUpstream(name: string, specs: ReturnType<typeof implicitServer>[]): Upstream {
    return new Upstream(
      defaultUpstream(name, { file: null, line: 0 }, specs),
      specs,
      this.now(),
      this.random,
    );
  }

  /**
   * Starts registry sync and health checks; resolves when the listeners may open (strong_dependency=on: after the
   * first successful sync, else it rejects; watched files: after their first read; checks: after one round of
   * probes, bounded by the check timeout).
   */
  async start(): Promise<void> {
    if (this.registry && this.registry.size > 0) {
      this.registry.start();
      await this.registry.ready();
    }
    // Health checks follow the servers the first sync left; their first round runs before any request.
    for (const u of this.upstreams.values()) if (u.conf.check) this.checker.add(u);
    await this.checker.firstRound();
  }

  /** Answers a location's status handler (`upstream_show`, `upsync_status`). */
  handle(handler: LocationHandlerConf, req: ShowRequest): ShowResponse {
    if (handler.kind === "upsync_status") return renderUpsyncStatus(this.registry?.status() ?? [], req);
    if (handler.kind === "check_status") return this.checkStatus(handler.format, req);
    // The request layer sends `api` to api(), which reads the body first and answers asynchronously.
    if (handler.kind === "api") return { status: 500, headers: [], body: null };
    // As the module: primary servers only (backup servers are in the dump and upsync_status).
    const list = [...this.upstreams.values()].map((u) => ({
      name: u.conf.name,
      servers: (
        this.registry?.servers(u.conf.name)?.servers() ?? u.group.all().map((peer) => peer.spec)
      ).filter((spec) => !spec.backup),
    }));
    return renderUpstreamShow(list, req);
  }

  /** Answers the admin API (`api [write=on]`). */
  api(write: boolean, req: ApiRequest): Promise<ShowResponse> {
    return this.adminApi.handle(write, req);
  }

  /** The check_status page (check spec §3) with the proxy's per-server traffic and the registry's state. */
  private checkStatus(format: CheckStatusFormat, req: ShowRequest): ShowResponse {
    const peers = this.checker.servers();
    if (req.method === "GET" || req.method === "HEAD") {
      if (peers.length === 0) this.errorLog.log("error", NO_CHECK_SERVERS);
      for (const bad of parseCheckStatusArgs(req.args).bad)
        this.errorLog.log("error", checkStatusBadArgument(bad));
    }
    const traffic = (p: CheckPeerStatus): PeerTraffic | null => {
      const t = this.upstreams.get(p.upstream)?.group.get(p.name)?.traffic;
      if (!t) return null;
      return {
        requests: t.requests,
        failures: t.failures,
        latencySeconds: {
          sum: t.latencySum,
          count: t.requests,
          buckets: t.latencyCounts.slice(0, LATENCY_BUCKETS.length).map((n, i) => [LATENCY_BUCKETS[i]!, n]),
        },
      };
    };
    const sync = (this.registry?.status() ?? []).map((st) => ({
      upstream: st.upstream,
      ok: this.registry?.ok(st.upstream) ?? true,
      lastSyncSeconds: st.lastSync === null ? null : st.lastSync / 1000,
      refused: st.refused,
      servers: st.servers.length,
    }));
    return renderCheckStatus({ generation: this.checker.generation, peers, traffic, sync }, format, req);
  }

  /**
   * The implicit upstream of an address picked at run time (`proxy_pass http://$host`). They are kept (with their
   * keep-alive pools) for reuse, but at most RUNTIME_UPSTREAMS of them, least recently used dropped first: the
   * address may come from the client, and an unbounded table would be a way to exhaust memory and sockets.
   */
  upstreamFor(authority: string): Upstream | null {
    const hp = parseHostPort(authority);
    if ("error" in hp || !/^[\d.]+$|:/.test(hp.host)) return null;
    const key = `${hp.host}:${hp.port ?? 80}`;
    let u = this.runtimeUpstreams.get(key);
    if (u) this.runtimeUpstreams.delete(key);
    else {
      u = this.implicitUpstream(key, [implicitServer(hp.host, hp.port ?? 80)]);
      if (this.runtimeUpstreams.size >= RUNTIME_UPSTREAMS) {
        const [oldest, dropped] = this.runtimeUpstreams.entries().next().value!;
        this.runtimeUpstreams.delete(oldest);
        dropped.close();
      }
    }
    this.runtimeUpstreams.set(key, u);
    return u;
  }

  private prepareLogs(settings: HttpSettings, formats: Record<string, LogFormatConf>): void {
    if (this.accessTargets.has(settings)) return;
    const targets: AccessTarget[] = [];
    for (const a of settings.accessLog ?? []) {
      if (a.path.includes("$")) continue;
      targets.push({
        writer: this.accessLogs.acquire(a),
        line: compileLogFormat(formats[a.format]!),
        cond: a.if,
      });
    }
    this.accessTargets.set(settings, targets);
  }

  locations(server: ServerConf): LocationMatcher {
    let m = this.matchers.get(server);
    if (!m) {
      m = compileLocations(server);
      this.matchers.set(server, m);
    }
    return m;
  }

  access(settings: HttpSettings, clientAddr: string): "allow" | "deny" {
    if (settings.access.length === 0) return "allow";
    let f = this.accessRules.get(settings);
    if (!f) {
      f = compileAccessRules(settings.access);
      this.accessRules.set(settings, f);
    }
    return f(clientAddr);
  }

  logAccess(ctx: RequestContext): void {
    const settings = ctx.settings;
    if (!settings) return;
    const targets = this.accessTargets.get(settings);
    if (!targets || targets.length === 0) return;
    const now = this.now();
    const get = (name: string): string | null => variable(ctx, name, now);
    for (const t of targets) {
      if (t.cond !== null) {
        const v = get(t.cond.replace(/^\$\{?|\}$/g, ""));
        if (v === null || v === "" || v === "0") continue;
      }
      t.writer.write(t.line(get));
    }
  }

  logRequestError(level: LogLevel, ctx: RequestContext, message: string, upstream?: string): void {
    const suffix = errorLogContext({
      client: ctx.conn.remoteAddr,
      server: ctx.serverName(),
      request: ctx.requestLine(),
      ...(upstream ? { upstream } : {}),
      host: ctx.head.host ?? undefined,
    });
    this.errorLog.log(level, message + suffix, ctx.conn.id);
  }

  /** Binds every listen address; fails with nginx's bind() message. */
  async listen(): Promise<void> {
    const http = this.config.http;
    if (!http) return;
    const servers = await resolveListenNames(http.servers);
    const tables = buildVirtualHosts(servers);
    for (const l of listenersOf(servers)) {
      const server = createServer({ noDelay: true }, (socket: Socket) => {
        const hosts = hostsFor(tables, socket.localAddress ?? "", socket.localPort ?? 0);
        if (!hosts) {
          socket.destroy();
          return;
        }
        const conn = new ClientConnection(socket, this, hosts, (c) => this.conns.delete(c));
        this.conns.add(conn);
      });
      const host = l.host === "*" ? (l.ipv6 ? "::" : "0.0.0.0") : l.host;
      await new Promise<void>((resolve, reject) => {
        server.once("error", (err: NodeJS.ErrnoException) => {
          const shown = l.ipv6 ? `[${host}]:${l.port}` : `${host}:${l.port}`;
          reject(new SyncgateError("SG_ERR_IO", `bind() to ${shown} failed ${errnoText(err)}`));
        });
        server.listen(
          {
            host,
            port: l.port,
            ...(l.backlog ? { backlog: l.backlog } : {}),
            ipv6Only: l.ipv6 && l.ipv6only,
          },
          () => {
            server.removeAllListeners("error");
            server.on("error", (err) => this.errorLog.log("alert", `listener error: ${String(err)}`));
            resolve();
          },
        );
      });
      this.servers.push(server);
    }
  }

  /** Bound addresses (host, port), in listen order. */
  addresses(): { host: string; port: number }[] {
    return this.servers.map((s) => {
      const a = s.address();
      return typeof a === "object" && a ? { host: a.address, port: a.port } : { host: "", port: 0 };
    });
  }

  /** Reopens every log file (SIGUSR1). */
  async reopenLogs(): Promise<void> {
    await this.accessLogs.reopen();
    await this.errorLog.reopen();
  }

  /** Stops listening, closes every connection and pool, flushes the logs. */
  async close(): Promise<void> {
    // net.Server.close() waits for open connections: stop accepting, end idle ones, then wait.
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
    for (const c of this.conns) c.shutdown();
    await closed;
    await this.registry?.stop();
    this.checker.stop();
    for (const u of this.upstreams.values()) u.close();
    for (const u of this.runtimeUpstreams.values()) u.close();
    await this.accessLogs.close();
    await this.errorLog.close();
  }
}
