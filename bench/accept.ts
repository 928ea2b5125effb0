/**
 * `node dist/bench/accept.js`: how node:cluster hands connections to workers, measured (issue 7 item 1). Two
 * workers answer a fixed HTTP response from a raw `net` server; `wrk` drives them with keep-alive connections and
 * with a new connection per request, under round-robin scheduling (the primary accepts every connection and passes
 * it over IPC) and under SCHED_NONE (the workers accept on the shared socket). Bounded: 2 × 2 runs of DURATION
 * seconds on 127.0.0.1, every process stopped at the end.
 */
import { execFileSync, spawn } from "node:child_process";
import cluster from "node:cluster";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

const PORT = Number(process.env.ACCEPT_PORT ?? 18999);
const DURATION = Number(process.env.ACCEPT_DURATION ?? 5);
const WORKERS = 2;

const OK = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
const CLOSE = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");

/** A cluster of WORKERS raw HTTP responders under the scheduling policy named in ACCEPT_POLICY. */
function serveCluster(): void {
  if (cluster.isPrimary) {
    cluster.schedulingPolicy = process.env.ACCEPT_POLICY === "rr" ? cluster.SCHED_RR : cluster.SCHED_NONE;
    let up = 0;
    cluster.on("message", () => {
      if (++up === WORKERS) process.stdout.write("ready\n");
    });
    for (let i = 0; i < WORKERS; i++) cluster.fork();
    process.on("SIGTERM", () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill();
      process.exit(0);
    });
    return;
  }
  createServer((s) => {
    s.on("data", (d: Buffer) => (d.includes("close") ? s.end(CLOSE) : s.write(OK)));
    s.on("error", () => s.destroy());
  }).listen(PORT, "127.0.0.1", () => process.send?.("up"));
}

function wrk(close: boolean): number {
  const args = ["-t1", "-c64", `-d${DURATION}s`, ...(close ? ["-H", "Connection: close"] : [])];
  const out = execFileSync("wrk", [...args, `http://127.0.0.1:${PORT}/`], { encoding: "utf8" });
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const policy of ["rr", "none"] as const) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--serve"], {
      env: { ...process.env, ACCEPT_POLICY: policy },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
        child.once("exit", () => reject(new Error("the cluster exited before it was ready")));
      });
      await sleep(200);
      const keepAlive = wrk(false);
      const perRequest = wrk(true);
      const name = policy === "rr" ? "round robin (primary accepts)" : "SCHED_NONE (workers accept)";
      rows.push(
        `| ${name} | ${Math.round(keepAlive).toLocaleString("en")} | ${Math.round(perRequest).toLocaleString("en")} |`,
      );
    } finally {
      child.kill("SIGTERM");
    }
  }
  process.stdout.write(
    `${WORKERS} workers, wrk -t1 -c64 -d${DURATION}s, requests/s\n\n` +
      `| scheduling | keep-alive | new connection per request |\n| --- | ---: | ---: |\n${rows.join("\n")}\n`,
  );
}

if (process.argv.includes("--serve") || cluster.isWorker) serveCluster();
else
  main().catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
