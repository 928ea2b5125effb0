/**
 * The minimal undici proxy of DESIGN §7: a node:http server, undici `Pool.dispatch(opts, handler)` to the
 * backends, the response streamed back chunk by chunk with backpressure. Round robin, upstream keep-alive,
 * X-Forwarded-For / X-Real-IP, one retry on another backend for connection errors, timeouts and 502 (bodyless
 * requests only), an access log line per request.
 *
 * Usage: node dist/bench/proxies/undici-proxy.js PORT HOST:PORT,HOST:PORT ACCESS_LOG
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Pool, type Dispatcher } from "undici";
import { AccessLog, proxyArgs, route } from "./access-log.js";

const { port, backends, logFile } = proxyArgs(process.argv.slice(2));
const log = new AccessLog(logFile);
// Pools sized at or above peak concurrency (DESIGN §7); timeouts as in bench/conf/nginx.conf.
const pools = backends.map(
  (b) =>
    new Pool(`http://${b}`, {
      connections: 512,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
      connect: { timeout: 2_000 },
    }),
);
let next = 0;

// Hop-by-hop request headers (RFC 9110 §7.6.1) and the two the proxy sets itself.
const DROP_REQUEST = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "x-forwarded-for",
  "x-real-ip",
]);
const DROP_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding"]);

/** One client request and its tries upstream; undici calls it as the dispatch handler. */
class Exchange implements Dispatcher.DispatchHandlers {
  private readonly headers: string[] = [];
  private readonly hasBody: boolean;
  private tries = 0;
  private upstream = "-";
  private upstreamStatus: number | string = "-";
  private discarding = false;
  private finished = false;
  private clientGone = false;
  private bytes = 0;
  private abort: ((err?: Error) => void) | null = null;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly startMs: number,
  ) {
    const raw = req.rawHeaders;
    let forwarded = "";
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      const lower = name.toLowerCase();
      if (lower === "x-forwarded-for")
        forwarded = forwarded ? `${forwarded}, ${raw[i + 1]}` : (raw[i + 1] as string);
      if (!DROP_REQUEST.has(lower)) this.headers.push(name, raw[i + 1] as string);
    }
    const ip = req.socket.remoteAddress ?? "";
    this.headers.push("x-real-ip", ip, "x-forwarded-for", forwarded ? `${forwarded}, ${ip}` : ip);
    this.hasBody =
      req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    res.on("close", () => {
      if (this.finished) return;
      this.clientGone = true;
      this.abort?.();
    });
  }

  /** Sends (or re-sends) the request to the next backend in turn. */
  send(): void {
    const i = next++ % pools.length;
    this.tries++;
    this.upstream = backends[i] as string;
    const opts: Dispatcher.DispatchOptions = {
      path: this.req.url ?? "/",
      method: this.req.method as Dispatcher.HttpMethod,
      headers: this.headers,
      body: this.hasBody ? this.req : null,
    };
    (pools[i] as Pool).dispatch(opts, this);
  }

  private canRetry(): boolean {
    return !this.hasBody && !this.clientGone && this.tries < pools.length;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: wait for the final response.
    this.upstreamStatus = statusCode;
    if (statusCode === 502 && this.canRetry()) {
      this.discarding = true; // Read and drop this body, then retry on onComplete.
      return true;
    }
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as Buffer).toString("latin1");
      if (!DROP_RESPONSE.has(name.toLowerCase()))
        headers.push(name, (raw[i + 1] as Buffer).toString("latin1"));
    }
    this.res.writeHead(statusCode, headers);
    this.res.on("drain", resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    this.bytes += chunk.length;
    return this.res.write(chunk);
  }

  onComplete(): void {
    if (this.discarding) {
      this.discarding = false;
      this.send();
      return;
    }
    this.finished = true;
    this.res.end();
    this.logLine(this.res.statusCode);
  }

  onError(err: Error): void {
    if (this.clientGone) {
      this.logLine(499);
      return;
    }
    if (!this.res.headersSent && this.canRetry()) {
      this.discarding = false;
      this.send();
      return;
    }
    this.finished = true;
    if (this.res.headersSent) {
      this.res.destroy(err);
    } else {
      const status = err.name === "HeadersTimeoutError" || err.name === "ConnectTimeoutError" ? 504 : 502;
      this.res.writeHead(status, { "content-type": "text/plain", "content-length": 4 }).end("bad\n");
    }
    this.logLine(this.res.statusCode);
  }

  private logLine(status: number): void {
    const { upstream, upstreamStatus, bytes, startMs } = this;
    log.write(this.req, { status, bytes, upstream, upstreamStatus, startMs });
  }
}

const server = createServer((req, res) => {
  const startMs = performance.now();
  if (route(req.url ?? "/") === "healthz") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": 3 }).end("ok\n");
    log.write(req, { status: 200, bytes: 3, upstream: "-", upstreamStatus: "-", startMs });
    return;
  }
  new Exchange(req, res, startMs).send();
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1");
