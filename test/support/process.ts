/** Runs the real `bin/syncgate` as a child process. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Path of the command a user runs. */
export const BIN = fileURLToPath(new URL("../../../bin/syncgate", import.meta.url));

/** Exit status and output of one run. */
export interface ProcessResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `syncgate ARGS` in `cwd` and waits for it to exit (killed after `timeoutMs`). */
export function runSyncgate(args: string[], cwd: string, timeoutMs = 20_000): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
