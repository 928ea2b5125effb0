/**
 * The report of `--scenario reload`: per contender the reloads done and how many took effect, the requests, the
 * failed requests and failed per reload, req/s with and without reloads; the checks, notes, the method and
 * every run; saved as bench/results/YYYY-MM-DD-HHMM-reload.md and .json.
 */
import type { GoalResult } from "../goals.js";
import {
  bullets,
  cpuColumns,
  fixed,
  int,
  numbered,
  reportHead,
  section,
  socketErrorText,
  table,
} from "../markdown.js";
import type { BenchOptions } from "../options.js";
import { goalLines } from "../report.js";
import { saveResults } from "../save.js";
import type { MachineInfo } from "../system.js";
import { CONFIRM_PER_WORKER, EFFECT_TIMEOUT_MS, type ReloadRun } from "./measure.js";
import type { ReloadSummary } from "./summary.js";

/** Everything one `--scenario reload` found. */
export interface ReloadReport {
  scenario: "reload";
  info: MachineInfo;
  options: BenchOptions;
  /** Processes in each contender's tree when idle (nginx: master + workers). */
  idleProcs: Record<string, number>;
  summaries: ReloadSummary[];
  goals: GoalResult[];
  notes: string[];
  runs: ReloadRun[];
  /** Runs measured again because other processes were busy; not in the figures. */
  discarded: ReloadRun[];
}

/** The table: one row per contender and connection count. */
export function reloadTable(summaries: ReloadSummary[]): string {
  const header = ["proxy", "workers", "conns", "reloads done", "took effect", "requests", "failed requests"];
  header.push("failed / reload", "req/s reloading", "req/s no reload", "failed no reload");
  header.push("effect p50 / max ms", "SIGHUPs logged", "new workers started", "peak procs", "failed polls");
  const rows = summaries.map((s) => [
    s.proxy,
    String(s.workers),
    String(s.conns),
    int(s.reloads),
    int(s.effective),
    int(s.requests),
    socketErrorText(s.failed - s.badStatus, s.socketErrorKinds) +
      (s.badStatus > 0 ? ` + ${s.badStatus} non-2xx` : ""),
    fixed(s.failedPerReload, 1),
    int(s.rps),
    int(s.baselineRps),
    int(s.baselineFailed),
    `${fixed(s.effectP50Ms, 0)} / ${fixed(s.effectMaxMs, 0)}`,
    int(s.signalsLogged),
    int(s.workerStarts),
    String(s.peakProcs),
    int(s.failedPolls),
  ]);
  return table(header, rows);
}

function method(r: ReloadReport): string[] {
  const o = r.options;
  const rl = o.reload;
  const every = rl?.everyMs ?? 0;
  const how =
    rl?.by === "command"
      ? "runs `nginx -p DIR -c CONF -s reload` / `node bin/syncgate -s reload -c CONF` (each reads the pid file and " +
        "sends SIGHUP)"
      : "sends SIGHUP to the pid its pid file names (what `nginx -s reload` does; only if that pid is the process " +
        "the benchmark started)";
  return [
    `${o.rounds} round(s) × ${o.conns.join(" and ")} connections × {syncgate, nginx}, interleaved (the first ` +
      `contender alternates). Both run the main bench's config (bench/conf/nginx.conf, syncgate.conf: round robin ` +
      `over two keep-alive backends, the same headers, retries and access log) with \`worker_processes ` +
      `${rl?.workers}\`, the error log at notice, and one more location, \`location = /generation { return 200 ` +
      '"G\\n"; }`, G being the config\'s generation (0 at start).',
    `Per contender and round: ${o.warmupS} s of warm-up, a baseline run (\`wrk -t1 -cN\` GET / for ` +
      `${o.durationS} s, no reload), then the reload run: the same load while the harness reloads every ` +
      `${every} ms (none in the run's last ${every} ms): it writes generation G + 1 (temp file + rename) and ` +
      `${how}, then polls \`GET /generation\` on fresh connections ~5 ms apart until ${CONFIRM_PER_WORKER} × workers answers in a ` +
      `row say G + 1 (the reload took effect; "effect" is the time from asking to the first of them) or ` +
      `${EFFECT_TIMEOUT_MS / 1000} s pass (it did not). The next reload waits for that.`,
    "wrk keeps its N connections alive and never retries a request: a request counts as failed when its " +
      "connection fails or is closed before the whole response came (wrk's socket errors: connect, read, write, " +
      "timeout; wrk then opens a new connection) or when the answer is not 2xx. nginx's old workers close their " +
      "keep-alive client connections as they shut down, so a request wrk had already sent on one is lost. " +
      "requests: answered + failed by socket; failed / reload: failed requests over reloads done.",
    'SIGHUPs logged: the proxy\'s error log lines for the signal (nginx: "signal 1 (SIGHUP) received"; ' +
      'syncgate: lines naming SIGHUP); new workers started: nginx\'s "start worker processes" lines; peak procs: ' +
      "the most processes the proxy's tree had at once (sampled every 50 ms): old workers still draining. " +
      "failed polls: /generation polls on fresh connections that failed (the harness's own, not in the requests).",
    "Nothing is pinned: the proxy's workers, wrk (one thread), the backends (one nginx worker) and the harness " +
      `share the machine's ${r.info.nproc} cores.`,
  ];
}

/** The whole markdown report. */
export function renderReloadMarkdown(r: ReloadReport): string {
  const i = r.info;
  const header = ["proxy", "conns", "round", "phase", "req/s", "p99 ms", "failed", "reloads", "took effect"];
  header.push("effect ms", "SIGHUPs logged", "new workers", "peak procs", "settle ms", ...cpuColumns.header);
  const rows = r.runs.map((x) => {
    const effects = x.events.map((e) => (e.effectMs === null ? "–" : e.effectMs.toFixed(0)));
    return [
      x.proxy,
      String(x.conns),
      String(x.round),
      x.phase,
      x.failure ? `${int(x.rps)} (${x.failure.split("\n")[0] ?? ""})` : int(x.rps),
      fixed(x.p99Ms, 2),
      socketErrorText(x.socketErrors, x.socketErrorKinds) +
        (x.badStatus > 0 ? ` + ${x.badStatus} non-2xx` : ""),
      int(x.reloads),
      int(x.effective),
      effects.length === 0 ? "–" : effects.join(" "),
      int(x.signalsLogged),
      int(x.workerStarts),
      String(x.peakProcs),
      fixed(x.settleMs, 0),
      ...cpuColumns.cells(x),
    ];
  });
  const idle = Object.entries(r.idleProcs).map(([who, n]) => `${who} ${n}`);
  return [
    ...reportHead("syncgate reload benchmark", i),
    `- Software: Node ${i.node}, ${i.nginx}, ${i.loadTool}, syncgate ${i.syncgate}`,
    `- Processes per contender when idle: ${idle.join(", ")}`,
    "",
    ...section("Reloads under load", reloadTable(r.summaries)),
    ...section("Checks", goalLines(r.goals)),
    ...section("Notes", bullets(r.notes)),
    ...section("Method", ...numbered(method(r))),
    ...section(
      "Every run",
      "effect ms: each reload's, in order (– : it did not take effect).",
      "",
      table(header, rows),
    ),
  ].join("\n");
}

/** Writes bench/results/YYYY-MM-DD-HHMM-reload.md and .json (UTC); returns the two paths. */
export function saveReloadReport(root: string, r: ReloadReport): [string, string] {
  return saveResults(root, r.info.date, "-reload", renderReloadMarkdown(r), r);
}
