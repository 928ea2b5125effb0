/** Runs the syncgate command in-process and captures what it prints. */
import { main, type MainDeps } from "../../src/cli/main.js";
import { testEnv } from "./env.js";

/** What one run printed and returned. */
export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `syncgate ARGV` with a captured terminal. */
export async function runCli(argv: string[], deps: Partial<MainDeps> = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const status = await main(argv, {
    env: testEnv(),
    serve: null,
    ...deps,
    out: { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
  });
  return { status, stdout, stderr };
}
