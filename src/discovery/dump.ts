/**
 * The dump file (upsync spec §4.5): the last applied membership in nginx `server ...;` syntax, which the upstream
 * block `include`s so a restart serves from it before the first registry answer. Formatting and parsing are pure;
 * writeDumpAtomic is the one I/O function (temp file, fsync, rename — the module truncated in place).
 */
import * as fsp from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { ServerSpec } from "../config/types.js";
import { parseServerLine } from "../config/directives/upstream.js";
import { parseText } from "../config/parser.js";
import { SyncgateError, configError, errnoText } from "../lib/errors.js";

/** What the dump's comment line records (documented addition, issue 4). */
export interface DumpMeta {
  /** Where the servers came from, e.g. `consul 127.0.0.1:8500/v1/kv/upstreams/test/`. */
  source: string;
  /** Registry index of the applied answer. */
  index: string;
  /** When it was applied (ms since the epoch, or a Date). */
  time: number | Date;
}

/**
 * One server in the module's format (spec §4.5, §5): `server <ip:port> weight=<w> max_fails=<n>
 * fail_timeout=<t>s[ down];` — `fail_timeout` in whole seconds with the `s` suffix; ` backup` (issue 4) after
 * ` down` when both. No max_conns or slow_start (registry servers have neither).
 */
export function formatServerLine(s: ServerSpec): string {
  const down = s.down ? " down" : "";
  const backup = s.backup ? " backup" : "";
  const seconds = Math.floor(s.failTimeout / 1000);
  return `server ${s.address} weight=${s.weight} max_fails=${s.maxFails} fail_timeout=${seconds}s${down}${backup};`;
}

/** A comment value on one line (a newline would end the comment and start a directive). */
const oneLine = (text: string): string => text.replace(/[\r\n]+/g, " ");

/**
 * The dump text: one `#` comment line (source, registry index, time — nginx's `include` ignores it), then one
 * line per server in registry order, each ending in "\n", no blank line. An empty list is refused with the
 * module's words: an upstream is never emptied, so its dump never is.
 */
export function formatDump(upstream: string, servers: readonly ServerSpec[], meta: DumpMeta): string {
  if (servers.length === 0) throw new Error("upsync_dump_server: there are no peers to dump");
  const time = new Date(meta.time).toISOString();
  const head =
    `# syncgate dump of upstream ${oneLine(upstream)}; source: ${oneLine(meta.source)}; ` +
    `index: ${oneLine(meta.index)}; time: ${time}\n`;
  return head + servers.map((s) => `${formatServerLine(s)}\n`).join("");
}

/**
 * Servers of a dump text (comments ignored), read with the config's own upstream `server` rules and messages
 * (`... in FILE:LINE`); an empty text is an empty list. Only `server` lines may appear.
 */
export function parseDump(text: string, file: string | null = null): ServerSpec[] {
  const out: ServerSpec[] = [];
  for (const d of parseText(text, file)) {
    const pos = { file: d.file, line: d.line };
    if (d.name !== "server") throw configError(`"${d.name}" directive is not allowed here`, pos);
    if (d.block !== null) throw configError(`"server" directive is not terminated by ";"`, pos);
    if (d.args.length === 0) throw configError(`invalid number of arguments in "server" directive`, pos);
    out.push(parseServerLine(d));
  }
  return out;
}

/** The file operations writeDumpAtomic uses; tests pass a recording or failing double. */
export interface DumpFs {
  mkdir: typeof fsp.mkdir;
  open: typeof fsp.open;
  rename: typeof fsp.rename;
  unlink: typeof fsp.unlink;
  stat: typeof fsp.stat;
}

let tempSeq = 0;

/** The temp file name used next to `path`: `.<name>.<pid>.<seq>.tmp` (hidden, never matched by `*.conf`). */
export function dumpTempName(path: string, pid = process.pid, seq = tempSeq): string {
  return join(dirname(path), `.${basename(path)}.${pid}.${seq}.tmp`);
}

function ioError(call: string, file: string, err: unknown, to?: string): SyncgateError {
  const target = to === undefined ? `"${file}"` : `"${file}" to "${to}"`;
  return new SyncgateError("SG_ERR_IO", `${call}() ${target} failed ${errnoText(err)}`, "error");
}

/**
 * Writes `text` to `path` so a reader sees the old file or the new one, never a part: a temp file in the same
 * folder is written and fsynced, renamed over `path`, then the folder is fsynced; the folder is created when
 * missing. The new file keeps the old one's mode (0644 when new). Errors are SG_ERR_IO with nginx's words,
 * e.g. `open() "/x/.d.conf.1.0.tmp" failed (13: Permission denied)`; the temp file is removed on failure.
 */
export async function writeDumpAtomic(path: string, text: string, fs: DumpFs = fsp): Promise<void> {
  const dir = dirname(path);
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (err) {
    throw ioError("mkdir", dir, err);
  }
  let mode = 0o644;
  try {
    mode = (await fs.stat(path)).mode & 0o7777;
  } catch {
    // No dump yet: a new file.
  }
  const temp = dumpTempName(path, process.pid, tempSeq++);
  let fh: fsp.FileHandle;
  try {
    fh = await fs.open(temp, "wx", mode);
  } catch (err) {
    throw ioError("open", temp, err);
  }
  let step = "write";
  try {
    await fh.writeFile(text, "utf8");
    step = "fsync";
    await fh.sync();
    step = "close";
    await fh.close();
    step = "rename";
    await fs.rename(temp, path);
  } catch (err) {
    if (step !== "close" && step !== "rename") await fh.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw step === "rename" ? ioError("rename", temp, err, path) : ioError(step, temp, err);
  }
  await syncDir(dir, fs);
}

/** Makes the rename durable; folders that cannot be fsynced on this platform (EINVAL, EISDIR) are skipped. */
async function syncDir(dir: string, fs: DumpFs): Promise<void> {
  let dh: fsp.FileHandle;
  try {
    dh = await fs.open(dir, "r");
  } catch (err) {
    throw ioError("open", dir, err);
  }
  try {
    await dh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EISDIR") throw ioError("fsync", dir, err);
  } finally {
    await dh.close().catch(() => undefined);
  }
}
