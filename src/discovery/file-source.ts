/**
 * `upsync_type=file` (issue 4 items 1–2): a file in dump format (`server ip:port weight=... ;` lines), watched. The
 * folder is watched, not the file, because editors and config managers replace a file by renaming a new one over
 * it (a watch on the old inode would go quiet); a stat poll every `upsync_interval` catches what fs.watch misses
 * (network file systems, a folder created later). The index is a hash of the content, so a touch is no change.
 */
import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname } from "node:path";
import type { ServerSpec, UpsyncConf } from "../config/types.js";
import { errnoText } from "../lib/errors.js";
import { parseDump } from "./dump.js";
import type { Note, Snapshot, SourceState, WatchOptions } from "./types.js";

/** Options of watchFile: the common ones (`current` and `token` are not used), plus two knobs for tests. */
export interface WatchFileOptions extends Partial<
  Pick<WatchOptions, "current" | "random" | "token" | "onFailedRound" | "onAnswer">
> {
  signal: AbortSignal;
  onSnapshot(s: Snapshot): void;
  onState(state: SourceState): void;
  /** How long to let a burst of file events settle before reading, ms (default 50). */
  debounceMs?: number;
  /** Use fs.watch (default true); false leaves only the stat poll. */
  fsWatch?: boolean;
}

/** The index of a content: the first 16 hex digits of its SHA-256. */
export function contentIndex(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/**
 * File text → Snapshot (pure). Lines are read as the dump (and an `include`d file) is, so a bad line fails the
 * whole file with `... in FILE:LINE` (thrown). Servers named by host are skipped: registry servers are addresses
 * (spec §2.3). Repeated addresses: the first wins.
 */
export function translateFile(text: string, file: string): Snapshot {
  const servers: ServerSpec[] = [];
  const skipped: Note[] = [];
  const seen = new Set<string>();
  for (const s of parseDump(text, file)) {
    const where = `${file}:${s.origin.line}`;
    if (isIP(s.host) === 0) {
      skipped.push({
        key: where,
        reason: `upsync: host name in "${s.address}" is not allowed, server skipped`,
      });
    } else if (seen.has(s.address)) {
      skipped.push({ key: where, reason: `upsync: duplicate server ${s.address}, the first line wins` });
    } else {
      seen.add(s.address);
      servers.push(s);
    }
  }
  return { servers, index: contentIndex(text), skipped, warnings: [] };
}

/** Identity of the file's current version as stat sees it; a failure is a version too. */
async function signature(path: string): Promise<string> {
  try {
    const st = await stat(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code ?? "?"}`;
  }
}

/**
 * Watches `conf.path` until `opts.signal` aborts. A file that is missing or does not parse changes nothing (the
 * last good servers keep serving); it is reported through onState once, and its recovery likewise.
 */
export function watchFile(conf: UpsyncConf, opts: WatchFileOptions): Promise<void> {
  const path = conf.path;
  const debounce = opts.debounceMs ?? 50;
  const { signal } = opts;
  let watcher: FSWatcher | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let debounceTimer: NodeJS.Timeout | null = null;
  let reading = false;
  let again = false;
  let lastSig: string | null = null;
  let lastIndex: string | null = null;
  let lastState: string | null | undefined;

  const report = (error: string | null): void => {
    if (error === null) {
      try {
        opts.onAnswer?.();
      } catch {
        // A callback must not stop the watch.
      }
    }
    if (error !== null) {
      try {
        opts.onFailedRound?.(error);
      } catch {
        // A callback must not stop the watch.
      }
    }
    if (lastState !== undefined && error === lastState) return;
    lastState = error;
    try {
      opts.onState({ ok: error === null, error, index: lastIndex ?? "" });
    } catch {
      // A callback must not stop the watch.
    }
  };

  const read = async (): Promise<void> => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        const sig = await signature(path);
        let text: string;
        try {
          text = await readFile(path, "utf8");
        } catch (err) {
          lastSig = sig;
          report(`open() "${path}" failed ${errnoText(err)}`);
          continue;
        }
        // Changed while being read (a slow writer): read again once it settles.
        if ((await signature(path)) !== sig) {
          again = true;
          await new Promise((r) => setTimeout(r, debounce));
          continue;
        }
        lastSig = sig;
        let snap: Snapshot;
        try {
          snap = translateFile(text, path);
        } catch (err) {
          report(err instanceof Error ? err.message : String(err));
          continue;
        }
        if (snap.index === lastIndex || signal.aborted) {
          report(null);
          continue;
        }
        lastIndex = snap.index;
        report(null);
        try {
          opts.onSnapshot(snap);
        } catch {
          // A callback must not stop the watch.
        }
      } while (again && !signal.aborted);
    } finally {
      reading = false;
    }
  };

  const schedule = (): void => {
    if (debounceTimer !== null || signal.aborted) return;
    debounceTimer = setTimeout(() => {
      debounceTimer = null;
      void read();
    }, debounce);
  };

  const startWatcher = (): void => {
    if (watcher !== null || opts.fsWatch === false || signal.aborted) return;
    try {
      // Any event in the folder: the file itself, a rename over it, or a symlink swap (Kubernetes ConfigMaps).
      const w = watch(dirname(path), { persistent: false }, () => schedule());
      w.on("error", () => {
        w.close();
        if (watcher === w) watcher = null;
      });
      watcher = w;
    } catch {
      // No folder yet: the poll retries.
    }
  };

  const poll = async (): Promise<void> => {
    startWatcher();
    if ((await signature(path)) !== lastSig) schedule();
  };

  return new Promise<void>((resolve) => {
    const stop = (): void => {
      watcher?.close();
      watcher = null;
      if (pollTimer !== null) clearInterval(pollTimer);
      if (debounceTimer !== null) clearTimeout(debounceTimer);
      resolve();
    };
    if (signal.aborted) {
      resolve();
      return;
    }
    signal.addEventListener("abort", stop, { once: true });
    startWatcher();
    pollTimer = setInterval(() => void poll(), Math.max(conf.interval, 10));
    void read();
  });
}
