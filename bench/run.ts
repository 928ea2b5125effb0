/**
 * `npm run bench`: syncgate side by side with nginx, HAProxy, http-proxy and a minimal undici proxy on this
 * machine, interleaved rounds, medians and ratios to nginx in one table (DESIGN §5–§7).
 * Everything it starts runs in its own process group and is stopped at the end, on errors and on Ctrl-C.
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runChecksScenario } from "./checks/scenario.js";
import { runChurnScenario } from "./churn/scenario.js";
import { baseSetup, startBackendsReady, startContender, type Contender, type Setup } from "./contenders.js";
import { checkGoals } from "./goals.js";
import { measure, NO_RUN, progress } from "./measure.js";
import { parseOptions, UsageError } from "./options.js";
import { processTree } from "./proc-stats.js";
import { runReloadScenario } from "./reload/scenario.js";
import { outputTail, stop, stopAll } from "./procs.js";
import { saveReport, summaryTable, type Report } from "./report.js";
import { checkBehaviour, freePorts, waitReady } from "./sanity.js";
import {
  cleanUpOnExit,
  cleanupSync,
  interleavedRounds,
  notPinnedNote,
  OTHER_CPU_LIMIT,
  prepare,
  redoWhenNoisy,
  sayEnding,
} from "./scenario.js";
import { summarize, type RunRecord, type Summary } from "./stats.js";
import { runWorkersScenario } from "./workers/scenario.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const wrkScript = join(root, "bench", "wrk-report.lua");

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Multi-line process output as one markdown-safe line. */
function oneLine(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ⏎ ");
}

/** Observations worth a reader's attention, from the medians. */
function observations(summaries: Summary[]): string[] {
  const notes: string[] = [];
  for (const s of summaries) {
    const who = `${s.proxy} at ${s.conns} connections`;
    if (s.cpu1BusyPct !== null && s.cpu1BusyPct >= 95) {
      const proxyBusy = s.cpu0BusyPct === null ? "" : ` (CPU 0, the proxy: ${s.cpu0BusyPct.toFixed(0)}%)`;
      notes.push(
        `${who}: CPU 1 (wrk + backends) was ${s.cpu1BusyPct.toFixed(0)}% busy${proxyBusy}: the load side may cap it.`,
      );
    }
    if (s.cpu0BusyPct !== null && s.cpu0BusyPct < 85) {
      notes.push(
        `${who}: CPU 0 (the proxy) was only ${s.cpu0BusyPct.toFixed(0)}% busy — the proxy was not saturated.`,
      );
    }
    const spread = s.rps > 0 ? (s.rpsMax - s.rpsMin) / s.rps : 0;
    if (spread > 0.25)
      notes.push(`${who}: req/s varied ${(spread * 100).toFixed(0)}% across rounds (noisy).`);
    if (s.otherCpuPct !== null && s.otherCpuPct > 10) {
      notes.push(
        `${who}: other processes on the machine used ${s.otherCpuPct.toFixed(0)}% of a core during its runs (median).`,
      );
    }
    if (s.tcpConnects > 2 * s.conns) {
      notes.push(
        `${who}: ${Math.round(s.tcpConnects)} TCP connections opened per run (wrk opens ${s.conns}): upstream connections churn.`,
      );
    }
    if (s.errors > 0) notes.push(`${who}: ${s.errors} errors.`);
    if (s.logPerRequest !== null && s.logPerRequest < 0.9) {
      notes.push(
        `${who}: only ${s.logPerRequest.toFixed(2)} access log lines per request (log buffered or lost).`,
      );
    }
  }
  return notes;
}

async function main(argv: string[]): Promise<number> {
  const opts = parseOptions(argv, process.env);
  if (opts === null) return 0;
  const ctx = await prepare(root, opts, wrkScript, say);
  const { info } = ctx;
  if (opts.scenario === "churn") {
    say(
      `bench: registry churn, ${info.nproc} CPUs (${info.cpuModel}), Node ${info.node}, ${info.nginx}, ${info.loadTool}`,
    );
    return runChurnScenario(ctx);
  }
  if (opts.scenario === "checks") {
    const c = opts.checks;
    say(
      `bench: active health checks (${c?.servers} servers, type=${c?.type}, interval=${c?.intervalMs}), ` +
        `${info.nproc} CPUs (${info.cpuModel}), Node ${info.node}, ${info.nginx}, ${info.loadTool}`,
    );
    return runChecksScenario(ctx);
  }
  if (opts.scenario === "reload") {
    say(
      `bench: reloads under load (${opts.reload?.workers} workers, a reload every ${opts.reload?.everyMs} ms), ` +
        `${info.nproc} CPUs (${info.cpuModel}), Node ${info.node}, ${info.nginx}, ${info.loadTool}`,
    );
    return runReloadScenario(ctx);
  }
  if (opts.scenario === "workers") {
    say(
      `bench: worker processes ${opts.workers?.workers.join(" and ")}, ${info.nproc} CPUs (${info.cpuModel}), ` +
        `Node ${info.node}, ${info.nginx}, ${info.loadTool}`,
    );
    return runWorkersScenario(ctx);
  }
  const notes: string[] = [];
  if (!ctx.pinned) notes.push(notPinnedNote("the proxy"));
  const ports = await freePorts(2 + opts.proxies.length);
  const setup: Setup = { ...baseSetup(ctx), backends: [ports[0] as number, ports[1] as number] };
  say(
    `bench: ${info.nproc} CPUs (${info.cpuModel}), Node ${info.node}, ${info.nginx}, ${info.haproxy}, ${info.loadTool}`,
  );

  const backends = await startBackendsReady(setup);
  const backendPids = processTree(backends.pid);
  const contenders: Contender[] = [];
  for (const [i, name] of opts.proxies.entries()) {
    const c = startContender(setup, name, ports[2 + i] as number);
    try {
      await waitReady(c.proc, c.port, "/healthz");
    } catch (err) {
      await stop(c.proc);
      if (name === "nginx") throw err;
      say(`bench: ${name} did not start; leaving it out.\n${(err as Error).message}`);
      notes.push(`${name} did not start: ${oneLine((err as Error).message)}`);
      continue;
    }
    const problems = await checkBehaviour(c.port, setup.backends, c.accessLog);
    if (c.proc.exited === null) {
      for (const p of problems) {
        say(`bench: ${name}: ${p}`);
        notes.push(`${name} sanity check: ${p}`);
      }
    } else {
      const printed = outputTail(c.proc, 40);
      say(
        `bench: ${name} exited (${c.proc.exited}) during the sanity check; leaving it out. It printed:\n${printed}`,
      );
      notes.push(
        `${name} exited (${c.proc.exited}) during the sanity check. It printed: ${oneLine(printed)}`,
      );
      continue;
    }
    if (problems.length === 0) say(`bench: ${name} ready on :${c.port}, behaviour checked`);
    contenders.push(c);
  }

  const runs: RunRecord[] = [];
  const dead = new Set<string>();
  const discarded: RunRecord[] = [];
  await interleavedRounds(opts.rounds, opts.conns, contenders, async (c, round, conns) => {
    if (dead.has(c.name)) return;
    const attempts = await redoWhenNoisy({
      measure: async (): Promise<RunRecord> => {
        try {
          const run = { setup, opts, wrkScript, conns, round, ourPids: backendPids };
          return await measure(c, run);
        } catch (err) {
          return { round, conns, proxy: c.name, failure: (err as Error).message, ...NO_RUN };
        }
      },
      otherCpu: (r) => r.otherCpuPct ?? 0,
      maxRedos: MAX_REDOS,
      onRedo: (r) => say(`${progress(r, opts.rounds)}  -> redone: other processes were busy`),
      keep: "last",
    });
    discarded.push(...attempts.discarded);
    const record = attempts.kept;
    if (c.proc.exited !== null) {
      dead.add(c.name);
      record.failure = `${c.name} exited (${c.proc.exited}) during the run`;
      const printed = outputTail(c.proc, 40);
      say(`bench: ${c.name} exited (${c.proc.exited}). It printed:\n${printed}`);
      notes.push(
        `${c.name} exited (${c.proc.exited}) in round ${round} at ${conns} connections: ${oneLine(printed)}`,
      );
    }
    runs.push(record);
    say(progress(record, opts.rounds));
  });
  await stopAll();

  const summaries = summarize(runs, opts.proxies, opts.conns);
  const goals = checkGoals(summaries, opts.conns);
  notes.push(...observations(summaries));
  if (discarded.length > 0) {
    notes.push(
      `${discarded.length} runs were redone because other processes used over ${OTHER_CPU_LIMIT}% of a core.`,
    );
  }
  const report: Report = { info, options: opts, summaries, goals, notes, runs, discarded };
  sayEnding(say, {
    blocks: [[summaryTable(summaries)]],
    targetsTitle: "syncgate targets",
    goals,
    notes,
    save: opts.save ? () => saveReport(root, report) : null,
  });
  return 0;
}

/** Redos at the most of a run during which other processes used over OTHER_CPU_LIMIT % of a core. */
const MAX_REDOS = 2;

cleanUpOnExit(say);

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(
    `bench: ${err instanceof UsageError ? err.message : ((err as Error)?.stack ?? String(err))}\n`,
  );
  process.exitCode = err instanceof UsageError ? 2 : 1;
} finally {
  await stopAll();
  cleanupSync();
}
