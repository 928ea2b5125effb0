/**
 * `user USER [GROUP]` (issue 7 item 1): the listeners are bound (and the logs opened) first, then the workers drop
 * to that account, as nginx's do. With `user` there is always a primary, and it keeps its privileges: it binds
 * the listeners workers ask for (reloads may add ports below 1024) and owns the pid, dump and log files.
 */
import { chownSync } from "node:fs";
import { accountIds } from "../cli/system.js";
import type { Config } from "../config/types.js";
import { SyncgateError } from "../lib/errors.js";

/** Switches this process to the configured account; a no-op without `user` (or when not started as root). */
export function dropPrivileges(config: Config): void {
  const u = config.main.user;
  if (!u || typeof process.getuid !== "function" || process.getuid() !== 0) return;
  try {
    // Supplementary groups of root must not survive the switch.
    process.setgroups!([u.group]);
    process.setgid!(u.group);
    process.setuid!(u.user);
  } catch (err) {
    throw new SyncgateError("SG_ERR_IO", `setuid("${u.user}") failed (${(err as Error).message})`);
  }
}

/**
 * Gives the log files to the `user` account, as nginx's master does on SIGUSR1: the primary (root) reopens them
 * first, creating the files logrotate moved away, and the workers, running as that account, reopen them next.
 */
export function giveLogs(config: Config, paths: readonly string[]): void {
  const u = config.main.user;
  if (!u || process.getuid?.() !== 0) return;
  const ids = accountIds(u.user, u.group);
  if (!ids) return;
  for (const p of paths) {
    try {
      chownSync(p, ids.uid, ids.gid);
    } catch {
      // A file that could not be reopened was reported by the reopen itself.
    }
  }
}
