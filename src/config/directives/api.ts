/**
 * The `api [write=on|off]` location handler (issue 6 item 2): the NGINX Plus API's upstream part (version 9,
 * https://nginx.org/en/docs/http/ngx_http_api_module.html#api), read-only unless `write=on`. Only configuration
 * here: src/control/api.ts answers it. A writable API that no `allow`/`deny` or `auth_basic` protects gets a
 * warning at load (issue 6 item 3: safe by default).
 */
import { claimContent, type ConfigModule, fail } from "../engine.js";
import type { Directive } from "../parser.js";
import type { LocationConf, LocationHandlerConf } from "../types.js";

interface ApiState {
  /** Each `api` handler and its line, for the check once settings are merged. */
  lines: Map<LocationHandlerConf, Directive>;
}

const state = (st: { module: Record<string, unknown> }): ApiState => st.module["api"] as ApiState;

/** `write=on|off` → boolean; anything else is nginx's `invalid parameter`. */
function parseWrite(d: Directive): boolean {
  let write = false;
  for (const arg of d.args) {
    if (arg === "write=on") write = true;
    else if (arg === "write=off") write = false;
    else throw fail(d, `invalid parameter "${arg}"`);
  }
  return write;
}

function forEachLocation(locs: readonly LocationConf[], fn: (l: LocationConf) => void): void {
  for (const l of locs) {
    fn(l);
    forEachLocation(l.locations, fn);
  }
}

/** The admin API module. */
export const api: ConfigModule = {
  name: "api",
  init(st) {
    st.module["api"] = { lines: new Map() } satisfies ApiState;
  },
  finish(config, st) {
    const lines = state(st).lines;
    for (const s of config.http?.servers ?? []) {
      forEachLocation(s.locations, (l) => {
        const d = l.handler ? lines.get(l.handler) : undefined;
        if (!d || l.handler?.kind !== "api" || !l.handler.write) return;
        if (l.settings.access.length === 0 && l.settings.authBasic === null) {
          st.warn(
            d,
            `"api write=on" is open to every client: protect it with "allow"/"deny" or "auth_basic"`,
          );
        }
      });
    }
  },
  directives: [
    {
      name: "api",
      contexts: ["location"],
      args: [0, 1],
      doc: {
        syntax: "api [write=on|off];",
        default: "write=off",
        text:
          "Answers the upstream part of the NGINX Plus API, version 9, below the location's path: " +
          "`GET /9/http/upstreams` (servers with state, connections, requests, failures and health checks), " +
          "`GET|POST /9/http/upstreams/NAME/servers`, `GET|PATCH|DELETE /9/http/upstreams/NAME/servers/ID` (`ID` is " +
          "the server's stable id, the `check_status` index). Writes need `write=on`, else 405 `MethodDisabled`. For an " +
          "upstream with `upsync` they go to its registry (Consul KV, etcd, the watched file) and are answered once " +
          "the change is back (202 if it is not within a few seconds); a catalog upstream (`consul_services`, `consul_health`) refuses them (409); one with no " +
          "`upsync` changes in memory, saved to its `upsync_dump_path` when it has one. `drain` stays local to this instance. Errors are JSON " +
          "with NGINX Plus codes. A writable API without `allow`/`deny` or `auth_basic` gets a warning.",
      },
      handle(d, scope, st) {
        const l = scope.location!;
        const write = parseWrite(d);
        claimContent(l, d);
        const handler: LocationHandlerConf = { kind: "api", write };
        l.handler = handler;
        state(st).lines.set(handler, d);
      },
    },
  ],
};
