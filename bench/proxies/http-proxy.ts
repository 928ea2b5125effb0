/**
 * The http-proxy contender: a node:http server and npm `http-proxy` with a keep-alive agent. Round robin,
 * X-Forwarded-For (`xfwd`) and X-Real-IP, the Host header passed unchanged, one retry on another backend for
 * connection errors (bodyless requests only; http-proxy cannot retry on a 502 it has started to stream),
 * an access log line per request.
 *
 * Usage: node dist/bench/proxies/http-proxy.js PORT HOST:PORT,HOST:PORT ACCESS_LOG
 */
import { Agent, createServer, type IncomingMessage, type ServerResponse } from "node:http";
import httpProxy from "http-proxy";
import { AccessLog, proxyArgs, route } from "./access-log.js";

const { port, backends, logFile } = proxyArgs(process.argv.slice(2));
const log = new AccessLog(logFile);
const targets = backends.map((b) => `http://${b}`);
// LIFO reuse of idle sockets is Node 20's default; no cap on sockets per backend.
const agent = new Agent({ keepAlive: true, maxFreeSockets: 512, timeout: 60_000 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true, proxyTimeout: 30_000, timeout: 65_000 });
let next = 0;
/** Which backend each response's last try went to, for the access log. */
const upstreamOf = new WeakMap<ServerResponse, string>();

function forward(req: IncomingMessage, res: ServerResponse, tries: number, xff: string | undefined): void {
  const i = next++ % targets.length;
  upstreamOf.set(res, backends[i] as string);
  // xfwd appends to X-Forwarded-For; a retry starts again from the client's value.
  if (xff === undefined) delete req.headers["x-forwarded-for"];
  else req.headers["x-forwarded-for"] = xff;
  proxy.web(req, res, { target: targets[i] }, (err) => {
    const bodyless =
      req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined;
    if (!res.headersSent && bodyless && !res.destroyed && tries + 1 < targets.length) {
      forward(req, res, tries + 1, xff);
      return;
    }
    if (res.headersSent) {
      res.destroy(err);
    } else {
      res.writeHead(502, { "content-type": "text/plain", "content-length": 4 }).end("bad\n");
    }
  });
}

const server = createServer((req, res) => {
  const startMs = performance.now();
  if (route(req.url ?? "/") === "healthz") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": 3 }).end("ok\n");
    log.write(req, { status: 200, bytes: 3, upstream: "-", upstreamStatus: "-", startMs });
    return;
  }
  req.headers["x-real-ip"] = req.socket.remoteAddress;
  res.on("finish", () => {
    const status = res.statusCode;
    const bytes = Number(res.getHeader("content-length") ?? 0);
    log.write(req, { status, bytes, upstream: upstreamOf.get(res) ?? "-", upstreamStatus: status, startMs });
  });
  forward(req, res, 0, req.headers["x-forwarded-for"] as string | undefined);
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1");
