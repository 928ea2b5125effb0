/** Starts the real proxy (as a library) from a whole configuration file, for tests that set main-level logs. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { loadConfig } from "../../src/config/adapt.js";
import { ProxyServer } from "../../src/proxy/server.js";
import { testEnv } from "./env.js";
import { tempDir } from "./tmp.js";

/** Writes `text(dir)` to DIR/syncgate.conf in a temp folder, builds and binds the proxy; closed after the test. */
export async function startWholeConfig(
  t: TestContext,
  text: (dir: string) => string,
): Promise<{ proxy: ProxyServer; dir: string }> {
  const dir = tempDir(t);
  const file = join(dir, "syncgate.conf");
  writeFileSync(file, text(dir));
  const proxy = await ProxyServer.create(loadConfig(file, { env: testEnv() }));
  await proxy.listen();
  t.after(() => proxy.close());
  return { proxy, dir };
}
