/**
 * Running syncgate in the foreground: build the proxy, bind, write the pid file, and stop cleanly on
 * SIGTERM/SIGINT (exit 0, pid file removed). SIGUSR1 reopens the log files (log rotation). SIGHUP and
 * SIGQUIT are reserved for reload and graceful quit.
 */
import { unlinkSync, writeFileSync } from "node:fs";
import type { LoadResult } from "../config/adapt.js";
import { configError, errnoText, SyncgateError } from "../lib/errors.js";
import type { Config, LocationConf } from "../config/types.js";
import { logLine, type Out, printError } from "../cli/output.js";
import { ProxyServer } from "../proxy/server.js";

/**
 * Parts of the configuration this version reads but cannot run yet. Serving without them would look like
 * working while the registry is ignored, so start-up refuses them with file:line.
 */
function notYetRunnable(config: Config): SyncgateError | null {
  for (const u of config.http?.upstreams ?? []) {
    if (u.upsync) {
      return configError(
        `"upsync" is accepted by -t but registry sync does not run in this version of syncgate; list the servers with "server" lines`,
        u.upsync.origin,
      );
    }
  }
  const visit = (locs: LocationConf[]): LocationConf | null => {
    for (const l of locs) {
      if (l.handler) return l;
      const inner = visit(l.locations);
      if (inner) return inner;
    }
    return null;
  };
  for (const s of config.http?.servers ?? []) {
    const l = visit(s.locations);
    if (l?.handler) {
      return configError(`"${l.handler.kind}" does not run in this version of syncgate yet`, l.origin);
    }
  }
  return null;
}

/** Starts serving `loaded`; resolves with the exit status once stopped by a signal. */
export async function serve(loaded: LoadResult, out: Out): Promise<number> {
  const refused = notYetRunnable(loaded.config);
  if (refused) return printError(out, refused);
  let proxy: ProxyServer;
  try {
    proxy = await ProxyServer.create(loaded);
    await proxy.listen();
  } catch (err) {
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
