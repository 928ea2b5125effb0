/**
 * Proxying one request: pick a server, send the request over a pooled connection, read the response head,
 * and either stream the response to the client or move on to the next server as `proxy_next_upstream`
 * allows (never once a byte of the response reached the client). Errors get nginx's statuses and log lines.
 */
import type { LocationConf, ProxyPassConf } from "../config/types.js";
import { ChunkedDecoder } from "../http1/chunked.js";
import { parseResponseHead, responseBodyFraming, type ResponseHead } from "../http1/response-head.js";
import { upstreamUri } from "../router/proxy-uri.js";
import type { Peer } from "../upstream/peer.js";
import type { Upstream } from "../upstream/upstream.js";
import { compileTemplate } from "../lib/template.js";
import { errnoText, type LogLevel } from "../lib/errors.js";
import { clientHead, type ClientFraming } from "./client-head.js";
import { type Attempt, type RequestContext, variable } from "./context.js";
import { setConnTimeout, type UpstreamSocket, type PeerPool } from "./pool.js";
import type { ProxyRequest } from "./request.js";
import { upstreamHead } from "./upstream-head.js";

const MAX_RESPONSE_HEAD = 64 * 1024;
const NON_IDEMPOTENT = new Set(["POST", "LOCK", "PATCH"]);
const CRLF = Buffer.from("\r\n");
const LAST_CHUNK = Buffer.from("0\r\n\r\n");

type Failure = "error" | "timeout" | "invalid_header";

const urlTemplates = new Map<string, (ctx: RequestContext) => string>();
function expand(ctx: RequestContext, text: string): string {
  let t = urlTemplates.get(text);
  if (!t) {
    t = compileTemplate<RequestContext>(text, (c, n) => variable(c, n));
    urlTemplates.set(text, t);
  }
  return t(ctx);
}

/** One exchange with one server. */
interface Current {
  peer: Peer;
  pool: PeerPool;
  conn: UpstreamSocket | null;
  attempt: Attempt;
  headBuf: Buffer | null;
  head: ResponseHead | null;
  framing: ClientFraming;
  upFraming: "none" | "length" | "chunked" | "close";
  left: number;
  decoder: ChunkedDecoder | null;
  sent: boolean;
  clean: boolean;
  staleRetried: boolean;
}

/** The proxy_pass handling of one request. */
export class Proxying {
  private upstream: Upstream | null = null;
  private readonly tried = new Set<Peer>();
  private cur: Current | null = null;
  private uri = "/";
  private readonly startMs: number;
  private lastFailure: Failure = "error";
  private done = false;
  private tunneled = false;
  /** Some server was sent this request (then non-idempotent methods are not retried). */
  private sentOnce = false;

  constructor(
    private readonly req: ProxyRequest,
    private readonly location: LocationConf,
    private readonly pp: ProxyPassConf,
  ) {
    this.startMs = req.svc.now();
  }

  /** Resolves the target and sends the first try. */
  start(): void {
    const { req, pp } = this;
    const ctx = req.ctx;
    const preq = { uri: ctx.path, args: ctx.args, requestUri: ctx.requestUri, rawPath: ctx.rawPath };
    let name: string;
    if (pp.variables) {
      const url = expand(ctx, pp.url);
      const authority = url.startsWith("http://") ? url.slice(7).split("/")[0]! : "";
      name = authority;
      this.upstream = req.svc.upstreams.get(authority.toLowerCase()) ?? req.svc.upstreamFor(authority);
      if (!this.upstream) {
        req.svc.logRequestError("error", ctx, `no resolver defined to resolve ${authority}`);
        req.respondError(502);
        return;
      }
      const uri = upstreamUri(pp, this.location, preq, (tpl) => expand(ctx, tpl));
      if (uri === null) {
        req.svc.logRequestError("error", ctx, `invalid URL prefix in "${url}"`);
        req.respondError(500);
        return;
      }
      this.uri = uri;
    } else {
      name = pp.upstream ?? (pp.port === null ? pp.host : `${pp.host}:${pp.port}`);
      this.upstream = req.svc.upstreams.get(pp.upstream ?? `${pp.host}:${pp.port ?? 80}`) ?? null;
      if (!this.upstream) {
        req.svc.logRequestError("error", ctx, `no upstream for "${pp.url}"`);
        req.respondError(502);
        return;
      }
      this.uri = upstreamUri(pp, this.location, preq);
    }
    ctx.proxyHost = name;
    ctx.proxyPort = String(pp.port ?? 80);
    if (ctx.head.expectContinue && !req.body.done && ctx.head.versionMinor === 1) {
      req.client.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    }
    this.next();
  }

  /** The client's body is complete: from now on the server has `proxy_read_timeout` to answer. */
  bodyComplete(): void {
    const conn = this.cur?.conn;
    if (conn && this.cur?.sent && !this.tunneled) setConnTimeout(conn, this.req.settings.proxyReadTimeout);
  }

  /** The client went away: drop the upstream connection. */
  abort(): void {
    this.done = true;
    const c = this.cur;
    if (!c) return;
    this.cur = null;
    c.conn?.socket.destroy();
    c.peer.release();
  }

  private next(): void {
    const { req } = this;
    const up = this.upstream!;
    const ctx = req.ctx;
    const now = req.svc.now();
    const peer = up.pick({
      clientAddr: ctx.conn.remoteAddr,
      hashKey: this.hashKey(),
      tried: this.tried,
      now,
    });
    if (!peer) {
      if (ctx.attempts.length === 0 || this.tried.size === 0) {
        req.svc.logRequestError(
          "error",
          ctx,
          "no live upstreams while connecting to upstream",
          this.upstreamUrl(null),
        );
      }
      req.respondError(this.lastFailure === "timeout" ? 504 : 502);
      return;
    }
    this.tried.add(peer);
    peer.acquire();
    const attempt: Attempt = {
      addr: peer.id,
      status: null,
      startMs: now,
      connectMs: null,
      headerMs: null,
      endMs: null,
      bytesReceived: 0,
      bytesSent: 0,
      headers: null,
    };
    ctx.attempts.push(attempt);
    const pool = up.pool(peer, req.settings.tcpNodelay);
    this.cur = {
      peer,
      pool,
      conn: null,
      attempt,
      headBuf: null,
      head: null,
      framing: "none",
      upFraming: "none",
      left: 0,
      decoder: null,
      sent: false,
      clean: false,
      staleRetried: false,
    };
    this.connect(this.cur);
  }

  private connect(c: Current): void {
    const idle = c.pool.take();
    if (idle) {
      this.use(c, idle);
      return;
    }
    c.pool.open(this.req.settings.proxyConnectTimeout, (err, conn) =>
      this.safely(() => this.connected(c, err, conn)),
    );
  }

  private connected(c: Current, err: NodeJS.ErrnoException | null, conn: UpstreamSocket | null): void {
    if (this.cur !== c || this.done) {
      conn?.socket.destroy();
      return;
    }
    if (err || !conn) {
      const timeout = err?.code === "ETIMEDOUT";
      this.fail(
        c,
        timeout ? "timeout" : "error",
        timeout
          ? "upstream timed out (110: Connection timed out) while connecting to upstream"
          : `connect() failed ${errnoText(err)} while connecting to upstream`,
      );
      return;
    }
    this.use(c, conn);
  }

  private use(c: Current, conn: UpstreamSocket): void {
    const { req } = this;
    const ctx = req.ctx;
    c.conn = conn;
    c.attempt.connectMs = req.svc.now();
    conn.requests++;
    const s = conn.socket;
    // try/catch inline rather than through safely(): no closure per socket event on the hot path.
    conn.handler = {
      onData: (chunk) => {
        try {
          this.onData(c, chunk);
        } catch (err) {
          this.crash(err);
        }
      },
      onEnd: () => this.safely(() => this.onEnd(c)),
      onError: (err) => this.safely(() => this.onError(c, err)),
      onTimeout: () => this.safely(() => this.onTimeout(c)),
    };
    const body = req.body;
    const framing = body.framing;
    const head = Buffer.from(
      upstreamHead(ctx, req.settings, this.uri, framing, ctx.head.expectContinue),
      "latin1",
    );
    const chunks = body.replay ?? req.pending;
    req.pending = [];
    const out = chunks.length ? Buffer.concat([head, ...chunks]) : head;
    c.attempt.bytesSent += out.length;
    c.sent = true;
    this.sentOnce = true;
    setConnTimeout(conn, body.done ? req.settings.proxyReadTimeout : req.settings.proxySendTimeout);
    s.write(out);
    if (!body.done) {
      req.bodySink = (chunk) => {
        c.attempt.bytesSent += chunk.length;
        if (!s.write(chunk)) {
          req.client.pauseReading();
          s.once("drain", () => req.client.resumeReading());
        }
      };
      req.client.resumeReading();
    }
  }

  /** Runs an event handler; a bug costs this request and its connections, never the process. */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.crash(err);
    }
  }

  /** A handler threw: end this request and its connections, keep the process. */
  private crash(err: unknown): void {
    this.done = true;
    const c = this.cur;
    this.cur = null;
    c?.conn?.socket.destroy();
    c?.peer.release();
    this.req.client.fault(err);
  }

  private detach(c: Current): void {
    const conn = c.conn;
    if (!conn) return;
    conn.handler = null;
  }

  private onData(c: Current, chunk: Buffer): void {
    if (this.cur !== c) return;
    c.attempt.bytesReceived += chunk.length;
    if (!c.head) {
      const buf = c.headBuf ? Buffer.concat([c.headBuf, chunk]) : chunk;
      let start = 0;
      for (;;) {
        const r = parseResponseHead(buf, start, buf.length, MAX_RESPONSE_HEAD);
        if (r.kind === "incomplete") {
          c.headBuf = start === 0 ? buf : buf.subarray(start);
          return;
        }
        if (r.kind === "error") {
          this.fail(c, "invalid_header", `${r.log} while reading response header from upstream`);
          return;
        }
        // 1xx interim responses other than 101 are not passed on (the client got its own 100 Continue).
        if (r.head.status < 200 && r.head.status !== 101) {
          start += r.head.headBytes;
          continue;
        }
        c.headBuf = null;
        this.onHead(c, r.head, buf.subarray(start + r.head.headBytes));
        return;
      }
    }
    this.toClient(c, chunk);
  }

  private onHead(c: Current, head: ResponseHead, rest: Buffer): void {
    const { req } = this;
    const ctx = req.ctx;
    const now = req.svc.now();
    c.head = head;
    c.attempt.headerMs = now;
    c.attempt.status = head.status;
    c.attempt.headers = head.headers;
    const ft = `http_${head.status}`;
    if (
      (head.status === 500 ||
        head.status === 502 ||
        head.status === 503 ||
        head.status === 504 ||
        head.status === 403 ||
        head.status === 404 ||
        head.status === 429) &&
      this.mayRetry(ft) &&
      this.hasNext()
    ) {
      if (head.status !== 403 && head.status !== 404) c.peer.failed(now);
      this.endAttempt(c, false);
      this.next();
      return;
    }
    c.peer.succeeded(now);
    req.responded = true;
    if (head.status === 101 && ctx.head.upgrade !== null) {
      this.tunnel(c, head, rest);
      return;
    }
    c.upFraming = responseBodyFraming(ctx.head.method, head);
    const client1 = ctx.head.versionMinor === 1;
    // nginx's chunked filter: a body without a length goes chunked to an HTTP/1.1 client, which keeps it alive.
    const unsized = c.upFraming === "chunked" || c.upFraming === "close";
    c.framing = unsized ? (client1 ? "chunked" : "close") : c.upFraming;
    if (c.upFraming === "length") c.left = head.contentLength ?? 0;
    if (c.upFraming === "chunked") c.decoder = new ChunkedDecoder();
    const keepAlive = ctx.head.keepAlive && c.framing !== "close" && req.body.done;
    const out = clientHead(head, c.framing, keepAlive, req.settings, this.location, this.pp, ctx.proxyHost);
    ctx.status = head.status;
    ctx.responseHeaders = out.headers;
    const headBuf = Buffer.from(out.text, "latin1");
    ctx.bytesSent += headBuf.length;
    this.keepAlive = keepAlive;
    if (c.upFraming === "none") {
      req.client.socket.write(headBuf);
      this.complete(c, head.keepAlive && rest.length === 0);
      return;
    }
    this.pendingHead = headBuf;
    if (rest.length) this.toClient(c, rest);
    if (this.pendingHead) {
      req.client.socket.write(this.pendingHead);
      this.pendingHead = null;
    }
  }

  private keepAlive = false;
  private pendingHead: Buffer | null = null;

  /** Writes to the client, the head first (in the same write as the first body bytes). */
  private write(c: Current, data: Buffer): void {
    const { req } = this;
    let out = data;
    if (this.pendingHead) {
      out = Buffer.concat([this.pendingHead, data]);
      this.pendingHead = null;
    }
    req.ctx.bytesSent += data.length;
    req.ctx.bodyBytesSent += data.length;
    const s = c.conn?.socket;
    if (!req.client.socket.write(out) && s) {
      s.pause();
      // send_timeout: the client must take some of what is queued within that time (nginx's write timer).
      const timer = setTimeout(
        () =>
          this.safely(() =>
            this.broken(c, "client timed out (110: Connection timed out) while sending to client", "info"),
          ),
        req.settings.sendTimeout,
      );
      req.client.socket.once("drain", () => {
        clearTimeout(timer);
        s.resume();
      });
    }
  }

  private toClient(c: Current, chunk: Buffer): void {
    switch (c.upFraming) {
      case "length": {
        const take = Math.min(c.left, chunk.length);
        c.left -= take;
        if (take > 0) this.write(c, take === chunk.length ? chunk : chunk.subarray(0, take));
        if (c.left === 0) this.complete(c, c.head!.keepAlive && take === chunk.length);
        return;
      }
      case "chunked": {
        const dec = c.decoder!;
        if (c.framing === "chunked") {
          const r = dec.feed(chunk, 0, chunk.length);
          if ("error" in r) {
            this.broken(c, `upstream sent invalid chunked response while reading upstream`);
            return;
          }
          if (r.consumed > 0)
            this.write(c, r.consumed === chunk.length ? chunk : chunk.subarray(0, r.consumed));
          if (r.done) this.complete(c, c.head!.keepAlive && r.consumed === chunk.length);
          return;
        }
        const r = dec.feed(chunk, 0, chunk.length, (b, s, e) => this.write(c, b.subarray(s, e)));
        if ("error" in r) this.broken(c, `upstream sent invalid chunked response while reading upstream`);
        else if (r.done) this.complete(c, false);
        return;
      }
      case "close":
        if (c.framing !== "chunked") this.write(c, chunk);
        else if (chunk.length > 0)
          this.write(c, Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, CRLF]));
        return;
      default:
        return;
    }
  }

  private onEnd(c: Current): void {
    if (this.cur !== c) return;
    if (c.head && c.upFraming === "close") {
      if (c.framing === "chunked") this.write(c, LAST_CHUNK);
      else if (this.pendingHead) this.write(c, Buffer.alloc(0));
      this.complete(c, false);
      return;
    }
    if (c.head) {
      this.broken(c, "upstream prematurely closed connection while reading upstream");
      return;
    }
    if (this.staleRetry(c)) return;
    this.fail(
      c,
      "error",
      "upstream prematurely closed connection while reading response header from upstream",
    );
  }

  private onError(c: Current, err: NodeJS.ErrnoException): void {
    if (this.cur !== c) return;
    if (c.head) {
      this.broken(c, `recv() failed ${errnoText(err)} while reading upstream`);
      return;
    }
    if (this.staleRetry(c)) return;
    const op = err.code === "EPIPE" ? "writev()" : "recv()";
    this.fail(c, "error", `${op} failed ${errnoText(err)} while reading response header from upstream`);
  }

  private onTimeout(c: Current): void {
    if (this.cur !== c) return;
    if (c.head) {
      this.broken(c, "upstream timed out (110: Connection timed out) while reading upstream");
      return;
    }
    const what = this.req.body.done ? "reading response header from upstream" : "sending request to upstream";
    this.fail(c, "timeout", `upstream timed out (110: Connection timed out) while ${what}`);
  }

  /** A reused keep-alive connection the server had already closed: send again on a new one, once. */
  private staleRetry(c: Current): boolean {
    if (!c.conn?.reused || c.staleRetried || c.attempt.bytesReceived > 0) return false;
    if (!this.replayable()) return false;
    this.detach(c);
    c.conn.socket.destroy();
    c.conn = null;
    c.staleRetried = true;
    c.attempt.bytesSent = 0;
    c.pool.open(this.req.settings.proxyConnectTimeout, (err, conn) =>
      this.safely(() => this.connected(c, err, conn)),
    );
    return true;
  }

  /** A failure before the response head: count it, log it, and try the next server if allowed. */
  private fail(c: Current, ft: Failure, message: string): void {
    const { req } = this;
    const now = req.svc.now();
    this.lastFailure = ft;
    // nginx's ngx_http_upstream_next: the try is logged in $upstream_status as 504 for a timeout, else 502.
    c.attempt.status = ft === "timeout" ? 504 : 502;
    req.svc.logRequestError("error", req.ctx, message, this.upstreamUrl(c.peer));
    c.peer.failed(now);
    this.endAttempt(c, false);
    if (this.mayRetry(ft) && this.hasNext()) {
      this.next();
      return;
    }
    req.respondError(ft === "timeout" ? 504 : 502);
  }

  /** The response broke after its head went out: nothing can be fixed, close the client connection. */
  private broken(c: Current, message: string, level: LogLevel = "error"): void {
    if (this.cur !== c) return;
    const { req } = this;
    req.svc.logRequestError(level, req.ctx, message, this.upstreamUrl(c.peer));
    this.endAttempt(c, false);
    this.cur = null;
    req.client.socket.destroy();
    req.finish(false);
  }

  /** The response is complete. */
  private complete(c: Current, reusable: boolean): void {
    if (this.cur !== c) return;
    const { req } = this;
    if (this.pendingHead) {
      req.client.socket.write(this.pendingHead);
      this.pendingHead = null;
    }
    this.endAttempt(c, reusable && req.body.done);
    this.cur = null;
    this.done = true;
    req.finish(this.keepAlive);
  }

  private endAttempt(c: Current, reusable: boolean): void {
    c.attempt.endMs = this.req.svc.now();
    c.peer.release();
    c.peer.traffic.record(c.attempt.endMs - c.attempt.startMs);
    this.req.bodySink = null;
    if (c.conn) {
      this.detach(c);
      if (reusable) c.pool.release(c.conn);
      else c.conn.socket.destroy();
    }
    if (this.cur === c) this.cur = null;
  }

  private mayRetry(ft: string): boolean {
    const { req } = this;
    const nu = req.settings.proxyNextUpstream;
    if (!nu.includes(ft) || req.responded) return false;
    // nginx: POST, LOCK, PATCH go to the next server only if no server has been sent the request yet.
    if (NON_IDEMPOTENT.has(req.ctx.head.method) && !nu.includes("non_idempotent") && this.sentOnce)
      return false;
    if (!this.replayable()) return false;
    const tries = req.settings.proxyNextUpstreamTries;
    if (tries > 0 && req.ctx.attempts.length >= tries) return false;
    const limit = req.settings.proxyNextUpstreamTimeout;
    if (limit > 0 && req.svc.now() - this.startMs >= limit) return false;
    return true;
  }

  /** Whether a server of the group is still untried (nginx's peer.tries counts every server, backups too). */
  private hasNext(): boolean {
    return !this.done && this.tried.size < this.upstream!.group.all().length;
  }

  private replayable(): boolean {
    const body = this.req.body;
    return body.framing === "none" || body.replay !== null;
  }

  private hashKey(): string {
    const b = this.upstream!.conf.balancer;
    return b.method === "hash" ? expand(this.req.ctx, b.key) : "";
  }

  private upstreamUrl(peer: Peer | null): string {
    return peer ? `http://${peer.id}${this.uri}` : `http://${this.req.ctx.proxyHost}${this.uri}`;
  }

  /** 101 Switching Protocols: pipe both connections until either side closes. */
  private tunnel(c: Current, head: ResponseHead, rest: Buffer): void {
    const { req } = this;
    const ctx = req.ctx;
    this.tunneled = true;
    const out = clientHead(head, "none", false, req.settings, this.location, this.pp, ctx.proxyHost);
    ctx.status = 101;
    ctx.responseHeaders = out.headers;
    const up = c.conn!.socket;
    const down = req.client.socket;
    const headBuf = Buffer.from(out.text, "latin1");
    ctx.bytesSent += headBuf.length;
    down.write(rest.length ? Buffer.concat([headBuf, rest]) : headBuf);
    c.conn!.handler = {
      onData: (d) => {
        ctx.bytesSent += d.length;
        ctx.bodyBytesSent += d.length;
        if (!down.write(d)) {
          up.pause();
          down.once("drain", () => up.resume());
        }
      },
      onEnd: () => this.endTunnel(c),
      onError: () => this.endTunnel(c),
      onTimeout: () => this.endTunnel(c),
    };
    setConnTimeout(c.conn!, req.settings.proxyReadTimeout);
    req.tunnelTo((d) => {
      if (!up.write(d)) {
        req.client.pauseReading();
        up.once("drain", () => req.client.resumeReading());
      }
    });
  }

  private endTunnel(c: Current): void {
    if (this.cur !== c) return;
    this.endAttempt(c, false);
    this.done = true;
    this.req.client.socket.end();
    this.req.finish(false);
  }
}
