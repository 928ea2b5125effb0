/** Process entry: runs `main` on the real argv and exits with its status. */
import cluster from "node:cluster";
import { runWorker } from "../runtime/worker.js";
import { main } from "./main.js";

/** Runs the command for this process (a worker of `worker_processes N` takes its orders from the primary). */
export function run(): void {
  if (cluster.isWorker) {
    runWorker();
    return;
  }
  main(process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
    },
    (err: unknown) => {
      process.stderr.write(`syncgate: [alert] ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
