/** The real machine behind the adapter's environment: root check and account look-ups (getpwnam/getgrnam). */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { AdaptEnv } from "../config/engine.js";

function lookup(db: "passwd" | "group", name: string): boolean {
  // getent asks NSS (LDAP, sssd...) as getpwnam() does; /etc files are the fallback when it is missing.
  try {
    execFileSync("getent", [db, name], { stdio: "ignore" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return false;
  }
  try {
    return readFileSync(`/etc/${db}`, "utf8")
      .split("\n")
      .some((line) => line.split(":")[0] === name);
  } catch {
    return false;
  }
}

/** The environment of this process. */
export function systemEnv(): AdaptEnv {
  return {
    isRoot: process.getuid?.() === 0,
    userExists: (name) => lookup("passwd", name),
    groupExists: (name) => lookup("group", name),
  };
}
