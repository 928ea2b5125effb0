/** A fixed machine for configuration tests: running as root, with the accounts "root", "nobody", "www-data". */
import type { AdaptEnv } from "../../src/config/engine.js";

/** The test environment; `isRoot` decides the default listen port and whether `user` is checked. */
export function testEnv(isRoot = true): AdaptEnv {
  const users = new Set(["root", "nobody", "www-data"]);
  const groups = new Set(["root", "nogroup", "www-data"]);
  return { isRoot, userExists: (n) => users.has(n), groupExists: (n) => groups.has(n) };
}
