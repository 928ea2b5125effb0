/**
 * Running syncgate in the foreground, with nginx's signals (issue 7 item 2): SIGHUP re-reads the configuration
 * (an invalid one is logged and the running one stays), SIGQUIT stops gracefully (requests in flight finish,
 * bounded by `worker_shutdown_timeout`), SIGTERM/SIGINT stop at once, SIGUSR1 reopens the log files. The pid
 * file is written once the server accepts and removed at exit; a second instance on the same pid file refuses
 * to start.
 */
import { availableParallelism } from "node:os";
import type { LoadResult } from "../config/adapt.js";
import { SyncgateError } from "../lib/errors.js";
import { logLine, type Out, printError } from "../cli/output.js";
import type { CloseMode } from "../proxy/server.js";
import { refuseSecondInstance, removePid, writePid } from "./pidfile.js";
import { ClusterPrimary, workerCount } from "./primary.js";
import { SingleProcess } from "./single.js";
import type { Runtime } from "./types.js";

/** Re-reads the configuration the server started with (same file, prefix and -g directives); throws when invalid. */
export type Reread = () => LoadResult;

function asError(err: unknown): SyncgateError {
  return err instanceof SyncgateError
    ? err
    : new SyncgateError("SG_ERR_IO", String((err as Error)?.message ?? err));
}

/** Starts serving `loaded`; resolves with the exit status once stopped by a signal. */
export async function serve(loaded: LoadResult, out: Out, reread: Reread | null = null): Promise<number> {
  const main = loaded.config.main;
  const pid = main.pid;
  let rt: Runtime;
  try {
    refuseSecondInstance(pid);
    const workers = workerCount(main.workerProcesses, availableParallelism());
    // With `user`, a primary keeps root (the pid file, the logs, ports on reload) as nginx's master does, even for
    // one worker.
    rt =
      workers > 1 || main.user !== null
        ? await ClusterPrimary.start(loaded, workers)
        : await SingleProcess.start(loaded);
  } catch (err) {
    return printError(out, asError(err));
  }
  try {
    writePid(pid);
  } catch (err) {
    await rt.stop({ graceful: false });
    return printError(out, asError(err));
  }
  const cluster = rt instanceof ClusterPrimary;
  return new Promise<number>((resolve) => {
    let stopping: CloseMode | null = null;
    let reloads = Promise.resolve();
    const stop = (signal: string, mode: CloseMode): void => {
      if (stopping) {
        // nginx: a stop after a quit turns the graceful shutdown into a fast one.
        if (stopping.graceful && !mode.graceful) {
          stopping = mode;
          rt.log("notice", `signal ${signal} received, exiting`);
          void rt.stop(mode);
        }
        return;
      }
      stopping = mode;
      rt.log(
        "notice",
        `signal ${signal} received, ${mode.graceful ? "shutting down gracefully" : "exiting"}`,
      );
      // A reload in progress finishes first: stopping halfway through a hand-over would leak its half.
      void reloads
        .then(() => rt.stop(mode))
        .then(
          () => {
            removePid(pid);
            resolve(0);
          },
          (err: unknown) => {
            removePid(pid);
            logLine(out, "alert", `shutdown failed: ${String(err)}`);
            resolve(1);
          },
        );
    };
    const reload = async (): Promise<void> => {
      if (stopping) return;
      rt.log("notice", "signal 1 (SIGHUP) received, reconfiguring");
      if (!reread) {
        rt.log("error", "reload is not available in this embedding; configuration unchanged");
        return;
      }
      let next: LoadResult;
      try {
        next = reread();
      } catch (err) {
        const e = asError(err);
        rt.log(e.level, e.message);
        rt.log("notice", "reload failed, the running configuration stays");
        return;
      }
      for (const m of next.messages) rt.log(m.level, m.text);
      const nm = next.config.main;
      if (nm.pid !== pid) rt.log("warn", `a reload does not move the pid file; "${pid}" stays until restart`);
      if (!cluster && workerCount(nm.workerProcesses, availableParallelism()) > 1) {
        rt.log("warn", `"worker_processes ${nm.workerProcesses}" takes effect at the next start`);
      }
      try {
        await rt.reload(next);
      } catch (err) {
        const e = asError(err);
        rt.log(e.level === "emerg" ? "emerg" : "alert", e.message);
        rt.log("notice", "reload failed, the running configuration stays");
        return;
      }
      rt.log("notice", `reconfigured, generation ${rt.generation}`);
    };
    process.on("SIGTERM", () => stop("15 (SIGTERM)", { graceful: false }));
    process.on("SIGINT", () => stop("2 (SIGINT)", { graceful: false }));
    process.on("SIGQUIT", () =>
      stop("3 (SIGQUIT)", { graceful: true, timeoutMs: main.workerShutdownTimeout }),
    );
    process.on("SIGUSR1", () => {
      rt.log("notice", "signal 10 (SIGUSR1) received, reopening logs");
      rt.reopen().catch((err: unknown) => rt.log("alert", `reopen failed: ${String(err)}`));
    });
    process.on("SIGHUP", () => {
      reloads = reloads.then(reload).catch((err: unknown) => rt.log("alert", `reload: ${String(err)}`));
    });
  });
}
