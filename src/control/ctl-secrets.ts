/**
 * Credentials of `syncgate ctl`: read from files (or the environment), never taken on the command line, where
 * `ps` shows them to every user, and never put in a message.
 */
import { readFileSync } from "node:fs";
import { errnoText } from "../lib/errors.js";
import { ControlError } from "./types.js";

/** Environment variable holding the API's `user:password` when no --auth-file is given. */
export const AUTH_ENV = "SYNCGATE_API_AUTH";

/** The trimmed contents of a credentials file; `what` names the option in messages (`--token-file`). */
export function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ControlError("SecretUnreadable", `${what}: open() "${path}" failed ${errnoText(err)}`);
  }
  const secret = text.trim();
  if (secret === "") throw new ControlError("SecretUnreadable", `${what}: "${path}" is empty`);
  return secret;
}

/** The API's basic-auth `user:password`: from `--auth-file`, else from $SYNCGATE_API_AUTH, else null. */
export function apiAuth(
  authFile: string | undefined,
  env: Record<string, string | undefined>,
): string | null {
  const [auth, where] =
    authFile !== undefined
      ? [readSecretFile(authFile, "--auth-file"), `--auth-file "${authFile}"`]
      : [env[AUTH_ENV]?.trim() || null, AUTH_ENV];
  if (auth !== null && !auth.includes(":")) {
    throw new ControlError("SecretUnreadable", `${where} must hold user:password`);
  }
  return auth;
}
