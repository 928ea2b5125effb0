/** The real `bin/syncgate` as a running server: started in the background, watched until it exits. */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import type { TestContext } from "node:test";
import { BIN } from "./process.js";

/** A running syncgate process. */
export interface Daemon {
  child: ChildProcess;
  stderr(): string;
  /** Resolves when the process exits, with its status, signal and Date.now() at exit. */
  exited: Promise<{ status: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `syncgate ARGS` in `cwd`; it is killed (SIGKILL) after the test if still running. */
export function startSyncgate(t: TestContext, args: string[], cwd: string): Daemon {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => child.on("exit", (status, signal) => resolve({ status, signal, at: Date.now() })),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, stderr: () => stderr, exited };
}

/** Tries one TCP connect to 127.0.0.1:port: "open", or the error code (ECONNREFUSED, ...). */
export function probePort(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve("open");
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
  });
}

/** Waits until 127.0.0.1:port accepts connections (checking every 20 ms, at most `ms`). */
export async function waitListening(port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while ((await probePort(port)) !== "open") {
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
