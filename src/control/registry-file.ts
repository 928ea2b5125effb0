/**
 * The watched file of `upsync FILE upsync_type=file` as a control target: `server ip:port ...;` lines (dump format).
 * A change rewrites the whole file atomically (writeDumpAtomic: temp file in the same folder, fsync, rename), so
 * the watcher — and an nginx `include` — never reads half a file. Edits keep the file's order (a replaced server
 * keeps its place, a new one comes after the last server). When every server sits on a line of its own, only
 * those lines change and every other line (comments, blanks, untouched servers as written) is kept; otherwise the
 * file is rewritten as its leading comment lines plus one formatServerLine per server.
 */
import { readFile } from "node:fs/promises";
import type { ServerSpec, UpsyncConf } from "../config/types.js";
import { type DumpFs, formatServerLine, parseDump, writeDumpAtomic } from "../discovery/dump.js";
import { translateFile } from "../discovery/file-source.js";
import { parseServerKey } from "../discovery/server-entry.js";
import { describeSource } from "../discovery/sync.js";
import { errnoText } from "../lib/errors.js";
import { ControlError, type RegistryWriter, type ServerValue } from "./types.js";
import { parseAddress, serverValue, toValue } from "./value.js";

/**
 * Edits of one file in this process, one after another: a read-modify-write must not interleave (two API
 * requests at once would lose one). Process-wide because the file is; other processes are not locked out.
 */
const queues = new Map<string, Promise<unknown>>();

function serialized<T>(path: string, run: () => Promise<T>): Promise<T> {
  const before = queues.get(path) ?? Promise.resolve();
  const next = before.then(run, run);
  const tail = next.catch(() => undefined);
  queues.set(path, tail);
  void tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return next;
}

/** The canonical address of a server line, or null for a host name. */
function identity(s: ServerSpec): string | null {
  const got = parseServerKey(s.address);
  return "address" in got ? got.address : null;
}

/** A server line for the canonical `address` with `value`. */
function line(address: string, v: ServerValue): string {
  const at = parseServerKey(address);
  if (!("address" in at)) throw new Error(`not a canonical address: ${address}`);
  return formatServerLine({
    ...at,
    weight: v.weight,
    maxFails: v.max_fails,
    failTimeout: v.fail_timeout * 1000,
    maxConns: 0,
    slowStart: 0,
    down: v.down === 1,
    backup: v.backup === 1,
    origin: { file: null, line: 0 },
  });
}

/** A server line for the whole rewrite: formatServerLine, plus the `max_conns` and `slow_start` it leaves out. */
function keep(s: ServerSpec): string {
  const more = `${s.maxConns > 0 ? ` max_conns=${s.maxConns}` : ""}${s.slowStart > 0 ? ` slow_start=${s.slowStart / 1000}s` : ""}`;
  return `${formatServerLine(s).slice(0, -1)}${more};`;
}

/** Whether line `text` holds exactly one `server ...;` directive (and maybe a trailing comment). */
const singleLine = (text: string): boolean => /^\s*server\s[^;{}#"']*;\s*(?:#.*)?$/.test(text);

/**
 * The file's new text with `address` set to `value` (null: removed). Pure: `text` is the current content ("" for a
 * missing file); throws the config reader's error (`... in FILE:LINE`) when it does not parse.
 */
export function editServers(text: string, file: string, address: string, value: ServerValue | null): string {
  const servers = parseDump(text, file);
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  const byLine = new Map(servers.map((s) => [s.origin.line - 1, s]));
  const simple =
    byLine.size === servers.length && servers.every((s) => singleLine(lines[s.origin.line - 1] ?? ""));
  let placed = value === null;
  const out: string[] = [];
  let lastServer = -1;
  if (simple) {
    lines.forEach((l, i) => {
      const s = byLine.get(i);
      if (!s || identity(s) !== address) {
        out.push(l);
        if (s) lastServer = out.length - 1;
      } else if (!placed) {
        // Its indentation and trailing comment (`# web1`) stay.
        const comment = /;(\s*#.*)$/.exec(l)?.[1] ?? "";
        out.push(`${/^\s*/.exec(l)![0]}${line(address, value!)}${comment}`);
        placed = true;
        lastServer = out.length - 1;
      }
    });
  } else {
    for (const l of lines) {
      if (!/^\s*(?:#.*)?$/.test(l)) break;
      out.push(l);
    }
    for (const s of servers) {
      if (identity(s) !== address) out.push(keep(s));
      else if (!placed) {
        out.push(line(address, value!));
        placed = true;
      } else continue;
      lastServer = out.length - 1;
    }
  }
  if (!placed) out.splice(lastServer < 0 ? out.length : lastServer + 1, 0, line(address, value!));
  return out.length === 0 ? "" : `${out.join(eol)}${eol}`;
}

/** The RegistryWriter of the watched file `upsync.path`; `fs` replaces writeDumpAtomic's file operations (tests). */
export function fileWriter(upsync: UpsyncConf, opts: { fs?: DumpFs } = {}): RegistryWriter {
  const path = upsync.path;
  const source = describeSource(upsync);
  const fail = (why: string): ControlError =>
    new ControlError("RegistryUnreachable", `${source}: ${why}`, 502);
  const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
  /** The file's text; "" when it does not exist yet (no servers). */
  const read = async (): Promise<string> => {
    try {
      return await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
      throw fail(`open() "${path}" failed ${errnoText(err)}`);
    }
  };
  const change = (address: string, value: ServerValue | null): Promise<void> =>
    serialized(path, async () => {
      const text = await read();
      let next: string;
      try {
        next = editServers(text, path, address, value);
      } catch (err) {
        throw fail(message(err));
      }
      if (next === text) return;
      try {
        await writeDumpAtomic(path, next, opts.fs);
      } catch (err) {
        throw fail(message(err));
      }
    });
  return {
    source,
    async list() {
      const text = await read();
      try {
        const { servers } = translateFile(text, path);
        return servers.map((s) => ({ address: identity(s) ?? s.address, value: serverValue(s) }));
      } catch (err) {
        throw fail(message(err));
      }
    },
    async put(address, value) {
      await change(parseAddress(address), toValue({ ...value }));
    },
    async remove(address) {
      await change(parseAddress(address), null);
    },
  };
}
