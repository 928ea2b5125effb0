/**
 * Registry sync and health checks together (issue 4 item 3, issue 5 item 3): a whole-set swap to servers that
 * start down (`default_down=true`) keeps the old servers serving until the new ones' first probe results, so the
 * upstream never answers 502 merely because its new servers wait to be probed; and the check state of a server
 * the registry keeps survives the update.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import type { ProxyServer } from "../../src/proxy/server.js";
import { type Backend, startBackend } from "../support/backend.js";
import { send } from "../support/client.js";
import { type ConsulDouble, startConsulDouble } from "../support/consul-double.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";
import { tempDir } from "../support/tmp.js";
import { eventually, sleep } from "../support/wait.js";

const KEY = "upstreams/u/";

/**
 * `first` in the Consul double, and a proxy whose upstream u syncs from it (strong_dependency=on) with the
 * `checks` lines; its server on `port` proxies to u.
 */
async function checkedProxy(
  t: TestContext,
  consul: ConsulDouble,
  first: Backend,
  checks: string,
): Promise<{ port: number; proxy: ProxyServer }> {
  consul.put(`${KEY}${first.addr}`, "{}");
  const port = await freePort();
  const dir = tempDir(t);
  const { proxy } = await startProxy(
    t,
    `upstream u {
       upsync ${consul.address}/v1/kv/${KEY} upsync_type=consul upsync_interval=50ms strong_dependency=on;
       upsync_dump_path ${dir}/u.conf;
       ${checks}
     }
     server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  return { port, proxy };
}

test("a swap to servers that start down: the old ones serve until the new ones' first probe, then leave", async (t) => {
  const consul = await startConsulDouble();
  t.after(() => consul.stop());
  const probes: string[] = [];
  /** Backends answer traffic at once; b and c answer their health probe (GET /check) after 400 ms. */
  const mk = (name: string, probeDelay: number): Promise<Backend> =>
    startBackend(t, name, (req, res) => {
      if (req.url === "/check") {
        probes.push(name);
        setTimeout(() => res.end("ok"), probeDelay);
        return;
      }
      res.end(name);
    });
  const a = await mk("a", 0);
  const b = await mk("b", 400);
  const c = await mk("c", 400);
  const { port, proxy } = await checkedProxy(
    t,
    consul,
    a,
    `check interval=200 rise=3 fall=2 timeout=2000 type=http;
       check_http_send "GET /check HTTP/1.0\\r\\n\\r\\n";`,
  );
  // strong_dependency: the registry's server, checked once before the listener opened.
  assert.equal((await send(port, "/")).body, "a");
  const ia = proxy.checker.servers().find((s) => s.name === a.addr)!.index;

  // Whole-set swap: b and c in, a out, in one registry write each (a is deleted last).
  consul.put(`${KEY}${b.addr}`, "{}");
  consul.put(`${KEY}${c.addr}`, "{}");
  consul.delete(`${KEY}${a.addr}`);
  const during: string[] = [];
  const started = Date.now();
  while (Date.now() - started < 300) {
    const r = await send(port, "/");
    during.push(r.status === 200 ? r.body : String(r.status));
    await sleep(10);
  }
  assert.ok(
    !during.includes("502"),
    `502 while the new servers awaited their first probe: ${during.join(" ")}`,
  );
  assert.ok(
    during.every((x) => x === "a"),
    `only a serves before b and c are probed: ${during.join(" ")}`,
  );

  await eventually("a gone", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await send(port, "/")).body);
    return !seen.has("a") && seen.has("b") && seen.has("c");
  });
  // a's probes stopped with its removal; b and c are up on their first success although rise=3.
  const servers = proxy.checker.servers();
  assert.deepEqual(
    servers.map((s) => [s.name, s.up]).sort(),
    [
      [b.addr, true],
      [c.addr, true],
    ].sort(),
  );
  assert.ok(
    servers.every((s) => s.index > ia),
    "new servers get new indexes",
  );
  assert.ok(probes.includes("b") && probes.includes("c"));
});

test("a registry update that keeps a server keeps its check counters", async (t) => {
  const consul = await startConsulDouble();
  t.after(() => consul.stop());
  const a = await startBackend(t, "a");
  const b = await startBackend(t, "b");
  const { proxy } = await checkedProxy(
    t,
    consul,
    a,
    "check interval=50 rise=1 fall=2 timeout=1000 type=http;",
  );
  const state = () => proxy.checker.servers().find((s) => s.name === a.addr)!;
  await eventually("a has a run of successes", () => state().rise >= 4);
  const { index, rise } = state();
  consul.put(`${KEY}${a.addr}`, '{"weight":3}');
  consul.put(`${KEY}${b.addr}`, "{}");
  await eventually("b checked", () => proxy.checker.servers().some((s) => s.name === b.addr && s.up));
  assert.equal(state().index, index);
  assert.ok(state().rise >= rise, `rise went from ${rise} to ${state().rise}: counters were reset`);
});
