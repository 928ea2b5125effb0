/** The real machine behind the adapter's environment: root check and account look-ups (getpwnam/getgrnam). */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { AdaptEnv } from "../config/engine.js";

/** The account database line of `name` (getpwnam/getgrnam), or null when there is none. */
function entry(db: "passwd" | "group", name: string): string[] | null {
  // getent asks NSS (LDAP, sssd...) as getpwnam() does; /etc files are the fallback when it is missing.
  try {
    return execFileSync("getent", [db, name], { encoding: "utf8" }).trim().split(":");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return null;
  }
  try {
    const line = readFileSync(`/etc/${db}`, "utf8")
      .split("\n")
      .find((l) => l.split(":")[0] === name);
    return line === undefined ? null : line.split(":");
  } catch {
    return null;
  }
}

function lookup(db: "passwd" | "group", name: string): boolean {
  return entry(db, name) !== null;
}

/** The numeric ids of an account and group, or null when either is unknown. */
export function accountIds(user: string, group: string): { uid: number; gid: number } | null {
  const u = entry("passwd", user);
  const g = entry("group", group);
  if (!u || !g) return null;
  return { uid: Number(u[2]), gid: Number(g[2]) };
}

/** The environment of this process. */
export function systemEnv(): AdaptEnv {
  return {
    isRoot: process.getuid?.() === 0,
    userExists: (name) => lookup("passwd", name),
    groupExists: (name) => lookup("group", name),
  };
}
