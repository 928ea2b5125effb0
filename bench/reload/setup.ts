/**
 * The contenders of `--scenario reload`: nginx and syncgate from the main bench's configs (bench/conf/nginx.conf
 * and syncgate.conf) with `worker_processes N`, the error log at notice (where nginx logs each SIGHUP and each
 * start of new workers) and one more location, `= /generation`, answering the number of the config's
 * generation. A reload writes the next generation's file (temp file + rename) and asks the proxy to reload it
 * — SIGHUP to the pid its pid file names, or `nginx -s reload` / `bin/syncgate -s reload`, both as nginx does;
 * a reload took effect once fresh connections get the new number.
 */
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  editAll,
  fill,
  mainVars,
  nginxArgs,
  replaceLine,
  startContender,
  syncgateCommand,
  template,
  workerProcesses,
  type Contender,
  type Setup,
} from "../contenders.js";
import { processTree } from "../proc-stats.js";
import { capture } from "../procs.js";
import { pidFromFile, writeAtomic } from "../reloads.js";
import { httpGet } from "../sanity.js";

/** A proxy that the harness reloads. */
export interface ReloadContender extends Contender {
  name: "syncgate" | "nginx";
  configFile: string;
  /** `worker_processes` in its config. */
  workers: number;
  errorLog: string;
  pidFile: string;
  /** The generation its config file holds now (0 at start). */
  generation: number;
  /** Processes in its tree once started and idle (nginx: 1 + workers). */
  idleProcs: number;
  /** Writes generation `gen` and asks for a reload; resolves with null, or what failed. */
  reload(gen: number): Promise<string | null>;
}

/** The path a config's `NAME path …;` line names (pid, error_log). */
function pathOf(text: string, name: string): string {
  const m = new RegExp(`^${name} (\\S+?)[ ;]`, "m").exec(text);
  if (!m?.[1]) throw new Error(`config has no ${name} line`);
  return m[1];
}

/** The config of generation `gen`: `workers` worker processes, notice-level error log, `location = /generation`. */
function edits(workers: number, gen: number): (text: string) => string {
  return editAll(
    workerProcesses(workers),
    replaceLine(/^(error_log \S+) warn;$/m, "$1 notice;"),
    replaceLine(
      /^( +)server_name localhost;$/m,
      `$1server_name localhost;\n\n$1location = /generation {\n$1    return 200 "${gen}\\n";\n$1}`,
    ),
  );
}

/** Starts `name` with `workers` worker processes at generation 0; `by` is how `reload` asks. */
export function startReloadContender(
  setup: Setup,
  name: "syncgate" | "nginx",
  port: number,
  workers: number,
  by: "signal" | "command",
): ReloadContender {
  const base = fill(template(setup.root, `${name}.conf`), mainVars(setup, port));
  const text = edits(workers, 0)(base);
  const c = startContender(setup, name, port, () => text);
  const configFile = c.configFile as string;
  const pidFile = pathOf(text, "pid");
  const command: [string, string[]] =
    name === "nginx"
      ? [setup.tools.nginx, nginxArgs(dirname(configFile), configFile)]
      : syncgateCommand(setup.root, configFile);
  const reload = async (gen: number): Promise<string | null> => {
    writeAtomic(configFile, edits(workers, gen)(base));
    r.generation = gen;
    if (by === "command") {
      const done = await capture(
        `${name} -s reload`,
        command[0],
        [...command[1], "-s", "reload"],
        setup.loadCpu,
      );
      return done.code === 0 ? null : `-s reload exited ${done.code}: ${done.stderr.trim().slice(0, 200)}`;
    }
    const pid = pidFromFile(pidFile);
    if (pid === null) return `no pid in ${pidFile}`;
    // Only a process the benchmark started is signalled, whatever a stale pid file says.
    if (!processTree(c.proc.pid).includes(pid)) return `${pidFile} names ${pid}, not ${name}'s process`;
    try {
      process.kill(pid, "SIGHUP");
      return null;
    } catch (err) {
      return `kill(${pid}, SIGHUP): ${(err as Error).message}`;
    }
  };
  const r: ReloadContender = {
    ...c,
    name,
    configFile,
    workers,
    errorLog: pathOf(text, "error_log"),
    pidFile,
    generation: 0,
    idleProcs: 0,
    reload,
  };
  return r;
}

/** When a generation was served: how long it took, and the fresh-connection polls that failed meanwhile. */
export interface Served {
  /** From the start of the wait to the first of `confirm` polls in a row that showed it, ms; null: not seen. */
  ms: number | null;
  /** Polls answered with an error, a status other than 200 or no answer (a fresh connection refused...). */
  failedPolls: number;
}

/**
 * Polls `GET /generation` on fresh connections (~5 ms apart; the confirming ones back to back) until `confirm`
 * answers in a row are generation `gen` (with several workers, one answer may come from a worker that has not
 * reloaded yet), or `timeoutMs`.
 */
export async function waitGeneration(
  port: number,
  gen: number,
  confirm: number,
  timeoutMs: number,
): Promise<Served> {
  const started = performance.now();
  let failedPolls = 0;
  let streak = 0;
  let streakStart = 0;
  while (performance.now() - started < timeoutMs) {
    const sent = performance.now();
    try {
      const r = await httpGet(port, "/generation", 1000);
      if (r.status !== 200) failedPolls++;
      if (r.status === 200 && r.body === `${gen}\n`) {
        if (streak++ === 0) streakStart = sent;
        if (streak >= confirm) return { ms: streakStart - started, failedPolls };
        continue;
      }
    } catch {
      failedPolls++;
    }
    streak = 0;
    await sleep(5);
  }
  return { ms: null, failedPolls };
}

/** Waits until `c`'s process tree is back to its idle size (old workers gone); the ms it took, or null. */
export async function waitSettled(c: ReloadContender, timeoutMs: number): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (processTree(c.proc.pid).length <= c.idleProcs) return performance.now() - started;
    await sleep(20);
  }
  return null;
}
