/** Benchmark options from flags (`npm run bench -- --rounds 2`) or environment (`BENCH_ROUNDS=2`). */

/** Every proxy the harness knows, in the order the table lists them. */
export const ALL_PROXIES = ["syncgate", "nginx", "haproxy", "http-proxy", "undici"] as const;

/** One proxy's name. */
export type ProxyName = (typeof ALL_PROXIES)[number];

/**
 * Which benchmark runs: the proxies side by side (the default), registry churn and propagation, the cost of
 * active health checks, reloads under load, or one worker process against two.
 */
export type Scenario = "proxies" | "churn" | "checks" | "reload" | "workers";

const SCENARIOS: readonly Scenario[] = ["proxies", "churn", "checks", "reload", "workers"];

/** `--scenario churn` (issue 4 items 8 and 9): syncgate following a registry vs nginx reloading. */
export interface ChurnOptions {
  /** Registry changes per second during each churn run. */
  rate: number;
  /** Backends in the pool the registry draws from. */
  backends: number;
  /** Propagation samples with no other traffic. */
  samples: number;
  /** Seed of round 1's change sequence (round N uses seed + N - 1), for replaying a run. */
  seed: number;
}

/** `--scenario checks` (issue 5 item 6): syncgate's CPU per request with and without probing many servers. */
export interface ChecksOptions {
  /** Servers of the extra upstream, each a real listener, probed every `intervalMs` in the runs with checks. */
  servers: number;
  /** `check type=`: http (the realistic case) or tcp (the cheap one). */
  type: "http" | "tcp";
  /** `check interval=` in milliseconds. */
  intervalMs: number;
  /**
   * `check_keepalive_requests` (http only): 1, the module's default, opens a connection per probe with the module's
   * `GET / HTTP/1.0`; N > 1 sends `GET / HTTP/1.1` with a Host header, so up to N probes share one connection.
   */
  keepalive: number;
}

/** `--scenario reload`: requests lost while nginx and syncgate reload a changed configuration under load. */
export interface ReloadOptions {
  /** `worker_processes` of both contenders. */
  workers: number;
  /** A reload every this many milliseconds (the next one waits until the last took effect or timed out). */
  everyMs: number;
  /** How the harness asks for a reload: SIGHUP to the pid in the pid file, or the `-s reload` command. */
  by: "signal" | "command";
}

/** `--scenario workers`: throughput and CPU of syncgate and nginx at each `worker_processes` count. */
export interface WorkersOptions {
  /** The `worker_processes` counts, each run for both proxies. */
  workers: number[];
}

/** What one `npm run bench` does. */
export interface BenchOptions {
  /** The benchmark to run. */
  scenario: Scenario;
  /** Seconds per measured run. */
  durationS: number;
  /** Seconds of warm-up load before each measured run. */
  warmupS: number;
  /** Interleaved rounds; each reports its median over rounds. */
  rounds: number;
  /** Client connection counts, each measured every round. */
  conns: number[];
  /** Proxies to run (nginx is always included: every ratio is to nginx). */
  proxies: ProxyName[];
  /**
   * `keepalive N` of the nginx and syncgate upstream: idle connections cached per worker. The default is the
   * largest connection count, so no upstream connection is closed under load; with fewer (nginx docs use
   * 64), nginx closes and reopens thousands of connections per run at 256 clients, and the TIME_WAIT sockets
   * this leaves slow every later run of every proxy for a minute.
   */
  keepalive: number;
  /** Load generator: wrk unless it cannot be had, or forced. */
  tool: "auto" | "wrk" | "autocannon";
  /** Write bench/results/*.md and .json. */
  save: boolean;
  /** Set with `--scenario churn`, else null. */
  churn: ChurnOptions | null;
  /** Set with `--scenario checks`, else null. */
  checks: ChecksOptions | null;
  /** Set with `--scenario reload`, else null. */
  reload: ReloadOptions | null;
  /** Set with `--scenario workers`, else null. */
  workers: WorkersOptions | null;
}

const USAGE = `usage: npm run bench -- [options]   (or the BENCH_* environment variables)
  --duration S     seconds per measured run            BENCH_DURATION   default 5
  --warmup S       seconds of warm-up before each run  BENCH_WARMUP     default 1
  --rounds N       interleaved rounds                  BENCH_ROUNDS     default 4
  --conns A,B      client connection counts            BENCH_CONNS      default 64,256
  --proxies A,B    a subset of the proxies             BENCH_PROXIES    default all: ${ALL_PROXIES.join(",")}
  --keepalive N    nginx/syncgate upstream keepalive   BENCH_KEEPALIVE  default the largest --conns
  --tool T         auto | wrk | autocannon             BENCH_TOOL       default auto
  --no-save        print only, write no results        BENCH_SAVE=0
  --scenario S     proxies|churn|checks|reload|workers BENCH_SCENARIO   default proxies
  --churn          short for --scenario churn
  --checks         short for --scenario checks

--scenario churn: syncgate following a Consul KV folder (the Consul API double) vs nginx rewriting its server
file + reload, under wrk while the membership changes; then syncgate's propagation delay (registry write
acknowledged -> upstream_show lists it). Runs syncgate and nginx only (--proxies is ignored); there --duration
defaults to 10, --conns to 64 and --rounds to 3.
  --rate N         registry changes per second         BENCH_CHURN_RATE      default 20
  --backends N     backends in the pool (at least 4)   BENCH_CHURN_BACKENDS  default 8
  --samples N      propagation samples, no load        BENCH_SAMPLES         default 300
  --seed N         seed of the change sequence         BENCH_SEED            default from the clock

--scenario checks: syncgate alone, started afresh for each run, alternately without and with active health
checks of an extra upstream of --servers real listeners (one nginx worker on CPU 1) and of the traffic's own
upstream; CPU µs per request with checks ÷ without (target ≤ 1.10). There --duration defaults to 10, --conns
to 64, --warmup to 2 and --rounds to 5; --proxies is ignored.
  --servers N      checked servers (the extra upstream) BENCH_CHECK_SERVERS  default 2000
  --check-type T   http | tcp                          BENCH_CHECK_TYPE     default http
  --interval MS    check interval, milliseconds        BENCH_CHECK_INTERVAL default 1000
  --check-keepalive N  check_keepalive_requests (http) BENCH_CHECK_KEEPALIVE default 1
                   N > 1: probes send GET / HTTP/1.1 + Host, up to N on one connection

--scenario reload: nginx and syncgate (same worker count), each under wrk while the harness reloads it again
and again with a changed config (a /generation location answering the reload's number), checking that each
reload took effect; requests, failed requests, failed per reload. Nothing is pinned (the proxy's workers
share both cores with wrk). There --duration defaults to 10, --conns to 64 and --rounds to 3.
  --workers N        worker_processes of both          BENCH_WORKERS       default 2
  --reload-every MS  milliseconds between reloads      BENCH_RELOAD_EVERY  default 500
  --reload-by H      signal (SIGHUP to the pid file's pid) or command (-s reload)
                                                       BENCH_RELOAD_BY     default signal

--scenario workers: syncgate and nginx at each worker count, nothing pinned (wrk shares both cores with the
proxy); medians, syncgate ÷ nginx at the same count, and N workers ÷ 1 worker. Defaults as the main bench's.
  --workers A,B      worker_processes counts           BENCH_WORKERS       default 1,2
`;

/** Thrown for a bad flag; the message is meant for the user. */
export class UsageError extends Error {}

function positiveInt(name: string, text: string): number {
  const value = Number(text.replace(/s$/, ""));
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`${name}: expected a positive integer, got "${text}"`);
  return value;
}

function proxyList(text: string): ProxyName[] {
  const names = text.split(",").map((s) => s.trim());
  for (const name of names) {
    if (!(ALL_PROXIES as readonly string[]).includes(name)) {
      throw new UsageError(`unknown proxy "${name}" (known: ${ALL_PROXIES.join(", ")})`);
    }
  }
  const chosen = new Set<string>([...names, "nginx"]);
  return ALL_PROXIES.filter((p) => chosen.has(p));
}

/** Parses argv (without node and script) over the environment; returns null after printing help. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions | null {
  const raw: Record<string, string | undefined> = {
    duration: env.BENCH_DURATION,
    warmup: env.BENCH_WARMUP,
    rounds: env.BENCH_ROUNDS,
    conns: env.BENCH_CONNS,
    proxies: env.BENCH_PROXIES,
    keepalive: env.BENCH_KEEPALIVE,
    tool: env.BENCH_TOOL,
    save: env.BENCH_SAVE,
    scenario: env.BENCH_SCENARIO,
    rate: env.BENCH_CHURN_RATE,
    backends: env.BENCH_CHURN_BACKENDS,
    samples: env.BENCH_SAMPLES,
    seed: env.BENCH_SEED,
    servers: env.BENCH_CHECK_SERVERS,
    "check-type": env.BENCH_CHECK_TYPE,
    interval: env.BENCH_CHECK_INTERVAL,
    "check-keepalive": env.BENCH_CHECK_KEEPALIVE,
    workers: env.BENCH_WORKERS,
    "reload-every": env.BENCH_RELOAD_EVERY,
    "reload-by": env.BENCH_RELOAD_BY,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(USAGE);
      return null;
    }
    if (arg === "--no-save") {
      raw.save = "0";
      continue;
    }
    if (arg === "--churn") {
      raw.scenario = "churn";
      continue;
    }
    if (arg === "--checks") {
      raw.scenario = "checks";
      continue;
    }
    const m =
      /^--(duration|warmup|rounds|conns|proxies|keepalive|tool|scenario|rate|backends|samples|seed|servers|check-type|check-keepalive|interval|workers|reload-every|reload-by)(?:=(.*))?$/.exec(
        arg,
      );
    if (!m?.[1]) throw new UsageError(`unknown option "${arg}"\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${m[1]} needs a value`);
    raw[m[1]] = value;
  }
  const tool = raw.tool ?? "auto";
  if (tool !== "auto" && tool !== "wrk" && tool !== "autocannon") {
    throw new UsageError(`--tool: expected auto, wrk or autocannon, got "${tool}"`);
  }
  const scenario = (raw.scenario ?? "proxies") as Scenario;
  if (!SCENARIOS.includes(scenario)) {
    throw new UsageError(`--scenario: expected ${SCENARIOS.join(", ")}, got "${scenario}"`);
  }
  const only = (flags: string[], mine: Scenario[]): void => {
    if (mine.includes(scenario)) return;
    const stray = flags.find((k) => argv.some((a) => a === `--${k}` || a.startsWith(`--${k}=`)));
    if (stray !== undefined) {
      throw new UsageError(`--${stray} applies to --scenario ${mine.join(" or ")} only`);
    }
  };
  only(["rate", "backends", "samples", "seed"], ["churn"]);
  only(["servers", "check-type", "check-keepalive", "interval"], ["checks"]);
  only(["workers"], ["reload", "workers"]);
  only(["reload-every", "reload-by"], ["reload"]);
  // The scenario's own defaults where the main bench's would not fit.
  const d = DEFAULTS[scenario];
  const conns = (raw.conns ?? d.conns).split(",").map((c) => positiveInt("--conns", c.trim()));
  return {
    scenario,
    durationS: positiveInt("--duration", raw.duration ?? d.duration),
    warmupS: raw.warmup === "0" ? 0 : positiveInt("--warmup", raw.warmup ?? d.warmup),
    rounds: positiveInt("--rounds", raw.rounds ?? d.rounds),
    conns,
    proxies:
      scenario === "proxies"
        ? proxyList(raw.proxies ?? ALL_PROXIES.join(","))
        : scenario === "checks"
          ? ["syncgate"]
          : ["syncgate", "nginx"],
    keepalive: raw.keepalive === undefined ? Math.max(...conns) : positiveInt("--keepalive", raw.keepalive),
    tool,
    save: raw.save !== "0",
    churn: scenario === "churn" ? churnOptions(raw) : null,
    checks: scenario === "checks" ? checksOptions(raw) : null,
    reload: scenario === "reload" ? reloadOptions(raw) : null,
    workers:
      scenario === "workers"
        ? {
            workers: [...new Set((raw.workers ?? "1,2").split(",").map((w) => workerCount(w.trim())))].sort(
              (a, b) => a - b,
            ),
          }
        : null,
  };
}

/** Each scenario's defaults of the common flags. */
const DEFAULTS: Record<Scenario, { duration: string; warmup: string; rounds: string; conns: string }> = {
  proxies: { duration: "5", warmup: "1", rounds: "4", conns: "64,256" },
  churn: { duration: "10", warmup: "1", rounds: "3", conns: "64" },
  checks: { duration: "10", warmup: "2", rounds: "5", conns: "64" },
  reload: { duration: "10", warmup: "1", rounds: "3", conns: "64" },
  workers: { duration: "5", warmup: "1", rounds: "4", conns: "64,256" },
};

/** A `worker_processes` count: 1 to 64. */
function workerCount(text: string): number {
  const n = positiveInt("--workers", text);
  if (n > 64) throw new UsageError(`--workers: at most 64, got ${n}`);
  return n;
}

function reloadOptions(raw: Record<string, string | undefined>): ReloadOptions {
  const by = raw["reload-by"] ?? "signal";
  if (by !== "signal" && by !== "command") {
    throw new UsageError(`--reload-by: expected signal or command, got "${by}"`);
  }
  const everyMs = positiveInt("--reload-every", raw["reload-every"] ?? "500");
  if (everyMs < 50) throw new UsageError(`--reload-every: at least 50 ms, got ${everyMs}`);
  return { workers: workerCount(raw.workers ?? "2"), everyMs, by };
}

function checksOptions(raw: Record<string, string | undefined>): ChecksOptions {
  const servers = positiveInt("--servers", raw.servers ?? "2000");
  // Each is a port of 127.0.0.1 from the ephemeral range (which must keep room for the probes' own), held open
  // by the harness while it picks them.
  if (servers > 10_000) throw new UsageError(`--servers: at most 10000, got ${servers}`);
  const type = raw["check-type"] ?? "http";
  if (type !== "http" && type !== "tcp") {
    throw new UsageError(`--check-type: expected http or tcp, got "${type}"`);
  }
  const keepalive = positiveInt("--check-keepalive", raw["check-keepalive"] ?? "1");
  if (keepalive > 1 && type !== "http") {
    throw new UsageError(`--check-keepalive: check_keepalive_requests applies to --check-type http only`);
  }
  return { servers, type, intervalMs: positiveInt("--interval", raw.interval ?? "1000"), keepalive };
}

function churnOptions(raw: Record<string, string | undefined>): ChurnOptions {
  const backends = positiveInt("--backends", raw.backends ?? "8");
  if (backends < 4)
    throw new UsageError(`--backends: at least 4 (the churn needs servers to add and swap in)`);
  const seed = raw.seed === undefined ? Date.now() % 1_000_000 : Number(raw.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new UsageError(`--seed: expected a non-negative integer, got "${raw.seed}"`);
  }
  return {
    rate: positiveInt("--rate", raw.rate ?? "20"),
    backends,
    samples: positiveInt("--samples", raw.samples ?? "300"),
    seed,
  };
}
