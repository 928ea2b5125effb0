/**
 * `worker_processes 1` (without `user`): one process syncs, probes and serves. A reload builds the new configuration next to the
 * running one and hands over (ProxyServer.commit), so requests in flight finish on the old one.
 */
import type { LoadResult } from "../config/adapt.js";
import type { LogLevel } from "../lib/errors.js";
import { type CloseMode, ProxyServer } from "../proxy/server.js";
import type { Runtime } from "./types.js";

/** The whole server in this process. */
export class SingleProcess implements Runtime {
  private constructor(private proxy: ProxyServer) {}

  /** Syncs registries, runs the first round of checks, binds. (With `user`, serve() starts a primary instead.) */
  static async start(loaded: LoadResult): Promise<SingleProcess> {
    const proxy = await ProxyServer.create(loaded);
    try {
      await proxy.start();
      await proxy.listen();
    } catch (err) {
      await proxy.close();
      throw err;
    }
    return new SingleProcess(proxy);
  }

  log(level: LogLevel, message: string): void {
    this.proxy.errorLog.log(level, message);
  }

  get generation(): number {
    return this.proxy.checker.generation;
  }

  async reload(loaded: LoadResult): Promise<void> {
    this.proxy = await ProxyServer.reload(this.proxy, loaded);
  }

  reopen(): Promise<void> {
    return this.proxy.reopenLogs();
  }

  stop(mode: CloseMode): Promise<void> {
    return this.proxy.close(mode);
  }
}
