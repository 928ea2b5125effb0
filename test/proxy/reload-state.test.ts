/**
 * Issue 7 item 2, as a library: a reload keeps an upstream whose definition did not change — the same Upstream
 * object, its registry watch still in its blocking query (no new first read), its servers — even though the dump
 * file the config includes changed since; a changed upstream is rebuilt and a changed location answers anew.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../src/config/adapt.js";
import { ProxyServer } from "../../src/proxy/server.js";
import { startBackend } from "../support/backend.js";
import { answers, send } from "../support/client.js";
import { startConsulDouble } from "../support/consul-double.js";
import { testEnv } from "../support/env.js";
import { freePort } from "../support/ports.js";
import { tempDir } from "../support/tmp.js";
import { eventually, sleep } from "../support/wait.js";

const KEY = "upstreams/con_server/";

test("reload: an unchanged synced upstream keeps its object, servers and running watch; changed parts apply", async (t) => {
  const c = await startConsulDouble();
  t.after(() => c.stop());
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const port = await freePort();
  const dir = tempDir(t);
  const dump = join(dir, "servers", "con_server.conf");
  const conf = (version: string, otherWeight: number): string => `
error_log ${join(dir, "error.log")} info;
events {}
http {
  access_log off;
  upstream con_server {
    server 127.0.0.1:11111;
    upsync ${c.address}/v1/kv/${KEY} upsync_timeout=6m upsync_interval=500ms upsync_type=consul;
    upsync_dump_path ${dump};
    include ${dump};
  }
  upstream other { server ${b.addr} weight=${otherWeight}; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://con_server; }
    location /other { proxy_pass http://other; }
    location /v { return 200 "${version}"; }
  }
}
`;
  const file = join(dir, "syncgate.conf");
  writeFileSync(file, conf("v1", 1));
  const first = await ProxyServer.create(loadConfig(file, { env: testEnv() }));
  let running = first;
  t.after(() => running.close());
  await first.start();
  await first.listen();
  c.put(`${KEY}${a.addr}`, '{"weight":1,"max_fails":2,"fail_timeout":10}');
  await eventually("a serves", async () => (await answers(port, 1))[0] === "a");

  // The dump now lists a (the config includes it), the location and `other` change: reload.
  writeFileSync(file, conf("v2", 2));
  const firstReads = (): number => c.requests.filter((r) => !r.url.includes("index=")).length;
  const readsBefore = firstReads();
  const next = await ProxyServer.create(loadConfig(file, { env: testEnv() }), {}, first);
  await next.listen(first);
  await next.commit(first);
  running = next;

  assert.equal(next.upstreams.get("con_server"), first.upstreams.get("con_server"), "con_server kept");
  assert.notEqual(next.upstreams.get("other"), first.upstreams.get("other"), "other rebuilt");
  assert.equal((await send(port, "/v")).body, "v2");
  assert.deepEqual(await answers(port, 3), ["a", "a", "a"]);
  assert.equal((await send(port, "/other")).status, 200);
  await sleep(300);
  assert.equal(firstReads(), readsBefore, "the kept watch did not start over");
  // The kept watch still follows the registry.
  c.put(`${KEY}${b.addr}`, '{"weight":1,"max_fails":2,"fail_timeout":10}');
  await eventually("b joins through the kept watch", async () => (await answers(port, 4)).includes("b"));
});
