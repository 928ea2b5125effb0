/**
 * `auth_basic_user_file` (https://nginx.org/en/docs/http/ngx_http_auth_basic_module.html#auth_basic_user_file):
 * htpasswd files read and checked the way nginx does. nginx reads the file on every request; the store keeps
 * the parsed file and reads it again when its mtime changes (one stat per request).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { open, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { compare as bcryptCompare } from "bcryptjs";
import { errnoText } from "../lib/errors.js";

// apache-md5 is CommonJS whose typings claim an ES default export, which NodeNext cannot call: require it.
const aprMd5 = createRequire(import.meta.url)("apache-md5") as (password: string, salt: string) => string;

/** Why a check failed without an I/O error. */
export type VerifyFailure = "no-user" | "mismatch" | "unsupported-hash";

/** An unreadable file: `error` in nginx's log words; nginx answers 403 when the file is missing, 500 otherwise. */
export interface HtpasswdError {
  error: string;
  status: 403 | 500;
  level: "error" | "crit";
}

/** Outcome of one check; an error is never a success. */
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure } | HtpasswdError;

/** File access, injectable for tests; `stat` defaults to node:fs only when `readFile` is not injected. */
export interface HtpasswdStoreOptions {
  /** Reads the whole file and the mtime of what was read; rejects with a Node errno error. */
  readFile?: (path: string) => Promise<{ text: string; mtimeMs: number }>;
  /** The mtime alone, asked before each use of a cached file; without it the file is read every time. */
  stat?: (path: string) => Promise<{ mtimeMs: number }>;
  /** Receives one message per file load that has users with hashes no scheme here can check. */
  warn?: (message: string) => void;
}

/** Password hash schemes that can be checked (nginx's ngx_crypt, plus glibc's `$1$` that nginx gets from crypt(3)). */
export type HtpasswdScheme = "bcrypt" | "apr1" | "md5crypt" | "sha" | "ssha" | "plain";
/** One user's line: its hash and scheme, or why it can never match. */
export type HtpasswdEntry = { scheme: HtpasswdScheme; hash: string } | { scheme: "unsupported"; why: string };
type Loaded = { mtimeMs: number; users: Map<string, HtpasswdEntry> };

/** Parsed htpasswd files by path, re-read when their mtime changes. */
export class HtpasswdStore {
  private readonly readFile: (path: string) => Promise<{ text: string; mtimeMs: number }>;
  private readonly stat: ((path: string) => Promise<{ mtimeMs: number }>) | null;
  private readonly warn: (message: string) => void;
  private readonly files = new Map<string, Loaded>();
  /** Reads in flight, shared by concurrent requests so a change is parsed and reported once. */
  private readonly reading = new Map<string, Promise<Loaded | HtpasswdError>>();

  constructor(opts: HtpasswdStoreOptions = {}) {
    this.readFile = opts.readFile ?? readWithMtime;
    this.stat = opts.stat ?? (opts.readFile ? null : stat);
    this.warn = opts.warn ?? (() => {});
  }

  /** Checks `user`/`password` against the htpasswd file at `path` (the first line naming the user counts). */
  async verify(path: string, user: string, password: string): Promise<VerifyResult> {
    const file = await this.load(path);
    if ("error" in file) return file;
    const entry = file.users.get(user);
    if (entry === undefined) return { ok: false, reason: "no-user" };
    if (entry.scheme === "unsupported") return { ok: false, reason: "unsupported-hash" };
    try {
      return (await check(entry.scheme, entry.hash, password))
        ? { ok: true }
        : { ok: false, reason: "mismatch" };
    } catch (err) {
      return { error: `password check for user "${user}" in "${path}" failed: ${String(err)}`, ...CRIT };
    }
  }

  private async load(path: string): Promise<Loaded | HtpasswdError> {
    const cached = this.files.get(path);
    if (cached && this.stat) {
      try {
        if ((await this.stat(path)).mtimeMs === cached.mtimeMs) return cached;
      } catch (err) {
        this.files.delete(path);
        return ioError(path, err);
      }
    }
    let pending = this.reading.get(path);
    if (pending === undefined) {
      pending = this.read(path).finally(() => this.reading.delete(path));
      this.reading.set(path, pending);
    }
    return pending;
  }

  private async read(path: string): Promise<Loaded | HtpasswdError> {
    try {
      const { text, mtimeMs } = await this.readFile(path);
      const cached = this.files.get(path);
      if (cached && cached.mtimeMs === mtimeMs) return cached;
      const loaded = { mtimeMs, users: parseHtpasswd(text) };
      this.files.set(path, loaded);
      const bad = [...loaded.users].flatMap(([name, e]) =>
        e.scheme === "unsupported" ? [`user "${name}" (${e.why})`] : [],
      );
      if (bad.length > 0) {
        this.warn(`unsupported password hash in "${path}": ${bad.join(", ")}; these users can never log in`);
      }
      return loaded;
    } catch (err) {
      this.files.delete(path);
      return ioError(path, err);
    }
  }
}

/** nginx's error-log words for a failed check: `user "USER" was not found in "FILE"`, `user "USER": password mismatch`. */
export function authFailureMessage(path: string, user: string, reason: VerifyFailure): string {
  switch (reason) {
    case "no-user":
      return `user "${user}" was not found in "${path}"`;
    case "mismatch":
      return `user "${user}": password mismatch`;
    case "unsupported-hash":
      return `user "${user}": unsupported password hash in "${path}"`;
  }
}

const CRIT = { status: 500, level: "crit" } as const;

/** nginx's words for a failed open or read, with the status it answers (ngx_http_auth_basic_handler). */
function ioError(path: string, err: unknown): HtpasswdError {
  const e = err as NodeJS.ErrnoException;
  if (e.syscall === "read") return { error: `pread() "${path}" failed ${errnoText(err)}`, ...CRIT };
  if (e.code === "ENOENT")
    return { error: `open() "${path}" failed ${errnoText(err)}`, status: 403, level: "error" };
  return { error: `open() "${path}" failed ${errnoText(err)}`, ...CRIT };
}

/** Reads the file and the mtime of what was read from one descriptor. */
async function readWithMtime(path: string): Promise<{ text: string; mtimeMs: number }> {
  const fh = await open(path, "r");
  try {
    const { mtimeMs } = await fh.stat();
    return { text: await fh.readFile("utf8"), mtimeMs };
  } finally {
    await fh.close();
  }
}

/**
 * Parses htpasswd text into users, keeping the first line for each. As in nginx, a line starting with `#` or CR
 * is skipped (leading blanks are part of the name), the name ends at the first `:`, the hash at the next `:`,
 * CR or LF, so trailing fields are ignored.
 */
export function parseHtpasswd(text: string): Map<string, HtpasswdEntry> {
  const users = new Map<string, HtpasswdEntry>();
  for (const line of text.split("\n")) {
    if (line === "" || line[0] === "#" || line[0] === "\r") continue;
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon);
    if (users.has(name)) continue;
    const hash = /^[^:\r]*/.exec(line.slice(colon + 1))![0];
    users.set(name, classify(hash));
  }
  return users;
}

const B64 = "[A-Za-z0-9+/]";
const CRYPT64 = "[./0-9A-Za-z]";
const FORMATS: [RegExp, HtpasswdScheme][] = [
  [new RegExp(`^\\$2[aby]\\$(?:0[4-9]|[12]\\d|3[01])\\$${CRYPT64}{53}$`), "bcrypt"],
  [new RegExp(`^\\$apr1\\$[^$]{0,8}\\$${CRYPT64}{22}$`), "apr1"],
  [new RegExp(`^\\$1\\$[^$]{0,8}\\$${CRYPT64}{22}$`), "md5crypt"],
  [new RegExp(`^\\{SHA\\}${B64}{27}=$`), "sha"],
  [new RegExp(`^\\{SSHA\\}(?:${B64}{4})*(?:${B64}{2}==|${B64}{3}=)?$`), "ssha"],
  [/^\{PLAIN\}/, "plain"],
];

/** Recognises the scheme of a stored hash, or says why it cannot be checked. */
function classify(hash: string): HtpasswdEntry {
  const known = FORMATS.find(([re]) => re.test(hash));
  // An {SSHA} value holds the 20-byte SHA-1 digest followed by the salt.
  if (known && (known[1] !== "ssha" || Buffer.from(hash.slice(6), "base64").length >= 20)) {
    return { scheme: known[1], hash };
  }
  return { scheme: "unsupported", why: unsupportedReason(hash) };
}

function unsupportedReason(hash: string): string {
  if (hash === "") return "empty hash";
  if (/^\$2[aby]\$/.test(hash)) return "malformed bcrypt hash";
  if (hash.startsWith("$apr1$") || hash.startsWith("$1$")) return "malformed MD5 hash";
  if (/^\{S?SHA\}/.test(hash)) return "malformed SHA-1 hash";
  if (hash.startsWith("$5$")) return "SHA-256 crypt";
  if (hash.startsWith("$6$")) return "SHA-512 crypt";
  if (hash.startsWith("$y$")) return "yescrypt";
  if (new RegExp(`^${CRYPT64}{13}$`).test(hash)) return "DES crypt";
  return "unknown hash format";
}

/** Checks a password against a hash of a known scheme; digests are compared in constant time. */
async function check(scheme: HtpasswdScheme, hash: string, password: string): Promise<boolean> {
  switch (scheme) {
    case "bcrypt":
      // Asynchronous: bcryptjs yields to the event loop between rounds.
      return bcryptCompare(password, hash);
    case "apr1":
    case "md5crypt":
      // apache-md5 hashes its string as latin1, one byte per character: hand it the UTF-8 bytes that way.
      return safeEqual(aprMd5(Buffer.from(password, "utf8").toString("latin1"), hash), hash);
    case "sha":
      return safeEqual(`{SHA}${createHash("sha1").update(password, "utf8").digest("base64")}`, hash);
    case "ssha": {
      const raw = Buffer.from(hash.slice("{SSHA}".length), "base64");
      if (raw.length < 20) return false;
      const digest = createHash("sha1").update(password, "utf8").update(raw.subarray(20)).digest();
      return safeEqual(digest, raw.subarray(0, 20));
    }
    case "plain":
      return safeEqual(password, hash.slice("{PLAIN}".length));
  }
}

/** Constant-time equality: both sides are hashed to equal-length digests first, so lengths leak nothing. */
function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}
