/**
 * The error log, line for line as ngx_log_error_core() (src/core/ngx_log.c) writes it:
 * `2026/11/25 12:00:00 [error] 1234#0: *5 MESSAGE`, to every `error_log` target whose level admits the message.
 */
import type { ErrorLogConf } from "../config/types.js";
import { LOG_LEVELS, type LogLevel } from "../lib/errors.js";
import { AccessLogs, type AccessLogWriter } from "./access-log.js";
import { utf8ByteString } from "./format.js";
import { errorLogTime, type LogTimes } from "./time.js";

// NGX_MAX_ERROR_STR: nginx cuts a line at 2048 bytes, linefeed included.
const MAX_LINE = 2048 - 1;

/** Injected process facts, for exact tests. */
export interface ErrorLogOptions {
  /** Defaults to process.pid. */
  pid?: number;
  /** Clock in ms; defaults to Date.now. */
  now?: () => number;
  /** Timestamp formatter (its time zone); defaults to the process's. */
  times?: Pick<LogTimes, "errorLogTime">;
}

const rank = (level: LogLevel): number => LOG_LEVELS.indexOf(level);

/** Writes nginx-shaped error lines to the configured targets. An empty target list logs nothing. */
export class ErrorLog {
  private readonly files: AccessLogs;
  private readonly targets: { rank: number; writer: AccessLogWriter }[];
  private readonly maxRank: number;
  private readonly pid: number;
  private readonly now: () => number;
  private readonly time: (ms: number) => string;

  constructor(confs: readonly ErrorLogConf[], options: ErrorLogOptions = {}) {
    this.pid = options.pid ?? process.pid;
    this.now = options.now ?? Date.now;
    const times = options.times;
    this.time = times ? (ms) => times.errorLogTime(ms) : errorLogTime;
    // A failing target reports through the others (its own reports are limited to one a minute).
    this.files = new AccessLogs({ onError: (level, message) => this.log(level, message), now: this.now });
    // Like nginx, two targets naming one file share it and each writes the lines it admits.
    this.targets = confs.map((c) => ({
      rank: rank(c.level),
      writer: this.files.acquire({ path: c.path, buffer: null, flush: null }),
    }));
    this.maxRank = Math.max(-1, ...this.targets.map((t) => t.rank));
  }

  /** Whether some target would write `level` (skip building a costly message otherwise, as ngx_log_error does). */
  admits(level: LogLevel): boolean {
    return rank(level) <= this.maxRank;
  }

  /** Logs `message` at `level`; `conn` adds nginx's `*N ` connection number. */
  log(level: LogLevel, message: string, conn?: number): void {
    const r = rank(level);
    if (r > this.maxRank) return;
    const prefix = `${this.time(this.now())} [${level}] ${this.pid}#0: `;
    let line = utf8ByteString(prefix + (conn === undefined ? "" : `*${conn} `) + message);
    if (line.length > MAX_LINE) line = line.slice(0, MAX_LINE);
    for (const t of this.targets) if (r <= t.rank) t.writer.write(line);
  }

  /** Opens every target file; rejects with nginx's `open() "PATH" failed (...)`. */
  open(): Promise<void> {
    return this.files.open();
  }

  /** The files written (not stderr). */
  paths(): string[] {
    return this.files.paths();
  }

  /** Reopens every target file (SIGUSR1). */
  reopen(): Promise<void> {
    return this.files.reopen();
  }

  /** Flushes and closes every target file; idempotent. */
  close(): Promise<void> {
    return this.files.close();
  }
}

/** What nginx appends to a request's error (ngx_http_log_error() and ngx_http_log_error_handler()). */
export interface ErrorContext {
  /** What was going on: " while ACTION". */
  action?: string | null;
  /** Client address. */
  client?: string | null;
  /** server_name of the server block (or the listen address before a request exists). */
  server?: string | null;
  /** The request line, as received. */
  request?: string | null;
  /** Upstream URL: scheme, peer and URI. */
  upstream?: string | null;
  /** Host header value. */
  host?: string | null;
  /** Referer header value. */
  referrer?: string | null;
}

/** nginx's error suffix: ` while ACTION, client: X, server: Y, request: "...", upstream: "...", host: "..."`. */
export function errorLogContext(c: ErrorContext): string {
  let s = "";
  if (c.action) s += ` while ${c.action}`;
  if (c.client != null) s += `, client: ${c.client}`;
  if (c.server != null) s += `, server: ${c.server}`;
  if (c.request) s += `, request: "${c.request}"`;
  if (c.upstream) s += `, upstream: "${c.upstream}"`;
  if (c.host != null) s += `, host: "${c.host}"`;
  if (c.referrer != null) s += `, referrer: "${c.referrer}"`;
  return s;
}
