/**
 * The process runtime under test (`bin/syncgate -c FILE` run with `worker_processes 1` or N): its configuration
 * file in a temp dir, its error log, its worker processes, and clients that tell which worker answers.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { type Backend, startBackend } from "./backend.js";
import { clientPerWorker, workerPids } from "./cluster.js";
import { type Daemon, startSyncgate } from "./daemon.js";
import { type Answer, KeepAliveClient, takeAnswer } from "./keepalive.js";
import { tempDir } from "./tmp.js";
import { eventually } from "./wait.js";

/** "one process" or "cluster of N": the name of a mode in test titles. */
export const modeName = (workers: number): string =>
  workers === 1 ? "one process" : `cluster of ${workers}`;

/** A configuration file: pid file, error log at info, `main` directives, and `servers` in an http block. */
export function configText(workers: number, servers: string, main = ""): string {
  return (
    `pid run/syncgate.pid;\nworker_processes ${workers};\nerror_log logs/error.log info;\n${main}` +
    `events {}\nhttp {\n  log_format pids '$pid "$request" $status';\n  access_log logs/access.log pids;\n` +
    `${servers}}\n`
  );
}

/** A server on 127.0.0.1:port: `location /v` answers `body`, `/pid` the pid of the process that serves. */
export function site(port: number, body: string, extra = ""): string {
  return (
    `  server {\n    listen 127.0.0.1:${port};\n    location /v { return 200 "${body}\\n"; }\n` +
    `    location /pid { return 200 "$pid"; }\n${extra}  }\n`
  );
}

/** A running syncgate started by startRuntime. */
export interface Running {
  dir: string;
  /** The configuration file's absolute path. */
  conf: string;
  pidFile: string;
  d: Daemon;
  /** The pid of the process started (the primary in a cluster). */
  pid: number;
  /** The error log's text ("" before it exists). */
  log(): string;
  /** Waits until the error log matches `re`. */
  logged(re: RegExp, ms?: number): Promise<void>;
  /** Replaces the configuration file. */
  rewrite(text: string): void;
}

/**
 * Starts `syncgate -c syncgate.conf` in a temp dir holding `text` (and `files`); resolves once the pid file names
 * it, which is written once the server (every worker of a cluster) accepts. `worldWritable` opens the folders to
 * a server that drops its privileges (`user`).
 */
export async function startRuntime(
  t: TestContext,
  text: string,
  opts: { files?: Record<string, string>; worldWritable?: boolean } = {},
): Promise<Running> {
  const dir = tempDir(t, { "logs/.keep": "", "run/.keep": "", ...opts.files, "syncgate.conf": text });
  if (opts.worldWritable) for (const d of [dir, join(dir, "logs"), join(dir, "run")]) chmodSync(d, 0o777);
  const d = startSyncgate(t, ["-c", "syncgate.conf"], dir);
  const pid = d.child.pid!;
  const pidFile = join(dir, "run/syncgate.pid");
  await eventually(
    "the pid file",
    () => {
      if (d.child.exitCode !== null) throw new Error(`syncgate exited ${d.child.exitCode}: ${d.stderr()}`);
      return existsSync(pidFile) && readFileSync(pidFile, "utf8") === `${pid}\n`;
    },
    20_000,
    20,
  );
  // Workers a failed test leaves behind go with it.
  const workers = workerPids(pid);
  t.after(() => {
    for (const w of workers.filter(alive)) {
      try {
        process.kill(w, "SIGKILL");
      } catch {
        // Gone in between.
      }
    }
  });
  const errorLog = join(dir, "logs/error.log");
  const log = (): string => (existsSync(errorLog) ? readFileSync(errorLog, "utf8") : "");
  return {
    dir,
    conf: join(dir, "syncgate.conf"),
    pidFile,
    d,
    pid,
    log,
    logged: (re, ms = 5000) => eventually(`${String(re)} in the error log`, () => re.test(log()), ms, 20),
    rewrite: (next) => writeFileSync(join(dir, "syncgate.conf"), next),
  };
}

/** Whether process `pid` exists (process.kill(pid, 0)). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The ids a process runs with (/proc/PID/status): real, effective, saved and fs uids, and gids, and groups. */
export function ids(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number[] =>
    (new RegExp(`^${name}:(.*)$`, "m").exec(status)?.[1] ?? "")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  return { uid: field("Uid"), gid: field("Gid"), groups: field("Groups") };
}

/** Rejects with `what` when `p` has not settled within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** A backend that answers `body` `ms` after each request (the request stays in flight meanwhile). */
export function slowBackend(t: TestContext, ms: number, body: string): Promise<Backend> {
  return startBackend(t, "slow", (_req, res) => {
    const timer = setTimeout(() => res.end(body), ms);
    res.on("close", () => clearTimeout(timer));
  });
}

/**
 * One keep-alive connection to each of `n` processes serving `port` (found by their answers on /pid, 8 new
 * connections at a time, at most 200), closed after the test.
 */
export async function perWorker(t: TestContext, port: number, n: number): Promise<KeepAliveClient[]> {
  const found = await clientPerWorker(port, n);
  t.after(() => found.forEach((c) => c.close()));
  return [...found.values()];
}

/** Waits until every connection of `conns` answers `body` on `path` (any request failing fails the wait). */
export function allAnswer(conns: KeepAliveClient[], path: string, body: string, ms = 3000): Promise<void> {
  return eventually(
    `every kept-alive connection answering ${JSON.stringify(body)}`,
    async () => {
      for (const c of conns) if ((await c.get(path)).body !== body) return false;
      return true;
    },
    ms,
    20,
  );
}

/** One raw keep-alive connection: answers in order, and whether the server closed it. */
export class RawConnection {
  private readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  closed = false;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (d: Buffer) => (this.buf = Buffer.concat([this.buf, d])));
    this.socket.on("error", () => undefined);
    this.socket.on("close", () => (this.closed = true));
  }

  /** Sends GET `path`; rejects when the connection closes (or `ms` pass) before a whole answer. */
  async get(path: string, ms = 5000): Promise<Answer> {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
    const got: { answer: Answer | null } = { answer: null };
    await eventually(`an answer to ${path}`, () => (got.answer = this.take()) !== null || this.closed, ms);
    if (got.answer === null) throw new Error(`connection closed without an answer to ${path}`);
    return got.answer;
  }

  /** Waits until the server closed the connection. */
  waitClosed(ms = 3000): Promise<void> {
    return eventually("the server closing the connection", () => this.closed, ms);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private take(): Answer | null {
    const whole = takeAnswer(this.buf);
    if (!whole) return null;
    this.buf = whole.rest;
    return whole.answer;
  }
}
