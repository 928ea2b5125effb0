/**
 * Log files, written as nginx's ngx_http_log_module writes access logs: appended, optionally through a buffer
 * (`buffer=SIZE`, `flush=TIME`), reopened on SIGUSR1 (ngx_reopen_files()), flushed on close. Unlike nginx, no
 * write blocks the event loop: lines go to a queue drained by async fs.write(), and whatever accumulates while a
 * write is in flight leaves in the next single write. Error logs use the same writer.
 */
import { close as fsClose, open as fsOpen, write as fsWrite } from "node:fs";
import type { AccessLogConf } from "../config/types.js";
import { configError, errnoText, SyncgateError, type LogLevel } from "../lib/errors.js";

/** Receives write and open failures in nginx's words; the error log, usually. */
export type LogErrorReporter = (level: LogLevel, message: string) => void;

/** How a writer buffers and reports. */
export interface WriterOptions {
  /** `buffer=SIZE` in bytes; null writes every line as soon as possible. */
  buffer?: number | null;
  /** `flush=TIME` in ms: longest a line waits in the buffer; null waits until the buffer fills. */
  flush?: number | null;
  onError: LogErrorReporter;
  /** Clock for rate-limiting failure reports (ms). */
  now?: () => number;
}

const STDERR = 2;
// nginx opens log files with NGX_FILE_DEFAULT_ACCESS.
const FILE_MODE = 0o644;

/** One log file (or "stderr"). `write()` takes a byte string without the linefeed; the writer adds "\n". */
export class AccessLogWriter {
  /** The path as configured, or "stderr". */
  readonly path: string;
  private bufferSize: number | null;
  private flushMs: number | null;
  private readonly onError: LogErrorReporter;
  private readonly now: () => number;
  private fd: number | null = null;
  private failed = false;
  private opening: Promise<void> | null = null;
  private reopening: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private inflight: Promise<void> | null = null;
  private paused = false;
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private queue: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastReport = -Infinity;

  constructor(path: string, options: WriterOptions) {
    this.path = path;
    this.bufferSize = options.buffer ?? null;
    this.flushMs = options.buffer ? (options.flush ?? null) : null;
    this.onError = options.onError;
    this.now = options.now ?? Date.now;
  }

  /** `buffer=` size in bytes, or null. */
  get buffer(): number | null {
    return this.bufferSize;
  }

  /** `flush=` time in ms, or null. */
  get flush(): number | null {
    return this.flushMs;
  }

  /** Turns buffering on (a later `access_log` for the same path may add `buffer=`, as nginx shares it per file). */
  setBuffer(size: number, flush: number | null): void {
    this.bufferSize = size;
    this.flushMs = flush;
  }

  /** Opens the file for appending (created if missing); rejects with nginx's `open() "PATH" failed (...)`. */
  open(): Promise<void> {
    this.opening ??= openAppend(this.path).then(
      (fd) => {
        this.fd = fd;
        this.drain();
      },
      (err: unknown) => {
        this.failed = true;
        this.queue = [];
        throw new SyncgateError("SG_ERR_IO", `open() "${this.path}" failed ${errnoText(err)}`);
      },
    );
    return this.opening;
  }

  /** Appends one line; buffered per nginx's rules, never blocking, never throwing. Dropped once closing. */
  write(line: string): void {
    if (this.closing || this.failed) return;
    if (!this.opening) this.open().catch((err: SyncgateError) => this.report("emerg", err.message));
    const data = `${line}\n`;
    const size = this.bufferSize;
    if (size === null) return this.enqueue(data);
    // ngx_http_log_handler(): flush when the line does not fit, then buffer it if it fits an empty buffer.
    if (data.length > size - this.bufferedBytes) this.flushBuffer();
    if (data.length > size) return this.enqueue(data);
    if (this.bufferedBytes === 0 && this.flushMs !== null) {
      this.timer = setTimeout(() => this.flushBuffer(), this.flushMs);
      this.timer.unref();
    }
    this.buffered.push(data);
    this.bufferedBytes += data.length;
  }

  /** Writes out the buffer and resolves once everything written so far has reached the file. */
  async flushed(): Promise<void> {
    this.flushBuffer();
    await this.idle();
  }

  /** Closes and reopens the same path, for log rotation (nginx's SIGUSR1); earlier lines go to the old file. */
  reopen(): Promise<void> {
    if (this.closing) return this.closing;
    this.reopening ??= this.doReopen().finally(() => (this.reopening = null));
    return this.reopening;
  }

  /** Flushes everything and closes the file; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.reopening;
      this.flushBuffer();
      await this.idle();
      if (this.fd !== null && this.fd !== STDERR) await closeFd(this.fd);
      this.fd = null;
    })();
    return this.closing;
  }

  private async doReopen(): Promise<void> {
    if (this.path === "stderr") return;
    if (this.opening && !this.failed) await this.opening.catch(() => undefined);
    this.flushBuffer();
    this.paused = true;
    while (this.inflight) await this.inflight;
    const old = this.fd;
    const tail = this.queue.join("");
    this.queue = [];
    if (old !== null && tail) await this.writeChunk(old, tail);
    let fd: number;
    try {
      fd = await openAppend(this.path);
    } catch (err) {
      // ngx_reopen_files(): report and keep writing to the old file.
      this.report("emerg", `open() "${this.path}" failed ${errnoText(err)}`);
      this.paused = false;
      return this.drain();
    }
    this.fd = fd;
    this.failed = false;
    this.opening = Promise.resolve();
    if (old !== null) await closeFd(old);
    this.paused = false;
    this.drain();
  }

  /** Resolves once every line handed to the file so far is written (lines still in the buffer excepted). */
  async idle(): Promise<void> {
    await this.opening?.catch(() => undefined);
    // Lines waiting for the end of the event-loop turn leave now.
    this.drain();
    while (this.inflight) await this.inflight;
  }

  private flushBuffer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.bufferedBytes === 0) return;
    const data = this.buffered.join("");
    this.buffered = [];
    this.bufferedBytes = 0;
    this.enqueue(data);
  }

  private enqueue(data: string): void {
    if (this.failed) return;
    this.queue.push(data);
    // Lines of one event-loop turn leave in one write: a thread-pool write per line costs more CPU than the
    // request that logged it.
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.drain();
      });
    }
  }

  private scheduled = false;

  private drain(): void {
    if (this.inflight || this.paused || this.fd === null || this.queue.length === 0) return;
    const chunk = this.queue.join("");
    this.queue = [];
    this.inflight = this.writeChunk(this.fd, chunk).then(() => {
      this.inflight = null;
      this.drain();
    });
  }

  /** Writes all of `data` (a byte string); failures are reported, never thrown. */
  private writeChunk(fd: number, data: string): Promise<void> {
    const buf = Buffer.from(data, "latin1");
    return new Promise((resolve) => {
      const step = (offset: number): void =>
        fsWrite(fd, buf, offset, buf.length - offset, null, (err, n) => {
          if (err) this.report("alert", `write() to "${this.path}" failed ${errnoText(err)}`, true);
          else if (n > 0 && offset + n < buf.length) return step(offset + n);
          else if (offset + n < buf.length)
            this.report(
              "alert",
              `write() to "${this.path}" was incomplete: ${offset + n} of ${buf.length}`,
              true,
            );
          resolve();
        });
      step(0);
    });
  }

  // ngx_http_log_write(): one write failure a minute per file, so a full disk does not flood the error log.
  private report(level: LogLevel, message: string, limited = false): void {
    if (limited) {
      const sec = Math.floor(this.now() / 1000);
      if (sec - this.lastReport <= 59) return;
      this.lastReport = sec;
    }
    try {
      this.onError(level, message);
    } catch {
      // A reporter that throws must not take the event loop down.
    }
  }
}

function openAppend(path: string): Promise<number> {
  if (path === "stderr") return Promise.resolve(STDERR);
  return new Promise((resolve, reject) =>
    fsOpen(path, "a", FILE_MODE, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => fsClose(fd, () => resolve()));
}

/** Every log file of the process, one shared writer per path (nginx's cycle->open_files). */
export class AccessLogs {
  private readonly writers = new Map<string, AccessLogWriter>();
  private readonly options: WriterOptions;

  constructor(options: Omit<WriterOptions, "buffer" | "flush">) {
    this.options = options;
  }

  /** The writer for `conf.path`, created on first use; differing `buffer=`/`flush=` fail as in nginx. */
  acquire(conf: Pick<AccessLogConf, "path" | "buffer" | "flush">): AccessLogWriter {
    const existing = this.writers.get(conf.path);
    if (!existing) {
      const w = new AccessLogWriter(conf.path, { ...this.options, buffer: conf.buffer, flush: conf.flush });
      this.writers.set(conf.path, w);
      return w;
    }
    if (conf.buffer !== null) {
      if (existing.buffer === null) existing.setBuffer(conf.buffer, conf.flush);
      else if (existing.buffer !== conf.buffer || existing.flush !== conf.flush)
        throw configError(`access_log "${conf.path}" already defined with conflicting parameters`, null);
    }
    return existing;
  }

  /** The writer already acquired for `path`, if any. */
  get(path: string): AccessLogWriter | undefined {
    return this.writers.get(path);
  }

  /** The files written (not stderr). */
  paths(): string[] {
    return [...this.writers.keys()].filter((p) => p !== "stderr");
  }

  /** Opens every file; rejects with the first failure (nginx refuses to start without its logs). */
  async open(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.open()));
  }

  /** Reopens every file (SIGUSR1). */
  async reopen(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.reopen()));
  }

  /** Flushes and closes every file; idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.close()));
  }
}
