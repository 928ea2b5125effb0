/** The seed configuration (test/fixtures/seed-nginx.conf) and its htpasswd files, for runs on loopback. */
import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/", import.meta.url));

/** The seed configuration as written. */
export function seedText(): string {
  return readFileSync(join(FIXTURES, "seed-nginx.conf"), "utf8");
}

/** Copies the fixture htpasswd file made with `scheme` (root / 123456) to `dir`/.htpasswd; returns that path. */
export function seedHtpasswd(dir: string, scheme: "apr1" | "bcrypt" = "apr1"): string {
  const path = join(dir, ".htpasswd");
  copyFileSync(join(FIXTURES, "htpasswd", `${scheme}.htpasswd`), path);
  return path;
}

/** What the seed configuration's registry, ports and password file become. */
export interface SeedLoopback {
  /** The seed's registry text (its address, or its whole `upsync` line) and what replaces it. */
  registry: [seed: string, replacement: string];
  /** The port both seed servers listen on (127.0.0.1). */
  port: number;
  /** The status server's `auth_basic_user_file`. */
  htpasswd: string;
}

/**
 * The seed configuration, rewritten for loopback: registry, dump, logs, listen ports and htpasswd in place, `user`
 * and the mime.types include removed, and its `check` line with a shorter interval and without `port=80`, plus the
 * walkthrough's `check_http_send "HEAD / HTTP/1.0\r\n\r\n"` and `check_http_expect_alive http_2xx http_3xx`.
 */
export function seedConfig(
  dir: string,
  { registry: [seed, replacement], port, htpasswd }: SeedLoopback,
): string {
  const conf = seedText()
    .replace(/^user .*$/m, "")
    .replace("/data/work/nginx/logs/error.log", join(dir, "error.log") + " info")
    .replace("#pid        logs/nginx.pid;", `pid ${join(dir, "syncgate.pid")};`)
    .replace("/data/logs/nginx/access.log", join(dir, "access.log"))
    .replace("include       mime.types;", "")
    .replace(seed, replacement)
    .replaceAll("/data/work/nginx/conf/servers/con_server.conf", join(dir, "servers", "con_server.conf"))
    .replace(
      "check interval=5000 rise=1 fall=3 timeout=4000 type=http port=80;",
      "check interval=100 rise=1 fall=3 timeout=4000 type=http;\n" +
        '        check_http_send "HEAD / HTTP/1.0\\r\\n\\r\\n";\n' +
        "        check_http_expect_alive http_2xx http_3xx;",
    )
    .replaceAll("listen 80;", `listen 127.0.0.1:${port};`)
    .replace("/data/work/nginx/conf/.htpasswd", htpasswd);
  assert.doesNotMatch(conf, /10\.10\.|\/data\//, "every seed address and path is rewritten");
  return conf;
}
