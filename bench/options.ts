/** Benchmark options from flags (`npm run bench -- --rounds 2`) or environment (`BENCH_ROUNDS=2`). */

/** Every proxy the harness knows, in the order the table lists them. */
export const ALL_PROXIES = ["syncgate", "nginx", "haproxy", "http-proxy", "undici"] as const;

/** One proxy's name. */
export type ProxyName = (typeof ALL_PROXIES)[number];

/** What one `npm run bench` does. */
export interface BenchOptions {
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
    const m = /^--(duration|warmup|rounds|conns|proxies|keepalive|tool)(?:=(.*))?$/.exec(arg);
    if (!m?.[1]) throw new UsageError(`unknown option "${arg}"\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${m[1]} needs a value`);
    raw[m[1]] = value;
  }
  const tool = raw.tool ?? "auto";
  if (tool !== "auto" && tool !== "wrk" && tool !== "autocannon") {
    throw new UsageError(`--tool: expected auto, wrk or autocannon, got "${tool}"`);
  }
  const conns = (raw.conns ?? "64,256").split(",").map((c) => positiveInt("--conns", c.trim()));
  return {
    durationS: positiveInt("--duration", raw.duration ?? "5"),
    warmupS: raw.warmup === "0" ? 0 : positiveInt("--warmup", raw.warmup ?? "1"),
    rounds: positiveInt("--rounds", raw.rounds ?? "4"),
    conns,
    proxies: proxyList(raw.proxies ?? ALL_PROXIES.join(",")),
    keepalive: raw.keepalive === undefined ? Math.max(...conns) : positiveInt("--keepalive", raw.keepalive),
    tool,
    save: raw.save !== "0",
  };
}
