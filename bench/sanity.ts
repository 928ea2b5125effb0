/**
 * Before any load: wait until a server answers, then check that each proxy does the same work — routes the
 * locations, balances over both backends, sets X-Forwarded-For and X-Real-IP — so the table compares like
 * with like. The backends' `/echo` location reflects what they received.
 */
import { get, type IncomingHttpHeaders } from "node:http";
import { createServer } from "node:net";
import { statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Started } from "./procs.js";
import { outputTail } from "./procs.js";

/** A response, whole. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** GET on a fresh connection, with a timeout. */
export function httpGet(port: number, path: string, timeoutMs = 2000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (s: string) => (body += s));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** `count` distinct free loopback ports (bound to port 0, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    return typeof addr === "object" && addr !== null ? addr.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Waits until `GET path` answers 200, or throws with what the process printed. */
export async function waitReady(
  proc: Started,
  port: number,
  path: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (proc.exited !== null) {
      throw new Error(
        `${proc.name} exited (${proc.exited}) before it answered. It printed:\n${outputTail(proc, 40)}`,
      );
    }
    try {
      const r = await httpGet(port, path, 1000);
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(
    `${proc.name} did not answer GET ${path} on port ${port} (${last}). It printed:\n${outputTail(proc, 40)}`,
  );
}

/** Checks one proxy's behaviour; returns the problems found (empty when it matches the others). */
export async function checkBehaviour(
  port: number,
  backends: number[],
  accessLog: string | null,
): Promise<string[]> {
  const problems: string[] = [];
  const expect = async (path: string, status: number, body: string | null): Promise<Reply | null> => {
    try {
      const r = await httpGet(port, path);
      if (r.status !== status) problems.push(`GET ${path}: status ${r.status}, expected ${status}`);
      else if (body !== null && r.body !== body) problems.push(`GET ${path}: body ${JSON.stringify(r.body)}`);
      return r;
    } catch (err) {
      problems.push(`GET ${path}: ${(err as Error).message}`);
      return null;
    }
  };
  const health = await expect("/healthz", 200, "ok\n");
  if (health?.headers["x-backend"] !== undefined)
    problems.push("GET /healthz was proxied, not answered by the proxy");
  await expect("/", 200, "hello world\n");
  await expect("/static/app.css", 200, "hello world\n");
  await expect("/index.php", 200, "hello world\n");
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const r = await expect("/echo", 200, "echo\n");
    if (!r) continue;
    seen.add(String(r.headers["x-backend"]));
    const xff = String(r.headers["x-echo-forwarded-for"] ?? "");
    if (!xff.includes("127.0.0.1")) problems.push(`backend got X-Forwarded-For "${xff}"`);
    const realIp = String(r.headers["x-echo-real-ip"] ?? "");
    if (realIp !== "127.0.0.1") problems.push(`backend got X-Real-IP "${realIp}"`);
  }
  for (const b of backends) {
    if (!seen.has(String(b)))
      problems.push(`4 requests never reached backend :${b} (seen: ${[...seen].join(", ")})`);
  }
  if (accessLog !== null) {
    await sleep(300);
    let size = 0;
    try {
      size = statSync(accessLog).size;
    } catch {
      // No file yet.
    }
    if (size === 0) problems.push(`access log ${accessLog} is empty after 8 requests`);
  }
  return [...new Set(problems)];
}
