/**
 * One client connection: reads request heads with the strict parser, serves requests one at a time in order
 * (pipelined requests wait their turn), keeps the connection alive as nginx does (`keepalive_timeout`,
 * `keepalive_requests`) and answers malformed input with nginx's statuses before closing.
 */
import type { Socket } from "node:net";
import type { ServerConf } from "../config/types.js";
import type { VirtualHosts } from "../router/servers.js";
import { parseRequestHead, type HeadLimits } from "../http1/request-head.js";
import type { HeadProgress } from "../http1/common.js";
import { parseTarget, normalizePath } from "../router/uri.js";
import { redirectLocation } from "../router/locations.js";
import { type ConnInfo, RequestContext } from "./context.js";
import { errorPage, httpDate, REASONS, responseHead, serverHeader } from "./respond.js";
import { ProxyRequest, type ClientSide } from "./request.js";
import { reportHeaderTimeout } from "./header-timeout.js";
import type { Services } from "./services.js";

let connections = 0;

/** A client connection. */
export class ClientConnection implements ClientSide {
  readonly info: ConnInfo;
  private buf: Buffer | null = null;
  private current: ProxyRequest | null = null;
  private tunnel: ((chunk: Buffer) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private paused = false;
  private defaultServer: ServerConf;
  /** Set when a reload removed this connection's address: its next request is its last (Connection: close). */
  private lastOnOld = false;
  /** Lets the parser skip lines it already checked while a long head arrives in pieces. */
  private readonly progress: HeadProgress = { checked: 0 };

  constructor(
    readonly socket: Socket,
    private svc: Services,
    private hosts: VirtualHosts,
  ) {
    this.info = {
      id: ++connections,
      requests: 0,
      remoteAddr: stripMapped(socket.remoteAddress ?? ""),
      remotePort: socket.remotePort ?? 0,
      localAddr: stripMapped(socket.localAddress ?? ""),
      localPort: socket.localPort ?? 0,
    };
    this.defaultServer = hosts.defaultServer;
    const s = this.defaultServer.settings;
    if (s.tcpNodelay) socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.onClose());
    this.arm(s.clientHeaderTimeout, "header");
  }

  /** Fast shutdown (SIGTERM, as nginx's): closes the connection now, aborting a request in flight. */
  shutdown(): void {
    this.closing = true;
    this.socket.destroy();
  }

  /**
   * Graceful shutdown (SIGQUIT, as nginx's): an idle connection is closed now, one with a request in flight once
   * that request is answered.
   */
  drain(): void {
    this.closing = true;
    if (this.current === null && this.tunnel === null) this.socket.end();
    // As nginx while exiting: an answer not started yet says "Connection: close", so the client does not send
    // on a connection about to close.
    else if (this.current && !this.current.responded) this.current.ctx.head.keepAlive = false;
  }

  /** A reload replaced this connection's configuration: an idle connection moves to the new one now. */
  reloaded(): void {
    if (this.current === null && this.tunnel === null && !this.closing) this.follow();
  }

  /**
   * Moves to the newest configuration that still listens on this connection's address; requests in flight finished
   * on the old one. When none listens there any more, the connection stays and its next request is its last.
   */
  private follow(): void {
    let g = this.svc;
    while (g.next !== null) g = g.next;
    const hosts = g.hostsAt(this.socket.localAddress ?? "", this.socket.localPort ?? 0);
    if (!hosts) {
      this.lastOnOld = true;
      return;
    }
    this.svc.detach(this);
    g.attach(this);
    this.svc = g;
    this.hosts = hosts;
    this.defaultServer = hosts.defaultServer;
  }

  stash(rest: Buffer): void {
    this.buf = this.buf ? Buffer.concat([this.buf, rest]) : rest;
  }

  /** Bytes stashed after a request (for a tunnel that takes over the connection). */
  takeStash(): Buffer | null {
    const b = this.buf;
    this.buf = null;
    return b;
  }

  /** From now on every byte from the client goes to `sink` (WebSocket and other upgrades). */
  setTunnel(sink: (chunk: Buffer) => void): void {
    this.tunnel = sink;
    this.clearTimer();
    const rest = this.takeStash();
    if (rest) sink(rest);
    this.resumeReading();
  }

  pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resumeReading(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  requestDone(ctx: RequestContext, keepAlive: boolean): void {
    this.current = null;
    this.svc.logAccess(ctx);
    const s = ctx.settings ?? this.defaultServer.settings;
    const more =
      keepAlive && !this.closing && s.keepaliveTimeout > 0 && this.info.requests < s.keepaliveRequests;
    if (!more) {
      this.socket.end();
      this.closing = true;
      return;
    }
    this.resumeReading();
    if (this.buf && this.buf.length) {
      const b = this.buf;
      this.buf = null;
      this.parse(b, true);
    } else this.arm(s.keepaliveTimeout, "keepalive");
  }

  private onData(chunk: Buffer): void {
    try {
      this.handleData(chunk);
    } catch (err) {
      this.fault(err);
    }
  }

  /** A bug must cost one connection, never the process: log it in nginx's [alert] and drop the connection. */
  fault(err: unknown): void {
    this.svc.errorLog.log("alert", `internal error: ${(err as Error)?.stack ?? String(err)}`, this.info.id);
    this.socket.destroy();
  }

  private handleData(chunk: Buffer): void {
    if (this.tunnel) {
      this.tunnel(chunk);
      return;
    }
    if (this.current) {
      this.current.onData(chunk);
      return;
    }
    if (this.closing) return;
    const buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = null;
    this.parse(buf, false);
  }

  private parse(buf: Buffer, pipelined: boolean): void {
    if (this.svc.next !== null && !this.lastOnOld) this.follow();
    const settings = this.defaultServer.settings;
    const lim = settings.largeClientHeaderBuffers;
    const limits: HeadLimits = {
      maxRequestLine: lim.size,
      maxHeaderLine: lim.size,
      maxHead: lim.number * lim.size,
    };
    const r = parseRequestHead(buf, 0, buf.length, limits, this.progress);
    if (r.kind === "incomplete") {
      this.buf = buf;
      if (this.timerKind !== "header") this.arm(settings.clientHeaderTimeout, "header");
      return;
    }
    this.clearTimer();
    if (r.kind === "error") {
      this.badRequest(r.status, r.reason, r.log);
      return;
    }
    const head = r.head;
    this.info.requests++;
    const ctx = new RequestContext(this.info, head, this.svc.now());
    ctx.pipelined = pipelined;
    ctx.requestLength = head.headBytes;
    const sel = this.hosts.select(head.host);
    ctx.server = sel.server;
    ctx.captures = sel.captures;
    ctx.named = sel.named;
    const target = parseTarget(head.target);
    const path = target ? normalizePath(target.path) : null;
    const req = new ProxyRequest(this, this.svc, ctx);
    this.current = req;
    const rest = buf.length > head.headBytes ? buf.subarray(head.headBytes) : null;
    if (!target || path === null) {
      ctx.settings = sel.server.settings;
      req.settings = sel.server.settings;
      this.svc.logRequestError("info", ctx, "client sent invalid request");
      if (rest) req.onData(rest);
      req.respondError(400, false);
      return;
    }
    ctx.rawPath = target.path;
    ctx.args = target.args;
    ctx.requestUri = target.requestUri;
    ctx.path = path;
    const m = this.svc.locations(sel.server).match(path);
    ctx.location = m.location;
    if (m.captures.length) ctx.captures = m.captures;
    if (Object.keys(m.named).length) ctx.named = { ...ctx.named, ...m.named };
    ctx.settings = m.location?.settings ?? sel.server.settings;
    // ngx_http_update_location_config: the last request keepalive_requests allows (or keepalive_timeout 0)
    // is answered with "Connection: close" already, not closed after a "keep-alive" answer.
    const ka = ctx.settings;
    if (ka.keepaliveTimeout === 0 || this.info.requests >= ka.keepaliveRequests || this.lastOnOld)
      head.keepAlive = false;
    if (m.redirect && m.location) {
      // nginx's auto redirect: "/dir" for a proxied "location /dir/" answers 301 to "/dir/".
      req.redirectTo(redirectLocation(m.location, ctx.args), rest);
      return;
    }
    req.begin(rest);
  }

  /** Answers a request that could not be parsed, with nginx's status, then closes. */
  private badRequest(status: number, reason: string, log: string): void {
    this.svc.errorLog.log(
      "info",
      `${log} while reading client request headers, client: ${this.info.remoteAddr}`,
      this.info.id,
    );
    const tokens = this.defaultServer.settings.serverTokens;
    const title = status === 400 && reason !== REASONS[400] ? reason : undefined;
    const body = errorPage(status, tokens, title);
    const head = responseHead(status, [
      "Server",
      serverHeader(tokens),
      "Date",
      httpDate(),
      "Content-Type",
      "text/html",
      "Content-Length",
      String(body.length),
      "Connection",
      "close",
    ]);
    this.closing = true;
    this.socket.end(head + body, "latin1");
  }

  private timerKind: "header" | "keepalive" | null = null;

  private arm(ms: number, kind: "header" | "keepalive"): void {
    this.timerKind = kind;
    this.timerMs = ms;
    // One timer per connection, refreshed per request: a new timer per request costs more than it should.
    if (this.timer && this.timerArmedMs === ms) {
      this.timer.refresh();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timerArmedMs = ms;
    this.timer = setTimeout(() => this.onTimer(), ms);
  }

  private timerMs = 0;
  private timerArmedMs = -1;

  private onTimer(): void {
    const kind = this.timerKind;
    // A timer disarmed while a request was served fires once for nothing.
    if (kind === null) return;
    this.timerKind = null;
    // nginx closes silently on keep-alive timeout and answers nothing (408 is only logged) for a slow head.
    if (kind === "header") {
      reportHeaderTimeout(this.svc, this.info, this.defaultServer, this.buf, this.svc.now() - this.timerMs);
    }
    this.closing = true;
    this.socket.destroy();
  }

  /** Disarms the timer without touching the timer list (see arm()). */
  private clearTimer(): void {
    this.timerKind = null;
  }

  private onClose(): void {
    this.clearTimer();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.current?.onClientGone();
    this.current = null;
    this.svc.detach(this);
  }
}

/** Node reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d; nginx logs them as a.b.c.d. */
function stripMapped(addr: string): string {
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}
