/**
 * A real etcd (Debian's `etcd-server`, 3.4) on free loopback ports, for the etcd watch tests: v3 through its JSON
 * gateway always, the v2 keys API when asked (`--enable-v2`). Its data lives in a temp folder (in /dev/shm when
 * there is one: no disk sync in the way), kept across stop()/start() so a restart finds its keys and indexes.
 * `npm run test:unit` installs the package first (scripts/ensure-etcd.mjs).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcd3RangeEnd } from "../../src/discovery/etcd3.js";
import { freePort } from "./ports.js";

/** Where the etcd binary is (SYNCGATE_ETCD overrides, as in scripts/ensure-etcd.mjs). */
export const ETCD_BIN = process.env.SYNCGATE_ETCD ?? "/usr/bin/etcd";

/** Throws, naming the command to run, when the etcd binary is missing. */
export function assertEtcdInstalled(): void {
  try {
    accessSync(ETCD_BIN, constants.X_OK);
  } catch {
    throw new Error(
      `etcd is needed by the etcd tests and ${ETCD_BIN} is missing: run \`sudo apt-get install etcd-server\``,
    );
  }
}

const b64 = (s: string | Buffer): string =>
  (typeof s === "string" ? Buffer.from(s, "utf8") : s).toString("base64");
const unb64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");

/** Every etcd started by this process, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

/** One v3 key-value, decoded. */
export interface EtcdKv {
  key: string;
  value: string;
  modRevision: string;
}

/** A running (or stopped) single-member etcd. */
export class Etcd {
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly v2: boolean;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  /** Credentials the helpers use once auth is on (v2: Basic; v3: a token from /v3/auth/authenticate). */
  #auth: { user: string; password: string } | null = null;

  constructor(clientPort: number, peerPort: number, dataDir: string, v2: boolean) {
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.dataDir = dataDir;
    this.v2 = v2;
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** The process id while it runs (for SIGSTOP/SIGCONT in tests). */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Starts etcd (again, on the same ports and data) and waits until /health says true (10 s at most). */
  async start(): Promise<void> {
    if (this.#child) return;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const args = [
      "--name=syncgate-test",
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.url}`,
      `--advertise-client-urls=${this.url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=syncgate-test=${peer}`,
      "--logger=zap",
      "--log-level=error",
      ...(this.v2 ? ["--enable-v2=true"] : []),
    ];
    const child = spawn(ETCD_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
    this.#child = child;
    running.add(child);
    this.#exited = new Promise((resolve) =>
      child.once("exit", () => {
        running.delete(child);
        if (this.#child === child) this.#child = null;
        resolve();
      }),
    );
    const end = Date.now() + 10_000;
    for (;;) {
      if (!this.#child) throw new Error(`etcd exited at start-up: ${stderr.trim()}`);
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === "true") return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > end) {
        await this.stop();
        throw new Error(`etcd not healthy within 10 s: ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kills etcd at once (SIGKILL: the registry is simply gone) and waits for it to exit; keeps the data. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill("SIGKILL"); // also ends a paused (SIGSTOP) etcd
    await this.#exited;
  }

  /** Freezes etcd (SIGSTOP): its sockets stay open and accept connections, but nothing answers. */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  /** Thaws a paused etcd (SIGCONT). */
  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  /** Stops etcd and removes its data. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  // ---- v2 keys API ----

  async #v2(method: string, key: string, query = "", form?: Record<string, string>): Promise<V2Answer> {
    const headers: Record<string, string> = {};
    if (this.#auth) headers.Authorization = basic(this.#auth.user, this.#auth.password);
    const res = await fetch(`${this.url}/v2/keys${key}${query}`, {
      method,
      headers,
      ...(form ? { body: new URLSearchParams(form) } : {}),
    });
    const body = (await res.json()) as Record<string, unknown>;
    return { status: res.status, index: Number(res.headers.get("x-etcd-index")), body };
  }

  /** v2 PUT of a key (`/upstreams/x/127.0.0.1:8081`); resolves with X-Etcd-Index after the write. */
  async put2(key: string, value: string): Promise<number> {
    const a = await this.#v2("PUT", key, "", { value });
    if (a.status >= 300) throw new Error(`v2 PUT ${key}: ${a.status} ${JSON.stringify(a.body)}`);
    return a.index;
  }

  /** v2 GET of a key or directory (status, X-Etcd-Index and body). */
  get2(key: string, recursive = false): Promise<V2Answer> {
    return this.#v2("GET", key, recursive ? "?recursive=true" : "");
  }

  /** v2 DELETE of a key, or of a directory with everything under it; resolves with X-Etcd-Index. */
  async delete2(key: string, dir = false): Promise<number> {
    const a = await this.#v2("DELETE", key, dir ? "?dir=true&recursive=true" : "");
    if (a.status >= 300) throw new Error(`v2 DELETE ${key}: ${a.status} ${JSON.stringify(a.body)}`);
    return a.index;
  }

  /** Turns v2 auth on: user `root` with `password`, and the guest role loses all access. */
  async enableAuth2(password: string): Promise<void> {
    await expectOk(fetch(`${this.url}/v2/auth/users/root`, json("PUT", { user: "root", password })));
    await expectOk(fetch(`${this.url}/v2/auth/enable`, { method: "PUT" }));
    const revoke = { role: "guest", revoke: { kv: { read: ["/*"], write: ["/*"] } } };
    await expectOk(
      fetch(`${this.url}/v2/auth/roles/guest`, {
        ...json("PUT", revoke),
        headers: { "Content-Type": "application/json", Authorization: basic("root", password) },
      }),
    );
    this.#auth = { user: "root", password };
  }

  /** Turns v2 auth off again (guest access is back as it was). */
  async disableAuth2(): Promise<void> {
    const a = this.#auth!;
    const auth = { Authorization: basic(a.user, a.password) };
    const grant = { role: "guest", grant: { kv: { read: ["/*"], write: ["/*"] } } };
    await expectOk(
      fetch(`${this.url}/v2/auth/roles/guest`, {
        ...json("PUT", grant),
        headers: { "Content-Type": "application/json", ...auth },
      }),
    );
    await expectOk(fetch(`${this.url}/v2/auth/enable`, { method: "DELETE", headers: auth }));
    this.#auth = null;
  }

  // ---- v3 through the JSON gateway ----

  async #v3(path: string, body: unknown): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (this.#auth) {
      const { token } = await this.#post("/v3/auth/authenticate", {
        name: this.#auth.user,
        password: this.#auth.password,
      });
      headers.Authorization = String(token);
    }
    return this.#post(path, body, headers);
  }

  async #post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.url}${path}`, {
      method: "POST",
      headers: headers ?? { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const out = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200 || out.error !== undefined) {
      throw new Error(`etcd ${path}: ${res.status} ${JSON.stringify(out)}`);
    }
    return out;
  }

  /** v3 put; resolves with the revision it made. */
  async put3(key: string, value: string): Promise<string> {
    const out = await this.#v3("/v3/kv/put", { key: b64(key), value: b64(value) });
    return revisionOf(out);
  }

  /** v3 keys under `prefix` (decoded), in key order, and the revision of the answer. */
  async get3(prefix: string): Promise<{ revision: string; kvs: EtcdKv[] }> {
    const out = await this.#v3("/v3/kv/range", { key: b64(prefix), range_end: b64(etcd3RangeEnd(prefix)) });
    const kvs = ((out.kvs ?? []) as { key: string; value?: string; mod_revision: string }[]).map((kv) => ({
      key: unb64(kv.key),
      value: unb64(kv.value ?? ""),
      modRevision: kv.mod_revision,
    }));
    return { revision: revisionOf(out), kvs };
  }

  /** v3 delete of one key, or of every key under a prefix ending in "/"; resolves with the revision after it. */
  async delete3(keyOrPrefix: string): Promise<string> {
    const range = keyOrPrefix.endsWith("/") ? { range_end: b64(etcd3RangeEnd(keyOrPrefix)) } : {};
    const out = await this.#v3("/v3/kv/deleterange", { key: b64(keyOrPrefix), ...range });
    return revisionOf(out);
  }

  /** Compacts the v3 history up to `revision` (physically, so the old revisions are gone when it answers). */
  async compact3(revision: string): Promise<void> {
    await this.#v3("/v3/kv/compaction", { revision, physical: true });
  }

  /** Turns v3 auth on: user `root` (role root) with `password`. */
  async enableAuth3(password: string): Promise<void> {
    await this.#post("/v3/auth/user/add", { name: "root", password });
    await this.#post("/v3/auth/role/add", { name: "root" });
    await this.#post("/v3/auth/user/grant", { user: "root", role: "root" });
    await this.#post("/v3/auth/enable", {});
    this.#auth = { user: "root", password };
  }

  /** Turns v3 auth off and removes the root user again. */
  async disableAuth3(): Promise<void> {
    await this.#v3("/v3/auth/disable", {});
    this.#auth = null;
    await this.#post("/v3/auth/user/delete", { name: "root" });
    await this.#post("/v3/auth/role/delete", { role: "root" });
  }
}

/** One v2 answer. */
export interface V2Answer {
  status: number;
  index: number;
  body: Record<string, unknown>;
}

function basic(user: string, password: string): string {
  return `Basic ${b64(`${user}:${password}`)}`;
}

function json(method: string, body: unknown): RequestInit {
  return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

async function expectOk(res: Promise<Response>): Promise<void> {
  const r = await res;
  const text = await r.text();
  if (r.status >= 300) throw new Error(`etcd ${r.url}: ${r.status} ${text}`);
}

function revisionOf(out: Record<string, unknown>): string {
  return String((out.header as { revision?: string } | undefined)?.revision ?? "0");
}

/** Starts an etcd (v2 API too when `v2`); the caller closes it (`after(() => etcd.close())`). */
export async function startEtcd(opts: { v2?: boolean } = {}): Promise<Etcd> {
  assertEtcdInstalled();
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dataDir = mkdtempSync(join(base, "syncgate-etcd-"));
  const client = await freePort();
  let peer = await freePort();
  while (peer === client) peer = await freePort();
  const etcd = new Etcd(client, peer, dataDir, opts.v2 ?? false);
  try {
    await etcd.start();
  } catch (err) {
    await etcd.close();
    throw err;
  }
  return etcd;
}
