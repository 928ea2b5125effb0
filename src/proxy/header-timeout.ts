/**
 * What nginx reports when a client does not send a whole request head within `client_header_timeout`
 * (ngx_http_read_request_header: "client timed out", then ngx_http_close_request(r, 408)): an info line saying
 * how far the client got, and, once bytes have come (nginx has created the request then), an access log line
 * with status 408 and the partial request line as $request. The client is sent nothing.
 */
import type { ServerConf } from "../config/types.js";
import type { RequestHead } from "../http1/request-head.js";
import { errorLogContext } from "../log/error-log.js";
import { type ConnInfo, RequestContext } from "./context.js";
import type { Services } from "./services.js";

const TIMED_OUT = "client timed out (110: Connection timed out)";

/** A request whose head never completed: $request is the request line as far as it came. */
class PartialRequest extends RequestContext {
  constructor(
    conn: ConnInfo,
    head: RequestHead,
    startMs: number,
    private readonly line: string,
  ) {
    super(conn, head, startMs);
  }

  override requestLine(): string {
    return this.line;
  }
}

/** Logs a header timeout on `conn`; `partial` holds the bytes of the unfinished head (null: none came). */
export function reportHeaderTimeout(
  svc: Services,
  conn: ConnInfo,
  server: ServerConf,
  partial: Buffer | null,
  startMs: number,
): void {
  if (!partial || partial.length === 0) {
    const local = conn.localAddr.includes(":") ? `[${conn.localAddr}]` : conn.localAddr;
    svc.errorLog.log(
      "info",
      `${TIMED_OUT} while waiting for request, client: ${conn.remoteAddr}, server: ${local}:${conn.localPort}`,
      conn.id,
    );
    return;
  }
  // Empty lines before a request line are skipped, as nginx does.
  const text = partial.toString("latin1").replace(/^(?:\r?\n)+/, "");
  const eol = text.indexOf("\n");
  const line = (eol < 0 ? text : text.slice(0, eol)).replace(/\r$/, "");
  const host = eol < 0 ? null : (/\nhost:[ \t]*([^\r\n]*?)[ \t]*\r?\n/i.exec(text)?.[1] ?? null);
  const action = eol < 0 ? "reading client request line" : "reading client request headers";
  const context = errorLogContext({
    client: conn.remoteAddr,
    server: server.serverNames[0]?.name ?? "",
    request: line || null,
    host,
  });
  svc.errorLog.log("info", `${TIMED_OUT} while ${action}${context}`, conn.id);
  const head: RequestHead = {
    method: "",
    target: "",
    versionMinor: 1,
    headers: host === null ? [] : ["Host", host],
    host,
    contentLength: null,
    chunked: false,
    keepAlive: false,
    upgrade: null,
    expectContinue: false,
    headBytes: partial.length,
  };
  const ctx = new PartialRequest(conn, head, startMs, line);
  ctx.server = server;
  ctx.settings = server.settings;
  ctx.status = 408;
  ctx.requestLength = partial.length;
  svc.logAccess(ctx);
}
