/**
 * The running proxy for one configuration: listeners, upstreams with their pools, logs, and the services
 * every request uses. `close()` stops accepting, ends connections and flushes logs.
 */
import type { Socket } from "node:net";
import type { LoadResult } from "../config/adapt.js";
import type {
  Config,
  HttpSettings,
  LocationConf,
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
import {
  buildVirtualHosts,
  hostsFor,
  listenersOf,
  type Listener as ListenSpec,
  type VirtualHosts,
} from "../router/servers.js";
import { compileLocations, type LocationMatcher } from "../router/locations.js";
import type { LogLevel } from "../lib/errors.js";
import { Upstream, implicitServer, resolveServers } from "../upstream/upstream.js";
import { sameUpstream } from "../upstream/compare.js";
import { implicitUpstream, RuntimeUpstreams } from "../upstream/implicit.js";
import { HealthChecker } from "../check/checker.js";
import { startProbe } from "../check/probes/index.js";
import { RegistryRunner } from "../discovery/runner.js";
import { startServers } from "../discovery/sync.js";
import type { ShowRequest, ShowResponse } from "../status/upstream-show.js";
import { AdminApi, type ApiRequest } from "../control/api.js";
import { registryWriter } from "../control/registry-writer.js";
import { ClientConnection } from "./client.js";
import { ListenerSet } from "./listeners.js";
import { resolveListenNames } from "./listen-names.js";
import { type RequestContext, variable } from "./context.js";
import type { Services } from "./services.js";
import type { CloseMode, ProxyOptions, RemoteHandlers } from "./options.js";
import { renderStatusPage } from "../status/pages.js";

export type { CloseMode, ProxyOptions, RemoteHandlers } from "./options.js";

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

/** A running syncgate data plane. */
export class ProxyServer implements Services {
  readonly upstreams = new Map<string, Upstream>();
  readonly htpasswd = new HtpasswdStore();
  readonly errorLog: ErrorLog;
  private readonly accessLogs: AccessLogs;
  private readonly accessTargets = new WeakMap<HttpSettings, AccessTarget[]>();
  private readonly accessRules = new WeakMap<HttpSettings, (addr: string) => "allow" | "deny">();
  private readonly matchers = new Map<ServerConf, LocationMatcher>();
  /** Listening sockets, bound by this configuration or handed on by the one it replaced. */
  private readonly listeners: ListenerSet;
  /** Virtual hosts by listen address (router/servers.ts), and the listen lines, host names resolved. */
  private tables = new Map<string, VirtualHosts>();
  private listenSpecs: ListenSpec[] = [];
  private readonly conns = new Set<ClientConnection>();
  /** The configuration a reload replaced this one with; its connections move there at their next request. */
  next: ProxyServer | null = null;
  /** Configurations this one replaced that still serve connections (requests in flight, or idle ones). */
  private readonly retiredOnes = new Set<ProxyServer>();
  private retired = false;
  private releasing: Promise<void> | null = null;
  private drained: (() => void) | null = null;
  private readonly remote: RemoteHandlers | null;
  /** Whether this configuration opened its error log (not kept from the previous one, nor given by the caller). */
  private readonly ownsErrorLog: boolean;
  private readonly random: (() => number) | undefined;
  readonly now: () => number;
  /** Implicit upstreams of addresses picked at run time, least recently used first (see upstreamFor). */
  private readonly runtimeUpstreams: RuntimeUpstreams;
  /** Registry sync of the upstreams with `upsync` (none when the config has none). */
  registry: RegistryRunner | null = null;
  /** Active health checks of the upstreams with `check`. */
  readonly checker: HealthChecker;
  /** The `api` location handler's state. */
  private readonly adminApi: AdminApi;

  private constructor(
    readonly config: Config,
    opts: ProxyOptions,
    previous: ProxyServer | null,
  ) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random;
    this.remote = opts.remote ?? null;
    this.listeners = new ListenerSet(this, opts.reusePort ?? false);
    this.runtimeUpstreams = new RuntimeUpstreams(this.now, this.random);
    // A reload keeps the error log when its lines did not change, and always the health checker (its state is
    // keyed by upstream object; kept upstreams keep their verdicts).
    const sameLog =
      previous !== null &&
      JSON.stringify(previous.config.main.errorLog) === JSON.stringify(config.main.errorLog);
    this.errorLog = opts.errorLog ?? (sameLog ? previous.errorLog : new ErrorLog(config.main.errorLog));
    this.ownsErrorLog = !opts.errorLog && !sameLog;
    this.accessLogs = new AccessLogs({ onError: (level, message) => this.errorLog.log(level, message) });
    this.checker =
      previous?.checker ??
      new HealthChecker({
        log: (level, message) => this.errorLog.log(level, message),
        now: this.now,
        probe: opts.probe ?? startProbe,
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

  /**
   * Builds the proxy for a loaded configuration: resolves upstream host names and listen names, and opens the logs.
   * On reload, `previous` is the running configuration: upstreams whose definition did not change (their
   * registry-managed servers aside) are kept with their servers, health and registry state. Nothing of `previous`
   * changes until commit(), so a failure here leaves it running as it was.
   */
  static async create(
    loaded: LoadResult,
    opts: ProxyOptions = {},
    previous: ProxyServer | null = null,
  ): Promise<ProxyServer> {
    const p = new ProxyServer(loaded.config, opts, previous);
    try {
      await p.build(previous);
    } catch (err) {
      await p.abandon(previous);
      throw err;
    }
    return p;
  }

  private async build(previous: ProxyServer | null): Promise<void> {
    const http = this.config.http;
    if (!http) return;
    const now = this.now();
    for (const u of http.upstreams) {
      const kept = previous?.keptUpstream(u);
      if (kept) {
        this.upstreams.set(u.name, kept);
        continue;
      }
      // A cluster worker gets the servers from the primary before it serves: no dump to read here.
      const specs = this.remote ? u.servers : await startServers(u);
      this.upstreams.set(u.name, new Upstream(u, await resolveServers(specs), now, this.random));
    }
    // Registry sync is the primary's (a worker would only read token files it never uses).
    if (!this.remote)
      this.registry = await RegistryRunner.create(
        http.upstreams,
        this.upstreams,
        {
          log: (level, message) => this.errorLog.log(level, message),
          now: this.now,
          checker: this.checker,
          ...(this.random ? { random: this.random } : {}),
        },
        previous?.registry ?? null,
      );
    const literal = new Map<string, { host: string; port: number }>();
    for (const s of http.servers) {
      this.matchers.set(s, compileLocations(s));
      this.prepareLogs(s.settings, http.logFormats);
      forEachLocation(s.locations, (l) => {
        this.prepareLogs(l.settings, http.logFormats);
        const pp = l.proxyPass;
        if (pp && !pp.variables && !pp.upstream) {
          literal.set(`${pp.host}:${pp.port ?? 80}`, { host: pp.host, port: pp.port ?? 80 });
        }
      });
    }
    // proxy_pass to an address or host name: an implicit upstream of all its addresses, as nginx makes.
    for (const [key, t] of literal) {
      if (this.upstreams.has(key)) continue;
      const kept = previous?.implicit(key) ?? null;
      this.upstreams.set(
        key,
        kept ??
          implicitUpstream(
            key,
            await resolveServers([implicitServer(t.host, t.port)]),
            this.now(),
            this.random,
          ),
      );
    }
    const servers = await resolveListenNames(http.servers);
    this.tables = buildVirtualHosts(servers);
    this.listenSpecs = listenersOf(servers);
    await this.accessLogs.open();
  }

  /**
   * A whole reload: builds `loaded` next to `previous`, binds its new listeners, lets `prepare` set it up (a cluster
   * worker applies the primary's upstream state there) and commits the hand-over; on failure closes what it opened
   * and throws, `previous` running on untouched.
   */
  static async reload(
    previous: ProxyServer,
    loaded: LoadResult,
    opts: ProxyOptions = {},
    prepare: (next: ProxyServer) => void = () => undefined,
  ): Promise<ProxyServer> {
    const next = await ProxyServer.create(loaded, opts, previous);
    try {
      await next.listen(previous);
    } catch (err) {
      await next.abandon(previous);
      throw err;
    }
    prepare(next);
    await next.commit(previous);
    return next;
  }

  /** The running upstream a reload may keep for `conf`: same name, same definition (registry servers aside). */
  private keptUpstream(conf: UpstreamConf): Upstream | null {
    const old = this.upstreams.get(conf.name);
    if (!old || !this.config.http?.upstreams.some((c) => c.name === conf.name)) return null;
    return sameUpstream(old.conf, conf) ? old : null;
  }

  /** The implicit upstream of a literal `proxy_pass` address, which a reload keeps (with its pools). */
  private implicit(key: string): Upstream | null {
    if (this.config.http?.upstreams.some((c) => c.name === key)) return null;
    return this.upstreams.get(key) ?? null;
  }

  /** Undoes a reload that failed (create() or listen()): closes what it opened, and no kept part of `previous`. */
  private async abandon(previous: ProxyServer | null): Promise<void> {
    this.listeners.closeAll();
    const kept = new Set(previous?.upstreams.values() ?? []);
    for (const u of this.upstreams.values()) if (!kept.has(u)) u.close();
    await this.accessLogs.close();
    if (this.ownsErrorLog) await this.errorLog.close();
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
  handle(handler: LocationHandlerConf, req: ShowRequest): ShowResponse | Promise<ShowResponse> {
    if (this.remote) return this.remote.show(handler, req);
    return this.show(handler, req);
  }

  /** Renders a status handler from this process's state (the primary's, in a cluster). */
  show(handler: LocationHandlerConf, req: ShowRequest): ShowResponse {
    return renderStatusPage(this, handler, req);
  }

  /** Answers the admin API (`api [write=on]`). */
  api(write: boolean, req: ApiRequest): Promise<ShowResponse> {
    if (this.remote) return this.remote.api(write, req);
    return this.adminApi.handle(write, req);
  }

  /** The implicit upstream of an address picked at run time (`proxy_pass http://$host`), or null. */
  upstreamFor(authority: string): Upstream | null {
    return this.runtimeUpstreams.get(authority);
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

  /**
   * Binds every listen address; fails with nginx's bind() message, leaving nothing bound. On reload, `previous`
   * keeps the listeners both configurations have, and commit() hands them on (no socket is closed and reopened,
   * so no connection attempt is refused).
   */
  async listen(previous: ProxyServer | null = null): Promise<void> {
    await this.listeners.bind(this.listenSpecs, previous?.listeners ?? null);
  }

  /** A new client connection on one of this configuration's listeners. */
  accept(socket: Socket): void {
    const hosts = hostsFor(this.tables, socket.localAddress ?? "", socket.localPort ?? 0);
    if (!hosts) {
      socket.destroy();
      return;
    }
    this.conns.add(new ClientConnection(socket, this, hosts));
  }

  hostsAt(addr: string, port: number): VirtualHosts | null {
    return hostsFor(this.tables, addr, port);
  }

  attach(conn: ClientConnection): void {
    this.conns.add(conn);
  }

  detach(conn: ClientConnection): void {
    this.conns.delete(conn);
    if (this.conns.size > 0) return;
    this.drained?.();
    if (this.retired) void this.release();
  }

  /**
   * Makes this configuration the running one after a reload (create() and listen() succeeded): new upstreams are
   * synced and checked, replaced ones no more, listeners `previous` no longer has stop accepting, and its
   * connections move here at their next request (idle ones at once). Workers of a cluster only serve: their
   * primary syncs and checks.
   */
  async commit(previous: ProxyServer): Promise<void> {
    if (!this.remote) {
      const now = new Set(this.upstreams.values());
      for (const u of previous.upstreams.values()) if (!now.has(u)) this.checker.remove(u);
      const added = [...this.upstreams.values()].filter((u) => u.conf.check && !this.checker.checks(u));
      for (const u of added) this.checker.add(u);
      this.checker.reloaded();
      // As at start-up: new servers of a new or changed upstream get their first probe before they take traffic
      // (bounded by the check timeout), so `default_down` does not answer 502 after a reload.
      await Promise.all(
        added.map((u) =>
          this.checker.firstResults(
            u,
            u.group.all().map((p) => p.id),
          ),
        ),
      );
      await this.registry?.adopt(previous.registry);
    }
    this.listeners.takeFrom(previous.listeners, this.listenSpecs);
    for (const old of previous.retiredOnes) this.retiredOnes.add(old);
    previous.retiredOnes.clear();
    this.retiredOnes.add(previous);
    previous.next = this;
    previous.retired = true;
    previous.listeners.closeAll();
    for (const c of [...previous.conns]) c.reloaded();
    if (previous.conns.size === 0) void previous.release();
  }

  /** The configuration running now: this one, or the last that replaced it. */
  private newest(): ProxyServer {
    let g = this.next ?? this;
    while (g.next !== null) g = g.next;
    return g;
  }

  /** Frees what a retired configuration held that the running one does not (once its last connection closed). */
  private release(): Promise<void> {
    this.releasing ??= (async () => {
      const g = this.newest();
      g.retiredOnes.delete(this);
      const kept = new Set(g.upstreams.values());
      for (const u of this.upstreams.values()) if (!kept.has(u)) u.close();
      this.runtimeUpstreams.close();
      await this.accessLogs.close();
      if (this.ownsErrorLog && g.errorLog !== this.errorLog) await this.errorLog.close();
    })();
    return this.releasing;
  }

  /** Bound addresses (host, port), in listen order. */
  addresses(): { host: string; port: number }[] {
    return this.listeners.addresses(this.listenSpecs);
  }

  /** Every log file this configuration writes. */
  logPaths(): string[] {
    return [...new Set([...this.accessLogs.paths(), ...this.errorLog.paths()])];
  }

  /** Reopens every log file (SIGUSR1). */
  async reopenLogs(): Promise<void> {
    await this.accessLogs.reopen();
    await this.errorLog.reopen();
  }

  /**
   * Stops listening, closes the connections — at once, or (graceful) once their requests in flight are answered,
   * then any left after `timeoutMs` — of this configuration and of those it replaced, stops syncing and probing,
   * closes every pool and flushes the logs.
   */
  close(mode: CloseMode = { graceful: false }): Promise<void> {
    // A fast stop during a graceful one (SIGTERM after SIGQUIT, as nginx) ends the wait for requests in flight.
    if (this.closing) {
      if (!mode.graceful) this.hurry?.();
      return this.closing;
    }
    this.closing = this.shut(mode);
    return this.closing;
  }

  private closing: Promise<void> | null = null;
  private hurry: (() => void) | null = null;

  private async shut(mode: CloseMode): Promise<void> {
    this.listeners.closeAll();
    const all = [this, ...this.retiredOnes];
    const open = (): ClientConnection[] => all.flatMap((g) => [...g.conns]);
    if (mode.graceful) {
      for (const c of open()) c.drain();
      const waits = all.map(
        (g) => new Promise<void>((resolve) => (g.conns.size === 0 ? resolve() : (g.drained = resolve))),
      );
      let timer: NodeJS.Timeout | null = null;
      const limit =
        mode.timeoutMs === null
          ? null
          : new Promise<void>((resolve) => (timer = setTimeout(resolve, mode.timeoutMs!)));
      const hurried = new Promise<void>((resolve) => (this.hurry = resolve));
      await Promise.race([Promise.all(waits), hurried, ...(limit ? [limit] : [])]);
      if (timer) clearTimeout(timer);
    }
    for (const c of open()) c.shutdown();
    await Promise.all([...this.retiredOnes].map((g) => g.release()));
    await this.registry?.stop();
    this.checker.stop();
    for (const u of this.upstreams.values()) u.close();
    this.runtimeUpstreams.close();
    await this.accessLogs.close();
    await this.errorLog.close();
  }
}
