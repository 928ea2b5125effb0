/** Process entry: runs `main` on the real argv and exits with its status. */
import { main } from "./main.js";

/** Runs the command for this process. */
export function run(): void {
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
