/** Starts the real proxy (as a library) from configuration text in a temp folder, with its error log kept. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { loadConfig } from "../../src/config/adapt.js";
import { ProxyServer, type ProxyOptions } from "../../src/proxy/server.js";
import { testEnv } from "./env.js";
import { tempDir } from "./tmp.js";

/** A running proxy and where its logs go. */
export interface TestProxy {
  proxy: ProxyServer;
  dir: string;
  errorLogPath: string;
  accessLogPath: string;
}

/**
 * Loads `conf` (the http block's content) with `error_log ERRLOG debug` and `access_log ACCESS main`
 * prepended, builds the proxy, starts its registry sync and binds it. The proxy is closed after the test.
 */
export async function startProxy(
  t: TestContext,
  httpBody: string,
  opts: ProxyOptions = {},
  files: Record<string, string> = {},
): Promise<TestProxy> {
  const dir = tempDir(t, files);
  const errorLogPath = join(dir, "error.log");
  const accessLogPath = join(dir, "access.log");
  const text =
    `error_log ${errorLogPath} info;\nevents {}\nhttp {\n` +
    `  log_format test '$remote_addr "$request" $status $body_bytes_sent "$upstream_addr" "$upstream_status" $request_time';\n` +
    `  access_log ${accessLogPath} test;\n${httpBody}\n}\n`;
  const file = join(dir, "syncgate.conf");
  writeFileSync(file, text);
  const loaded = loadConfig(file, { env: testEnv() });
  const proxy = await ProxyServer.create(loaded, opts);
  t.after(() => proxy.close());
  // As serve(): registry sync first (strong_dependency waits there), then the listeners.
  await proxy.start();
  await proxy.listen();
  return { proxy, dir, errorLogPath, accessLogPath };
}
