/**
 * Every process the benchmark starts is tracked here and runs in its own process group, so that stopping it
 * also stops what it forked (nginx workers). `killAllSync` is safe to call from signal and exit handlers.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { once } from "node:events";
import { openSync, closeSync, readFileSync, existsSync } from "node:fs";

/** One started process and where its output went. */
export interface Started {
  /** Short name for messages. */
  name: string;
  /** Its pid, also its process group id. */
  pid: number;
  /** The child handle. */
  child: ChildProcess;
  /** File holding its stdout and stderr (unless the caller redirected them elsewhere). */
  outputFile: string;
  /** Set once it has exited: code or signal. */
  exited: string | null;
}

const tracked = new Set<Started>();

/** Options for `start`. */
export interface StartOptions {
  /** CPU list for taskset (e.g. "0"), or null to leave affinity alone. */
  cpu: string | null;
  /** File for stdout and stderr. */
  outputFile: string;
  /** A separate file for stdout (HAProxy's log goes there). */
  stdoutFile?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts `cmd args` pinned to `cpu`, in its own process group, output to files. */
export function start(name: string, cmd: string, args: string[], opts: StartOptions): Started {
  const out = openSync(opts.outputFile, "a");
  const stdoutFd = opts.stdoutFile ? openSync(opts.stdoutFile, "a") : out;
  const stdio: StdioOptions = ["ignore", stdoutFd, out];
  const [file, argv] = opts.cpu === null ? [cmd, args] : ["taskset", ["-c", opts.cpu, cmd, ...args]];
  const child = spawn(file, argv, { stdio, detached: true, cwd: opts.cwd, env: opts.env ?? process.env });
  closeSync(out);
  if (stdoutFd !== out) closeSync(stdoutFd);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  const started: Started = { name, pid: child.pid, child, outputFile: opts.outputFile, exited: null };
  tracked.add(started);
  child.on("exit", (code, signal) => {
    started.exited = signal ?? `exit ${code}`;
    tracked.delete(started);
  });
  child.on("error", (err) => {
    started.exited = err.message;
    tracked.delete(started);
  });
  return started;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Stops one process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stop(p: Started, graceMs = 3000): Promise<void> {
  if (p.exited !== null) {
    signalGroup(p.pid, "SIGKILL"); // Its forks may outlive it.
    return;
  }
  const exited = once(p.child, "exit");
  signalGroup(p.pid, "SIGTERM");
  const timer = setTimeout(() => signalGroup(p.pid, "SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
  signalGroup(p.pid, "SIGKILL");
}

/** Stops everything still tracked, gracefully. */
export async function stopAll(): Promise<void> {
  await Promise.all([...tracked].map((p) => stop(p)));
}

/** Kills everything still tracked at once (for signal and exit handlers, which cannot wait). */
export function killAllSync(): void {
  for (const p of tracked) signalGroup(p.pid, "SIGKILL");
  tracked.clear();
}

/** The last `lines` lines a process printed. */
export function outputTail(p: Started, lines = 20): string {
  if (!existsSync(p.outputFile)) return "";
  return readFileSync(p.outputFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

/** Runs a command to completion, capturing its output; rejects on spawn failure only. */
export async function capture(
  name: string,
  cmd: string,
  args: string[],
  cpu: string | null = null,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [file, argv] = cpu === null ? [cmd, args] : ["taskset", ["-c", cpu, cmd, ...args]];
  const child = spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const started: Started = { name, pid: child.pid ?? 0, child, outputFile: "", exited: null };
  if (child.pid !== undefined) tracked.add(started);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const [code] = (await new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c, s) => resolve([c, s]));
  }).finally(() => tracked.delete(started))) as [number | null, NodeJS.Signals | null];
  return { code, stdout, stderr };
}
