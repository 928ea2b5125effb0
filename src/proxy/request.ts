/**
 * One request from head to log line: routing, access control, `return`, and proxying with nginx's retry
 * rules (`proxy_next_upstream`), timeouts and error statuses. The upstream exchange itself is in exchange.ts.
 */
import type { Socket } from "node:net";
import type { HttpSettings, LocationConf, LocationHandlerConf } from "../config/types.js";
import { basicChallenge, parseBasicAuthorization } from "../access/basic-auth.js";
import { authFailureMessage } from "../access/htpasswd.js";
import { compileTemplate } from "../lib/template.js";
import type { RequestContext } from "./context.js";
import { variable } from "./context.js";
import { RequestBody } from "./body.js";
import { errorPage, httpDate, REASONS, responseHead, serverHeader } from "./respond.js";
import type { Services } from "./services.js";
import { Proxying } from "./exchange.js";
import { getHeader } from "./headers.js";
import { ChunkedDecoder } from "../http1/chunked.js";
import type { ShowResponse } from "../status/upstream-show.js";

/** Largest admin API request body: a server's JSON is a few hundred bytes. */
const API_BODY_MAX = 64 * 1024;

/** What a request needs from its client connection. */
export interface ClientSide {
  readonly socket: Socket;
  /** Hands back bytes that follow this request (pipelining). */
  stash(rest: Buffer): void;
  pauseReading(): void;
  resumeReading(): void;
  /** The request is over: log it, then read the next one or close. */
  requestDone(ctx: RequestContext, keepAlive: boolean): void;
  /** Sends every further client byte to `sink` (upgraded connections). */
  setTunnel(sink: (chunk: Buffer) => void): void;
  /** Logs an internal error and drops the connection. */
  fault(err: unknown): void;
}

const returnTemplates = new Map<string, (ctx: RequestContext) => string>();
function expand(ctx: RequestContext, text: string): string {
  let t = returnTemplates.get(text);
  if (!t) {
    t = compileTemplate<RequestContext>(text, (c, n) => variable(c, n));
    returnTemplates.set(text, t);
  }
  return t(ctx);
}

/** A request being served. */
export class ProxyRequest {
  body: RequestBody;
  settings!: HttpSettings;
  /** True once a response head went to the client. */
  responded = false;
  finished = false;
  /** Receives body bytes while an upstream exchange is writing them. */
  bodySink: ((chunk: Buffer) => void) | null = null;
  /** Body bytes received and not yet forwarded. */
  pending: Buffer[] = [];
  /** Called once the whole body has arrived (the admin API waits for it). */
  private bodyDone: (() => void) | null = null;
  private proxying: Proxying | null = null;
  /** client_body_timeout, re-armed on every read of the body. */
  private bodyTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly client: ClientSide,
    readonly svc: Services,
    readonly ctx: RequestContext,
  ) {
    const h = ctx.head;
    this.body = new RequestBody(
      h.chunked ? "chunked" : h.contentLength ? "length" : "none",
      h.contentLength ?? 0,
      0,
    );
  }

  /** Starts handling, with the bytes that followed the head. */
  begin(rest: Buffer | null): void {
    const ctx = this.ctx;
    const server = ctx.server!;
    this.settings = ctx.location?.settings ?? server.settings;
    const max = this.settings.clientMaxBodySize;
    if (max > 0 && (ctx.head.contentLength ?? 0) > max) {
      this.svc.logRequestError(
        "error",
        ctx,
        `client intended to send too large body: ${ctx.head.contentLength} bytes`,
      );
      this.respondError(413, false);
      return;
    }
    const h = ctx.head;
    this.body = new RequestBody(this.body.framing, h.contentLength ?? 0, max);
    if (rest && rest.length) this.onData(rest);
    if (this.finished) return;
    if (!this.body.done)
      this.bodyTimer = setTimeout(() => this.bodyTimedOut(), this.settings.clientBodyTimeout);

    if (this.svc.access(this.settings, ctx.conn.remoteAddr) === "deny") {
      this.svc.logRequestError("error", ctx, "access forbidden by rule");
      this.respondError(403);
      return;
    }
    if (this.settings.authBasic !== null) {
      this.authenticate(this.settings.authBasic, this.settings.authBasicUserFile);
      return;
    }
    this.afterAccess();
  }

  /** Answers nginx's auto-redirect 301 for this request. */
  redirectTo(location: string, rest: Buffer | null): void {
    this.settings = this.ctx.settings!;
    if (rest && rest.length) this.onData(rest);
    if (!this.finished) this.respondError(301, true, ["Location", location]);
  }

  private authenticate(realmText: string, file: string | null): void {
    const ctx = this.ctx;
    const realm = expand(ctx, realmText);
    const creds = parseBasicAuthorization(getHeader(ctx.head.headers, "authorization") ?? undefined);
    const challenge = (): void => this.respondError(401, true, ["WWW-Authenticate", basicChallenge(realm)]);
    if (!creds) {
      challenge();
      return;
    }
    if (file === null) {
      this.svc.logRequestError("error", ctx, "no user/password file was provided for basic authentication");
      this.respondError(500);
      return;
    }
    const path = file.includes("$") ? expand(ctx, file) : file;
    this.client.pauseReading();
    this.svc.htpasswd.verify(path, creds.user, creds.password).then(
      (r) => {
        if (this.finished) return;
        this.client.resumeReading();
        if ("error" in r) {
          // nginx: a missing file is 403, any other read failure 500; never a way in.
          this.svc.logRequestError(r.level, ctx, r.error);
          this.respondError(r.status);
        } else if (!r.ok) {
          this.svc.logRequestError("error", ctx, authFailureMessage(path, creds.user, r.reason));
          challenge();
        } else {
          ctx.remoteUser = creds.user;
          this.afterAccess();
        }
      },
      (err: unknown) => {
        if (this.finished) return;
        this.svc.logRequestError("crit", ctx, `auth_basic failed: ${String(err)}`);
        this.respondError(500);
      },
    );
  }

  private afterAccess(): void {
    const ctx = this.ctx;
    const loc: LocationConf | null = ctx.location;
    // A server-level return runs before a location is chosen (nginx's server rewrite phase).
    const ret = ctx.server!.return ?? loc?.return ?? null;
    if (ret) {
      this.respondReturn(ret.code, ret.text);
      return;
    }
    if (loc?.handler) {
      this.respondHandler(loc.handler);
      return;
    }
    if (loc?.proxyPass) {
      this.proxying = new Proxying(this, loc, loc.proxyPass);
      this.proxying.start();
      return;
    }
    this.respondError(404);
  }

  /** Client bytes while this request is active: body, then (pipelined) the next request. */
  onData(chunk: Buffer): void {
    if (this.finished) {
      this.client.stash(chunk);
      return;
    }
    const r = this.body.feed(chunk);
    if (r.error) {
      if (r.error === "too-large") {
        this.svc.logRequestError("error", this.ctx, "client intended to send too large chunked body");
      } else this.svc.logRequestError("info", this.ctx, "client sent invalid chunked body");
      this.abortForClient(r.error === "too-large" ? 413 : 400);
      return;
    }
    if (r.body) {
      if (this.bodySink) this.bodySink(r.body);
      else this.pending.push(r.body);
    }
    if (r.rest) {
      // Bytes past the body belong to the next request: stop reading until this one is done.
      this.client.stash(r.rest);
      this.client.pauseReading();
    }
    if (this.body.done) {
      if (this.bodyTimer) clearTimeout(this.bodyTimer);
      this.proxying?.bodyComplete();
      this.bodyDone?.();
    } else this.bodyTimer?.refresh();
  }

  /**
   * client_body_timeout passed without a byte of the body: nginx terminates the request (no answer, 408 in the
   * access log, connection closed). Reading paused for the upstream's sake is not the client's pause.
   */
  private bodyTimedOut(): void {
    if (this.finished || this.body.done) return;
    if (this.client.socket.isPaused()) {
      this.bodyTimer?.refresh();
      return;
    }
    if (!this.responded) this.ctx.status = 408;
    this.proxying?.abort();
    this.finish(false);
    this.client.socket.destroy();
  }

  /** Upgraded connection: client bytes go straight to the upstream from now on. */
  tunnelTo(sink: (chunk: Buffer) => void): void {
    this.client.setTunnel(sink);
  }

  /** The client connection closed or failed before the response was complete. */
  onClientGone(): void {
    if (this.finished) return;
    if (!this.responded) this.ctx.status = 499;
    this.proxying?.abort();
    this.finish(false);
  }

  /** Answers a status page location (`upstream_show`, `upsync_status`, `check_status`) or the admin API. */
  private respondHandler(handler: LocationHandlerConf): void {
    if (handler.kind === "api") {
      this.respondApi(handler.write);
      return;
    }
    // HEAD is answered as GET (same Content-Length); respond() leaves the body out.
    const method = this.ctx.head.method === "HEAD" ? "GET" : this.ctx.head.method;
    const answer = this.svc.handle(handler, { method, args: this.ctx.args });
    if (!(answer instanceof Promise)) {
      this.sendShow(answer);
      return;
    }
    // A cluster worker asks the primary, which holds the one view of every worker's state.
    answer.then(
      (r) => {
        if (!this.finished) this.sendShow(r);
      },
      (err: unknown) => {
        if (this.finished) return;
        this.svc.logRequestError("crit", this.ctx, `${handler.kind} failed: ${String(err)}`);
        this.respondError(500);
      },
    );
  }

  /**
   * Answers the admin API: reads the whole (small) body first, then answers when the API has — a write may wait
   * for its registry — unless the client went away meanwhile.
   */
  private respondApi(write: boolean): void {
    const ctx = this.ctx;
    const tooLarge = (): void => {
      this.svc.logRequestError(
        "error",
        ctx,
        `client intended to send too large body for the API (over ${API_BODY_MAX} bytes)`,
      );
      this.abortForClient(413);
    };
    if ((ctx.head.contentLength ?? 0) > API_BODY_MAX) {
      tooLarge();
      return;
    }
    const parts = this.pending;
    this.pending = [];
    let size = parts.reduce((n, b) => n + b.length, 0);
    const run = (): void => {
      this.bodySink = null;
      this.bodyDone = null;
      // Refused meanwhile (too large): the API must not act on it.
      if (this.finished) return;
      const raw = Buffer.concat(parts);
      this.callApi(write, this.body.framing === "chunked" ? dechunk(raw) : raw);
    };
    if (this.body.done) {
      run();
      return;
    }
    // As nginx when it starts reading a body (curl sends Expect for bodies over 1 KiB).
    if (ctx.head.expectContinue && ctx.head.versionMinor === 1)
      this.client.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    this.bodySink = (chunk) => {
      parts.push(chunk);
      size += chunk.length;
      if (size > API_BODY_MAX) tooLarge();
    };
    this.bodyDone = run;
  }

  private callApi(write: boolean, body: Buffer): void {
    const ctx = this.ctx;
    const method = ctx.head.method === "HEAD" ? "GET" : ctx.head.method;
    const req = { method, path: belowLocation(ctx.location, ctx.path), body: body.length > 0 ? body : null };
    this.svc.api(write, { ...req, requestId: ctx.requestId() }).then(
      (r) => {
        if (!this.finished) this.sendShow(r);
      },
      (err: unknown) => {
        if (this.finished) return;
        this.svc.logRequestError("crit", ctx, `api failed: ${String(err)}`);
        this.respondError(500);
      },
    );
  }

  /** Writes a handler's answer; a null body is nginx's error page for its status. */
  private sendShow(r: ShowResponse): void {
    if (r.body === null) {
      this.respondError(r.status);
      return;
    }
    let type = "text/plain";
    const extra: string[] = [];
    for (let i = 0; i + 1 < r.headers.length; i += 2) {
      const name = r.headers[i]!;
      const lower = name.toLowerCase();
      if (lower === "content-type") type = r.headers[i + 1]!;
      else if (lower !== "content-length") extra.push(name, r.headers[i + 1]!);
    }
    this.respond(r.status, Buffer.from(r.body, "utf8"), type, extra);
  }

  /** Answers `return CODE [TEXT]`. */
  private respondReturn(code: number, text: string | null): void {
    if (code === 444) {
      this.ctx.status = 444;
      this.finish(false);
      this.client.socket.destroy();
      return;
    }
    const value = text === null ? null : expand(this.ctx, text);
    if (code === 301 || code === 302 || code === 303 || code === 307 || code === 308) {
      this.respondError(code, true, value === null ? [] : ["Location", value]);
      return;
    }
    if (value === null) {
      if (code >= 400) this.respondError(code);
      else this.respond(code, "", "text/plain");
      return;
    }
    this.respond(code, value, this.settings.defaultType);
  }

  /** Sends a response syncgate makes itself, then finishes the request. */
  respond(
    status: number,
    body: string | Buffer,
    type: string,
    extra: string[] = [],
    keepAliveOk = true,
  ): void {
    if (this.responded) return;
    this.responded = true;
    const keepAlive = keepAliveOk && this.ctx.head.keepAlive && this.body.done && !this.finished;
    const payload = typeof body === "string" ? Buffer.from(body, "latin1") : body;
    const headers = [
      "Server",
      serverHeader(this.settings?.serverTokens ?? "on"),
      "Date",
      httpDate(),
      "Content-Type",
      type,
      "Content-Length",
      String(payload.length),
      ...extra,
      "Connection",
      keepAlive ? "keep-alive" : "close",
    ];
    const head = responseHead(status, headers, REASONS[status] ?? "");
    const out =
      this.ctx.head.method === "HEAD"
        ? Buffer.from(head, "latin1")
        : Buffer.concat([Buffer.from(head, "latin1"), payload]);
    this.ctx.status = status;
    this.ctx.responseHeaders = headers;
    this.ctx.bytesSent += out.length;
    this.ctx.bodyBytesSent += this.ctx.head.method === "HEAD" ? 0 : payload.length;
    this.client.socket.write(out);
    this.finish(keepAlive);
  }

  /** Sends nginx's error page for `status`. */
  respondError(status: number, keepAliveOk = true, extra: string[] = []): void {
    const tokens = this.settings?.serverTokens ?? "on";
    // As ngx_http_special_response_handler: these errors close the connection, others (502, 504...) keep it.
    const closes = status === 400 || status === 413 || status === 414 || status === 500 || status === 501;
    this.respond(status, errorPage(status, tokens), "text/html", extra, keepAliveOk && !closes);
  }

  /** A client-side error in the middle of a request: answer if nothing was sent yet, then close. */
  abortForClient(status: number): void {
    this.proxying?.abort();
    if (!this.responded) this.respondError(status, false);
    else this.finish(false);
  }

  /** Ends the request once: logs it and tells the connection. */
  finish(keepAlive: boolean): void {
    if (this.finished) return;
    this.finished = true;
    if (this.bodyTimer) clearTimeout(this.bodyTimer);
    this.bodySink = null;
    this.client.requestDone(this.ctx, keepAlive && this.body.done);
  }
}

/** The path below a prefix or exact location (`/api/9/http` under `/api/` → `9/http`); else the whole path. */
function belowLocation(loc: LocationConf | null, path: string): string {
  if (!loc || loc.match === "regex" || loc.match === "regex_caseless" || loc.match === "named") return path;
  return path.startsWith(loc.path) ? path.slice(loc.path.length) : path;
}

/** The payload of a whole chunked body (already checked by RequestBody). */
function dechunk(raw: Buffer): Buffer {
  const out: Buffer[] = [];
  new ChunkedDecoder().feed(raw, 0, raw.length, (b, s, e) => out.push(Buffer.from(b.subarray(s, e))));
  return Buffer.concat(out);
}
