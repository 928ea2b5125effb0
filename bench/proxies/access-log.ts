/**
 * The Node proxies' access log: one line per request in the nginx `main` format the nginx-syntax proxies use
 * (bench/conf/nginx.conf), appended to a file through one write stream. Like nginx, the time stamp is
 * formatted once per second, not per request.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import type { IncomingMessage } from "node:http";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** One proxied request's outcome, as the log line reports it. */
export interface LogEntry {
  status: number;
  bytes: number;
  upstream: string;
  upstreamStatus: number | string;
  /** performance.now() when the request arrived. */
  startMs: number;
}

/** Appends access log lines to a file. */
export class AccessLog {
  private readonly stream: WriteStream;
  private second = -1;
  private stamp = "";

  constructor(path: string) {
    this.stream = createWriteStream(path, { flags: "a" });
    this.stream.on("error", (err) => process.stderr.write(`access log: ${err.message}\n`));
  }

  private timeLocal(): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      const d = new Date(now);
      this.second = second;
      this.stamp =
        `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
        `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
    }
    return this.stamp;
  }

  /** Writes the line for `req`. */
  write(req: IncomingMessage, e: LogEntry): void {
    const h = req.headers;
    const seconds = ((performance.now() - e.startMs) / 1000).toFixed(3);
    this.stream.write(
      `${req.socket.remoteAddress ?? "-"} - - [${this.timeLocal()}] "${req.method} ${req.url} HTTP/${req.httpVersion}" ` +
        `${e.status} ${e.bytes} "${h.referer ?? "-"}" "${h["user-agent"] ?? "-"}" upstream=${e.upstream} ` +
        `upstream_status=${e.upstreamStatus} request_time=${seconds}\n`,
    );
  }
}

const PHP = /\.php$/;

/** Which handler the proxies' shared routing table picks (the locations of bench/conf/nginx.conf). */
export function route(url: string): "healthz" | "app" {
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  if (path === "/healthz") return "healthz"; // location = /healthz
  if (path.startsWith("/static/")) return "app"; // location /static/
  if (PHP.test(path)) return "app"; // location ~ \.php$
  return "app"; // location /
}

/** `PORT BACKEND,BACKEND LOGFILE` from argv, or exits with usage. */
export function proxyArgs(argv: string[]): { port: number; backends: string[]; logFile: string } {
  const [port, backends, logFile] = argv;
  if (!port || !backends || !logFile) {
    process.stderr.write("usage: node PROXY.js PORT HOST:PORT[,HOST:PORT...] ACCESS_LOG\n");
    process.exit(2);
  }
  return { port: Number(port), backends: backends.split(","), logFile };
}
