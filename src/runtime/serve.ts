/**
 * Running syncgate in the foreground: build the proxy, bind, write the pid file, and stop cleanly on
 * SIGTERM/SIGINT (exit 0, pid file removed). SIGUSR1 reopens the log files (log rotation). SIGHUP and
 * SIGQUIT are reserved for reload and graceful quit.
 */
import { unlinkSync, writeFileSync } from "node:fs";
import type { LoadResult } from "../config/adapt.js";
import { errnoText, SyncgateError } from "../lib/errors.js";
import { logLine, type Out, printError } from "../cli/output.js";
import { ProxyServer } from "../proxy/server.js";

/** Starts serving `loaded`; resolves with the exit status once stopped by a signal. */
export async function serve(loaded: LoadResult, out: Out): Promise<number> {
  let proxy: ProxyServer;
  try {
    proxy = await ProxyServer.create(loaded);
  } catch (err) {
    return printError(
      out,
      err instanceof SyncgateError
        ? err
        : new SyncgateError("SG_ERR_IO", String((err as Error).message ?? err)),
    );
  }
  try {
    // Registry sync starts before the listeners (strong_dependency=on waits here for the first sync).
    await proxy.start();
    await proxy.listen();
  } catch (err) {
    await proxy.close();
    return printError(
      out,
      err instanceof SyncgateError
        ? err
        : new SyncgateError("SG_ERR_IO", String((err as Error).message ?? err)),
    );
  }
  const pid = loaded.config.main.pid;
  try {
    writeFileSync(pid, `${process.pid}\n`);
  } catch (err) {
    await proxy.close();
    return printError(out, new SyncgateError("SG_ERR_IO", `open() "${pid}" failed ${errnoText(err)}`));
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      proxy.errorLog.log("notice", `signal ${signal} received, exiting`);
      proxy.close().then(
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
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGQUIT", () => stop("SIGQUIT"));
    process.on("SIGUSR1", () => {
      proxy.errorLog.log("notice", "reopening logs");
      proxy
        .reopenLogs()
        .catch((err: unknown) => proxy.errorLog.log("alert", `reopen failed: ${String(err)}`));
    });
    process.on("SIGHUP", () => {
      proxy.errorLog.log(
        "notice",
        "reload (SIGHUP) is not available in this version; configuration unchanged",
      );
    });
  });
}

function removePid(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone: nothing to clean.
  }
}
