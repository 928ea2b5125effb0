/**
 * A cluster worker (`worker_processes N`, N > 1): serves requests on the listeners it shares with the other
 * workers, with the configuration and upstream state the primary sends; it neither syncs registries nor probes.
 * Status pages and the admin API are answered by the primary, which sums every worker's counters. Passive health
 * (max_fails) stays in each worker, as in nginx. Signals are the primary's business: a worker ignores the ones a
 * terminal sends its whole process group, and exits when the primary goes away.
 */
import type { Config } from "../config/types.js";
import { type ProxyServer, ProxyServer as Proxy, type RemoteHandlers } from "../proxy/server.js";
import type { ShowResponse } from "../status/upstream-show.js";
import {
  applyState,
  type ToPrimary,
  type ToWorker,
  upstreamCounters,
  type UpstreamState,
} from "./messages.js";
import { dropPrivileges } from "./privileges.js";
import { reusePortWorks } from "./reuse-port.js";

/** How long a worker waits for the primary to answer a status page or API request. */
const ASK_TIMEOUT = 30_000;

function send(m: ToPrimary): void {
  process.send?.(m);
}

/** Runs this process as a cluster worker until the primary stops it. */
export function runWorker(): void {
  for (const s of ["SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const)
    process.on(s, () => undefined);
  const worker = new Worker();
  process.on("message", (m: ToWorker) => {
    worker.receive(m).catch((err: unknown) => {
      worker.log("alert", `worker: ${String((err as Error)?.stack ?? err)}`);
    });
  });
  send({ t: "hello" });
}

/** Applies the primary's state of each upstream `proxy` has. */
function applyAll(proxy: ProxyServer, upstreams: readonly UpstreamState[]): void {
  const now = Date.now();
  for (const s of upstreams) {
    const u = proxy.upstreams.get(s.name);
    if (u) applyState(u, s, now);
  }
}

class Worker {
  private proxy: ProxyServer | null = null;
  private gen = 0;
  private listening = false;
  private lastAsk = 0;
  private readonly asks = new Map<number, (r: ShowResponse) => void>();
  /** State that arrived for a generation this worker is still loading. */
  private early: { gen: number; upstreams: UpstreamState[] } | null = null;
  private readonly remote: RemoteHandlers = {
    show: (handler, req) => this.ask((id) => ({ t: "show", id, handler, req })),
    api: (write, req) => this.ask((id) => ({ t: "api", id, write, req })),
  };

  log(level: "alert" | "emerg" | "notice", message: string): void {
    if (this.proxy) this.proxy.errorLog.log(level, message);
    else process.stderr.write(`syncgate: [${level}] ${message}\n`);
  }

  async receive(m: ToWorker): Promise<void> {
    switch (m.t) {
      case "config":
        await this.start(m.gen, m.config);
        return;
      case "reload":
        await this.reload(m.gen, m.config, m.upstreams);
        return;
      case "state":
        this.state(m.gen, m.upstreams);
        return;
      case "answer":
        this.asks.get(m.id)?.(m.response);
        this.asks.delete(m.id);
        return;
      case "counters?": {
        const upstreams = this.proxy ? [...this.proxy.upstreams.values()].map(upstreamCounters) : [];
        send({ t: "counters", id: m.id, upstreams });
        return;
      }
      case "reopen":
        await this.proxy?.reopenLogs();
        return;
      case "stop":
        await this.proxy?.close(
          m.graceful ? { graceful: true, timeoutMs: m.timeoutMs } : { graceful: false },
        );
        process.exit(0);
    }
  }

  /** Builds the first configuration; listens once the primary's state for it has arrived. */
  private async start(gen: number, config: Config): Promise<void> {
    try {
      this.proxy = await Proxy.create(
        { config, files: [], messages: [] },
        { remote: this.remote, reusePort: await reusePortWorks() },
      );
      this.gen = gen;
      if (this.early?.gen === gen) this.state(gen, this.early.upstreams);
    } catch (err) {
      this.fail(gen, err);
    }
  }

  private async reload(gen: number, config: Config, upstreams: UpstreamState[]): Promise<void> {
    const previous = this.proxy;
    if (!previous) return;
    let next: ProxyServer;
    try {
      next = await Proxy.reload(
        previous,
        { config, files: [], messages: [] },
        { remote: this.remote, reusePort: await reusePortWorks() },
        (n) => applyAll(n, upstreams),
      );
    } catch (err) {
      send({ t: "failed", gen, message: String((err as Error).message ?? err) });
      return;
    }
    this.proxy = next;
    this.gen = gen;
    send({ t: "ready", gen });
  }

  /** Applies the primary's upstream state for generation `gen`; the first one opens the listeners. */
  private state(gen: number, upstreams: UpstreamState[]): void {
    const proxy = this.proxy;
    if (!proxy || gen !== this.gen) {
      if (gen > this.gen) this.early = { gen, upstreams };
      return;
    }
    this.early = null;
    applyAll(proxy, upstreams);
    if (!this.listening) {
      this.listening = true;
      void this.listen(proxy, gen);
    }
  }

  private async listen(proxy: ProxyServer, gen: number): Promise<void> {
    try {
      await proxy.listen();
      dropPrivileges(proxy.config);
    } catch (err) {
      this.fail(gen, err);
      return;
    }
    send({ t: "ready", gen });
  }

  /** A worker that cannot start tells the primary why and exits (the primary decides what follows). */
  private fail(gen: number, err: unknown): void {
    send({ t: "failed", gen, message: String((err as Error)?.message ?? err) });
    process.disconnect?.();
    setTimeout(() => process.exit(1), 100).unref();
  }

  private ask(make: (id: number) => ToPrimary): Promise<ShowResponse> {
    const id = ++this.lastAsk;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.asks.delete(id);
        reject(new Error(`no answer from the primary within ${ASK_TIMEOUT} ms`));
      }, ASK_TIMEOUT);
      this.asks.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      send(make(id));
    });
  }
}
