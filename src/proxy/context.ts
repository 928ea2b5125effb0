/**
 * One request as it passes through the proxy, and nginx's variables computed from it ($host, $uri,
 * $upstream_addr, ...). Variables are computed on demand: most requests never read most of them.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { HttpSettings, LocationConf, ProxyPassConf, ServerConf } from "../config/types.js";
import type { RequestHead } from "../http1/request-head.js";
import { timeIso8601, timeLocal } from "../log/time.js";
import { VERSION } from "../version.js";
import { argValue, cookieValue, getHeader, getHeaderJoined } from "./headers.js";

/** One try of a request on one upstream server (nginx keeps one per try for $upstream_* variables). */
export interface Attempt {
  addr: string;
  /** Upstream status; a failed try gets 502 or 504 (nginx's ngx_http_upstream_next), an abandoned one stays null ("-"). */
  status: number | null;
  startMs: number;
  connectMs: number | null;
  headerMs: number | null;
  endMs: number | null;
  bytesReceived: number;
  bytesSent: number;
  headers: string[] | null;
}

/** What the client connection tells a request about itself. */
export interface ConnInfo {
  id: number;
  requests: number;
  remoteAddr: string;
  remotePort: number;
  localAddr: string;
  localPort: number;
}

const HOSTNAME = hostname();

/** A request in flight. */
export class RequestContext {
  /** Wall clock at the first byte of the request (ms). */
  readonly startMs: number;
  /** Normalised path ($uri). */
  path = "/";
  /** Raw path as sent, without args. */
  rawPath = "/";
  /** Query string without "?" ($args). */
  args = "";
  /** The target from its path on, as sent ($request_uri). */
  requestUri = "/";
  server: ServerConf | null = null;
  location: LocationConf | null = null;
  settings: HttpSettings | null = null;
  captures: string[] = [];
  /** Named regex captures ($name). */
  named: Record<string, string> = {};
  status = 0;
  bytesSent = 0;
  bodyBytesSent = 0;
  requestLength = 0;
  attempts: Attempt[] = [];
  responseHeaders: string[] | null = null;
  remoteUser: string | null = null;
  pipelined = false;
  proxyPass: ProxyPassConf | null = null;
  /** Target of proxy_pass for this request (upstream name or host:port), for $proxy_host. */
  proxyHost = "";
  proxyPort = "80";
  private id: string | null = null;

  constructor(
    readonly conn: ConnInfo,
    readonly head: RequestHead,
    startMs: number,
  ) {
    this.startMs = startMs;
  }

  /** The request line as nginx's $request shows it. */
  requestLine(): string {
    return `${this.head.method} ${this.head.target} HTTP/1.${this.head.versionMinor}`;
  }

  /** nginx's $host: the Host header (lower case, without port), else the server's first name. */
  host(): string {
    const h = this.head.host;
    if (h) {
      let end = h.length;
      if (h.startsWith("[")) end = h.indexOf("]") + 1 || h.length;
      else {
        const colon = h.lastIndexOf(":");
        if (colon >= 0) end = colon;
      }
      let out = h.slice(0, end).toLowerCase();
      if (out.endsWith(".")) out = out.slice(0, -1);
      return out;
    }
    return this.serverName();
  }

  /** nginx's $server_name: the first name of the chosen server. */
  serverName(): string {
    const n = this.server?.serverNames[0];
    return n ? n.name : "";
  }

  /** nginx's $request_id: 32 hex digits, fixed for the request. */
  requestId(): string {
    this.id ??= randomBytes(16).toString("hex");
    return this.id;
  }
}

const secs = (ms: number): string => (ms / 1000).toFixed(3);

function perAttempt(ctx: RequestContext, fn: (a: Attempt) => string): string | null {
  if (ctx.attempts.length === 0) return null;
  let out = "";
  for (let i = 0; i < ctx.attempts.length; i++) out += (i ? ", " : "") + fn(ctx.attempts[i]!);
  return out;
}

/** The value of variable `name` for `ctx`, or null when it has none (logged as "-"). */
export function variable(ctx: RequestContext, name: string, now = Date.now()): string | null {
  switch (name) {
    case "remote_addr":
      return ctx.conn.remoteAddr;
    case "remote_port":
      return String(ctx.conn.remotePort);
    case "binary_remote_addr":
      return ctx.conn.remoteAddr;
    case "server_addr":
      return ctx.conn.localAddr;
    case "server_port":
      return String(ctx.conn.localPort);
    case "server_name":
      return ctx.serverName();
    case "host":
      return ctx.host();
    case "hostname":
      return HOSTNAME;
    case "scheme":
      return "http";
    case "https":
      return "";
    case "server_protocol":
      return `HTTP/1.${ctx.head.versionMinor}`;
    case "request":
      return ctx.requestLine();
    case "request_method":
      return ctx.head.method;
    case "request_uri":
      return ctx.requestUri;
    case "uri":
    case "document_uri":
      return ctx.path;
    case "args":
    case "query_string":
      return ctx.args;
    case "is_args":
      return ctx.args ? "?" : "";
    case "content_length":
      return getHeader(ctx.head.headers, "content-length");
    case "content_type":
      return getHeader(ctx.head.headers, "content-type");
    case "remote_user":
      return ctx.remoteUser;
    case "status":
      return ctx.status ? String(ctx.status).padStart(3, "0") : "000";
    case "bytes_sent":
      return String(ctx.bytesSent);
    case "body_bytes_sent":
      return String(ctx.bodyBytesSent);
    case "request_length":
      return String(ctx.requestLength);
    case "request_time":
      return secs(Math.max(0, now - ctx.startMs));
    case "msec":
      return (now / 1000).toFixed(3);
    case "time_local":
      return timeLocal(now);
    case "time_iso8601":
      return timeIso8601(now);
    case "request_id":
      return ctx.requestId();
    case "connection":
      return String(ctx.conn.id);
    case "connection_requests":
      return String(ctx.conn.requests);
    case "pipe":
      return ctx.pipelined ? "p" : ".";
    case "pid":
      return String(process.pid);
    case "nginx_version":
    case "syncgate_version":
      return VERSION;
    case "gzip_ratio":
      return null;
    case "proxy_host":
      return ctx.proxyHost;
    case "proxy_port":
      return ctx.proxyPort;
    case "proxy_add_x_forwarded_for": {
      const xff = getHeaderJoined(ctx.head.headers, "x-forwarded-for");
      return xff ? `${xff}, ${ctx.conn.remoteAddr}` : ctx.conn.remoteAddr;
    }
    case "upstream_addr":
      return perAttempt(ctx, (a) => a.addr);
    case "upstream_status":
      return perAttempt(ctx, (a) => (a.status === null ? "-" : String(a.status)));
    case "upstream_response_time":
      return perAttempt(ctx, (a) => secs((a.endMs ?? now) - a.startMs));
    case "upstream_connect_time":
      return perAttempt(ctx, (a) => (a.connectMs === null ? "-" : secs(a.connectMs - a.startMs)));
    case "upstream_header_time":
      return perAttempt(ctx, (a) => (a.headerMs === null ? "-" : secs(a.headerMs - a.startMs)));
    case "upstream_bytes_received":
      return perAttempt(ctx, (a) => String(a.bytesReceived));
    case "upstream_bytes_sent":
      return perAttempt(ctx, (a) => String(a.bytesSent));
    case "upstream_response_length":
      return perAttempt(ctx, (a) => String(a.bytesReceived));
  }
  if (/^\d$/.test(name)) return ctx.captures[Number(name)] ?? "";
  if (Object.prototype.hasOwnProperty.call(ctx.named, name)) return ctx.named[name]!;
  if (name.startsWith("http_")) return getHeaderJoined(ctx.head.headers, headerName(name.slice(5)));
  if (name.startsWith("sent_http_")) {
    return ctx.responseHeaders ? getHeaderJoined(ctx.responseHeaders, headerName(name.slice(10))) : null;
  }
  if (name.startsWith("upstream_http_")) {
    const h = ctx.attempts[ctx.attempts.length - 1]?.headers;
    return h ? getHeader(h, headerName(name.slice(14))) : null;
  }
  if (name.startsWith("upstream_cookie_")) {
    const h = ctx.attempts[ctx.attempts.length - 1]?.headers;
    if (!h) return null;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i]!.toLowerCase() !== "set-cookie") continue;
      const v = cookieValue(h[i + 1]!.split(";")[0]!, name.slice(16));
      if (v !== null) return v;
    }
    return null;
  }
  if (name.startsWith("cookie_"))
    return cookieValue(getHeaderJoined(ctx.head.headers, "cookie"), name.slice(7));
  if (name.startsWith("arg_")) return argValue(ctx.args, name.slice(4));
  return null;
}

function headerName(varPart: string): string {
  return varPart.toLowerCase().replace(/_/g, "-");
}
