/**
 * `syncgate ctl`: puts servers on- and offline where each upstream is managed (its `upsync` registry, a watched
 * file, or a running syncgate's API), learnt from the same configuration as the server. Human tables by default,
 * `--json` for scripts; exit 0 on success, else one line `syncgate ctl: REASON` on stderr and a status from
 * CTL_EXIT. Returns the status instead of exiting, like main().
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { loadConfig } from "../config/adapt.js";
import type { AdaptEnv } from "../config/engine.js";
import type { Config } from "../config/types.js";
import { parseTime } from "../config/values.js";
import { SyncgateError } from "../lib/errors.js";
import { drainServer } from "../control/ctl-drain.js";
import { formatChange, formatDrain, formatList, formatStatus } from "../control/ctl-format.js";
import {
  addServer,
  type ChangeResult,
  changeServer,
  listServers,
  removeServer,
  status,
} from "../control/ctl-ops.js";
import { type CtlTargets, resolveTargets, type TargetFlags } from "../control/ctl-targets.js";
import { ControlError } from "../control/types.js";
import type { Out } from "./output.js";
import { CTL_HELP } from "./ctl-help.js";

/** What ctl needs from its process. */
export interface CtlDeps {
  out: Out;
  env: AdaptEnv;
  cwd: string;
  /** Environment variables ($SYNCGATE_API_AUTH). */
  environ: Record<string, string | undefined>;
}

/** Exit status per ControlError code; every other failure (unreachable, configuration) exits 1. */
export const CTL_EXIT: Record<string, number> = {
  Usage: 2,
  InvalidAddress: 2,
  InvalidValue: 2,
  InvalidUpstream: 2,
  UpstreamNotFound: 3,
  ServerNotFound: 3,
  LastServer: 4,
  ReadOnlySource: 4,
  ApiReadOnly: 4,
  // The API's own codes (NGINX Plus's names), when it answers for the upstream.
  MethodDisabled: 4,
  UpstreamLastServer: 4,
  UpstreamNoBackup: 4,
  EntryExists: 4,
  UpstreamServerNotFound: 3,
  UpstreamConfFormatError: 2,
  UpstreamBadAddress: 2,
  UpstreamBadWeight: 2,
  UpstreamBadServerId: 2,
};

/** Options every subcommand takes. */
interface GlobalFlags extends TargetFlags {
  c?: string;
  p?: string;
  json?: boolean;
}

/** Runs `syncgate ctl ARGV` and returns the exit status. */
export async function ctl(argv: string[], deps: CtlDeps): Promise<number> {
  const { out } = deps;
  const fail = (reason: string, code: number): number => {
    out.stderr(`syncgate ctl: ${reason.replace(/\s*\n\s*/g, " ").trim()}\n`);
    return code;
  };
  if (argv.length === 0)
    return fail("missing command (list, add, remove, down, up, weight, drain, status; see --help)", 2);
  let errText = "";
  const program = buildProgram(deps, (s) => (errText += s));
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help
      // commander's message, with its "(Did you mean ...?)" line joined on.
      const said = (errText || err.message).split("\n").filter((l) => l.trim() !== "");
      return fail(said.join(" ").replace(/^error:\s*/, ""), 2);
    }
    if (err instanceof ControlError) return fail(err.message, CTL_EXIT[err.code] ?? 1);
    if (err instanceof SyncgateError) return fail(err.hint ? `${err.message} (${err.hint})` : err.message, 1);
    return fail((err as Error)?.message ?? String(err), 1);
  }
}

/** `drain --timeout`: nginx time (`30`, `30s`, `1m`, `500ms`) → ms. */
function drainTimeout(text: string): number {
  const ms = parseTime(text);
  if (ms === null) throw new InvalidArgumentError("the timeout must be a time (30, 30s, 1m, 500ms)");
  return ms;
}

function buildProgram(deps: CtlDeps, writeErr: (s: string) => void): Command {
  const { out } = deps;
  const program = new Command("syncgate ctl")
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.stdout(s), writeErr, outputError: (s) => writeErr(s) })
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true })
    .allowExcessArguments(false)
    .option("-c <file>", "configuration file (default: conf/syncgate.conf)")
    .option("-p <prefix>", "prefix path (default: the folder of the configuration file)")
    .option("--json", "print JSON for scripts instead of tables")
    .option("--consul <url>", "Consul agent: every upstream is the KV folder upstreams/UPSTREAM/")
    .option("--etcd <url>", "etcd v3: every upstream is the key prefix /upstreams/UPSTREAM/")
    .option("--etcd-v2 <url>", "etcd v2: every upstream is the directory /v2/keys/upstreams/UPSTREAM")
    .option("--token-file <file>", "Consul ACL token, or etcd user:password, for --consul/--etcd/--etcd-v2")
    .option("--api <url>", "a running syncgate's api location (http://127.0.0.1:8080/api)")
    .option("--auth-file <file>", "user:password for the API's basic auth (else $SYNCGATE_API_AUTH)")
    .addHelpText("after", CTL_HELP);

  /** Loads what the run needs, runs it, prints the result; `body` gets the arguments, then the options. */
  const run =
    <A extends unknown[]>(
      body: (targets: CtlTargets, g: GlobalFlags, ...args: A) => Promise<{ json: unknown; text: string }>,
    ) =>
    async (...args: [...A, Command]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const g = cmd.optsWithGlobals<GlobalFlags>();
      const targets = resolveTargets(loadCtlConfig(g, deps), g, deps.environ);
      const { json, text } = await body(targets, g, ...(args.slice(0, -1) as A));
      out.stdout(g.json ? `${JSON.stringify(json, null, 2)}\n` : text);
    };
  const change = (c: ChangeResult): { json: unknown; text: string } => {
    if (c.warning !== null) out.stderr(`syncgate ctl: warning: ${c.warning}\n`);
    return { json: c, text: formatChange(c) };
  };

  program
    .command("list")
    .argument("[upstream]")
    .description("servers with weight, max_fails, fail_timeout, backup, down, and live state when reachable")
    .action(
      run(async (t, _g, upstream: string | undefined) => {
        const r = await listServers(t, upstream);
        return { json: r, text: formatList(r) };
      }),
    );
  program
    .command("add")
    .argument("<upstream>")
    .argument("<host:port>")
    .description("add a server (or replace its whole value)")
    .option("--weight <n>", "weight (default 1)")
    .option("--max-fails <n>", "max_fails (default 2)")
    .option("--fail-timeout <s>", "fail_timeout, whole seconds: 10, 10s, 1m (default 10)")
    .option("--backup", "a backup server")
    .option("--down", "marked down")
    .action(
      run(async (t, _g, upstream: string, address: string, o: Record<string, unknown>) => {
        const attrs: Record<string, unknown> = {};
        if (o.weight !== undefined) attrs.weight = o.weight;
        if (o.maxFails !== undefined) attrs.max_fails = o.maxFails;
        if (o.failTimeout !== undefined) attrs.fail_timeout = o.failTimeout;
        if (o.backup) attrs.backup = 1;
        if (o.down) attrs.down = 1;
        return change(await addServer(t, upstream, address, attrs));
      }),
    );
  program
    .command("remove")
    .argument("<upstream>")
    .argument("<host:port>")
    .description("remove a server (not the last one of an upstream unless --force)")
    .option("--force", "remove even the last server (running syncgates keep serving it)")
    .action(
      run(async (t, _g, upstream: string, address: string, o: { force?: boolean }) =>
        change(await removeServer(t, upstream, address, o.force === true)),
      ),
    );
  for (const [name, down] of [
    ["down", 1],
    ["up", 0],
  ] as const) {
    program
      .command(name)
      .argument("<upstream>")
      .argument("<host:port>")
      .description(down ? "mark a server down" : "clear a server's down mark")
      .action(
        run(async (t, _g, upstream: string, address: string) =>
          change(await changeServer(t, upstream, address, { down })),
        ),
      );
  }
  program
    .command("weight")
    .argument("<upstream>")
    .argument("<host:port>")
    .argument("<n>", "the new weight (1 or more)")
    .description("set a server's weight")
    .action(
      run(async (t, _g, upstream: string, address: string, weight: string) =>
        change(await changeServer(t, upstream, address, { weight })),
      ),
    );
  program
    .command("drain")
    .argument("<upstream>")
    .argument("<host:port>")
    .description("no new requests; wait for active ones (or the timeout), then remove it (needs the API)")
    .option("--timeout <s>", "longest wait for active connections", drainTimeout, 60_000)
    .option("--force", "drain and remove even the last server")
    .action(
      run(async (t, g, upstream: string, address: string, o: { timeout: number; force?: boolean }) => {
        const d = await drainServer(t, upstream, address, {
          timeoutMs: o.timeout,
          force: o.force === true,
          pollMs: 200,
          progress: (line) => {
            if (!g.json) out.stdout(`${line}\n`);
          },
        });
        if (d.warning !== null) out.stderr(`syncgate ctl: warning: ${d.warning}\n`);
        return { json: d, text: formatDrain(d) };
      }),
    );
  program
    .command("status")
    .argument("[upstream]")
    .description("the running syncgate's health table (needs the API)")
    .action(
      run(async (t, _g, upstream: string | undefined) => {
        const rows = await status(t, upstream);
        return { json: { servers: rows }, text: formatStatus(rows) };
      }),
    );
  return program;
}

/**
 * The configuration, loaded as the server loads it; null when explicit targets are given and neither `-c` nor
 * the default file is there (ctl then works from the targets alone).
 */
function loadCtlConfig(g: GlobalFlags, deps: CtlDeps): Config | null {
  const file = resolve(deps.cwd, g.c ?? "conf/syncgate.conf");
  const explicit = [g.consul, g.etcd, g.etcdV2, g.api].some((v) => v !== undefined);
  if (g.c === undefined && explicit && !existsSync(file)) return null;
  return loadConfig(file, {
    ...(g.p !== undefined ? { prefix: resolve(deps.cwd, g.p) } : {}),
    env: deps.env,
  }).config;
}
