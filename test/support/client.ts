/** HTTP clients for proxy tests: node:http for ordinary requests, raw sockets for exact bytes. */
import { request, Agent, type OutgoingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { eventually } from "./wait.js";

/** A response as a test sees it. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
}

/** Sends one request to 127.0.0.1:port. */
export function send(
  port: number,
  path: string,
  opts: {
    method?: string;
    headers?: OutgoingHttpHeaders;
    body?: string | Buffer;
    agent?: Agent | false;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: opts.method ?? "GET",
        headers: opts.headers,
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.setTimeout(15_000, () => req.destroy(new Error("client timeout")));
    req.end(opts.body);
  });
}

/**
 * Who answers `n` requests in a row (GET /r0, /r1, ...): the first word of each 200's body (the backend's name),
 * or the status of any other answer.
 */
export async function answers(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await send(port, `/r${i}`);
    out.push(r.status === 200 ? r.body.split(" ")[0]! : String(r.status));
  }
  return out;
}

/** Writes `bytes` on a new connection and collects everything until the server closes (or `ms` pass). */
export function raw(port: number, bytes: string | Buffer, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let out = "";
    const timer = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, ms);
    s.on("data", (d: Buffer) => (out += d.toString("latin1")));
    s.on("error", (err) => {
      clearTimeout(timer);
      if (out) resolve(out);
      else reject(err);
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.write(bytes);
  });
}

/** Status codes of every response in a raw byte stream, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** Waits until `cond` holds (checking every 10 ms, at most `ms`). */
export function until(cond: () => boolean, ms = 10_000): Promise<void> {
  return eventually("condition", cond, ms);
}
