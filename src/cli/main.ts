/**
 * The `syncgate` command with nginx's flags and meanings: -c, -p, -g, -t, -T, -q, -v, -V, -h, -s.
 * Returns the exit status instead of exiting, so tests can run it in-process.
 */
import { closeSync, openSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { loadConfig, type LoadResult } from "../config/adapt.js";
import type { AdaptEnv } from "../config/engine.js";
import type { Config, HttpSettings, LocationConf } from "../config/types.js";
import { errnoText, SyncgateError } from "../lib/errors.js";
import { VERSION } from "../version.js";
import { logLine, type Out, printError, printMessages, processOut } from "./output.js";
import { sendSignal, SIGNALS } from "./signal.js";
import { serve } from "../runtime/serve.js";
import { systemEnv } from "./system.js";
import { ctl } from "./ctl.js";

/** Options as parsed from the command line. */
interface Flags {
  c?: string;
  p?: string;
  g?: string;
  s?: string;
  t?: boolean;
  T?: boolean;
  q?: boolean;
  v?: boolean;
  V?: boolean;
  h?: boolean;
}

const USAGE = `Usage: syncgate [-hvVtTq] [-s signal] [-p prefix] [-c filename] [-g directives]

Options:
  -h            : this help
  -v            : show version and exit
  -V            : show version and build information, then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a running syncgate: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: the folder of the configuration file)
  -c filename   : set configuration file (default: conf/syncgate.conf)
  -g directives : set global directives out of configuration file
`;

/** What starts the server once the configuration is loaded (the data plane registers it). */
/** Serves a loaded configuration; `reread` loads it again the same way (SIGHUP). */
export type Serve = (loaded: LoadResult, out: Out, reread: () => LoadResult) => Promise<number>;

/** Dependencies of the command, injectable for tests. */
export interface MainDeps {
  out: Out;
  env: AdaptEnv;
  cwd: string;
  serve: Serve | null;
}

/** Runs the command line `argv` (without "node" and the script) and returns the exit status. */
export async function main(argv: string[], deps: Partial<MainDeps> = {}): Promise<number> {
  const out = deps.out ?? processOut;
  const env = deps.env ?? systemEnv();
  const cwd = deps.cwd ?? process.cwd();
  if (argv[0] === "ctl") return ctl(argv.slice(1), { out, env, cwd, environ: process.env });

  let flags: Flags;
  try {
    flags = parseFlags(argv, out);
  } catch (err) {
    if (err instanceof CommanderError) {
      out.stderr(`syncgate: ${usageError(err)}\n`);
      return 1;
    }
    throw err;
  }
  if (flags.s !== undefined && !SIGNALS[flags.s]) {
    out.stderr(`syncgate: invalid option: "-s ${flags.s}"\n`);
    return 1;
  }

  if (flags.h) {
    out.stderr(`syncgate version: syncgate/${VERSION}\n${USAGE}`);
    return 0;
  }
  if (flags.v || flags.V) {
    out.stderr(`syncgate version: syncgate/${VERSION}\n`);
    if (flags.V) out.stderr(`built with Node.js ${process.version}\nconfigure arguments: none\n`);
    if (!flags.t && !flags.T) return 0;
  }

  const file = resolve(cwd, flags.c ?? "conf/syncgate.conf");
  const testing = Boolean(flags.t || flags.T);
  let loaded: LoadResult;
  const load = (): LoadResult =>
    loadConfig(file, {
      ...(flags.p !== undefined ? { prefix: resolve(cwd, flags.p) } : {}),
      ...(flags.g !== undefined ? { globals: flags.g } : {}),
      env,
    });
  try {
    loaded = load();
    if (testing) checkLogFiles(loaded.config);
  } catch (err) {
    const status = printError(out, err);
    if (testing) out.stderr(`syncgate: configuration file ${file} test failed\n`);
    return status;
  }

  if (flags.s !== undefined) {
    try {
      sendSignal(flags.s, loaded.config.main.pid);
      return 0;
    } catch (err) {
      return printError(out, err);
    }
  }

  if (testing) {
    printMessages(
      out,
      flags.q ? loaded.messages.filter((m) => m.level !== "notice" && m.level !== "info") : loaded.messages,
    );
    if (!flags.q) {
      out.stderr(`syncgate: the configuration file ${file} syntax is ok\n`);
      out.stderr(`syncgate: configuration file ${file} test is successful\n`);
    }
    if (flags.T) {
      for (const f of loaded.files) out.stdout(`# configuration file ${f.path}:\n${f.text}\n`);
    }
    return 0;
  }

  printMessages(out, loaded.messages);
  const run = deps.serve === undefined ? serve : deps.serve;
  if (!run) {
    logLine(out, "emerg", "serving is disabled in this embedding");
    return 1;
  }
  return run(loaded, out, load);
}

const REQUIRES: Record<string, string> = {
  c: "file name",
  p: "directory name",
  g: "parameter",
  s: "parameter",
};

/** nginx's words for a bad command line. */
function usageError(err: CommanderError): string {
  const opt = /'-(.)/.exec(err.message)?.[1] ?? "";
  if (err.code === "commander.optionMissingArgument")
    return `option "-${opt}" requires ${REQUIRES[opt] ?? "parameter"}`;
  if (err.code === "commander.unknownOption") return `invalid option: "${opt}"`;
  const arg = /'([^']*)'/.exec(err.message)?.[1] ?? err.message;
  return `invalid option: "${arg}"`;
}

function parseFlags(argv: string[], out: Out): Flags {
  const program = new Command("syncgate")
    .helpOption(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.stdout(s), writeErr: () => {} })
    .allowExcessArguments(false)
    .option("-c <filename>")
    .option("-p <prefix>")
    .option("-g <directives>")
    .option("-s <signal>")
    .option("-t")
    .option("-T")
    .option("-q")
    .option("-v")
    .option("-V")
    .option("-h")
    .option("-?");
  program.parse(argv, { from: "user" });
  const o = program.opts<Flags & { "?"?: boolean }>();
  if (o["?"]) o.h = true;
  return o;
}

/** Opens every log file the configuration names, creating it, as `nginx -t` does. */
function checkLogFiles(config: Config): void {
  const paths = new Set<string>(config.main.errorLog.map((e) => e.path));
  const add = (settings: HttpSettings): void => {
    for (const a of settings.accessLog ?? []) paths.add(a.path);
    for (const e of settings.errorLog ?? []) paths.add(e.path);
  };
  const walk = (locations: LocationConf[]): void => {
    for (const l of locations) {
      add(l.settings);
      walk(l.locations);
    }
  };
  if (config.http) add(config.http.settings);
  for (const s of config.http?.servers ?? []) {
    add(s.settings);
    walk(s.locations);
  }
  for (const p of paths) {
    if (p === "stderr" || p.includes("$")) continue;
    try {
      closeSync(openSync(p, "a"));
    } catch (err) {
      throw new SyncgateError("SG_ERR_IO", `open() "${p}" failed ${errnoText(err)}`);
    }
  }
}
