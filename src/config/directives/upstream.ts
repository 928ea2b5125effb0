/** `upstream {}`, its `server` lines and load-balancing methods (nginx's upstream, round robin, least_conn,
 * ip_hash, hash, random and keepalive modules). */
import { defaultServer, defaultUpstream } from "../defaults.js";
import {
  type AdaptState,
  type ConfigModule,
  type Scope,
  type UpstreamBuilder,
  fail,
  markOnce,
  NOARGS,
  ONEMORE,
  TAKE1,
  TAKE12,
  invalidValue,
} from "../engine.js";
import { parseHostPort } from "../address.js";
import type { Directive } from "../parser.js";
import type { BalancerConf, ServerSpec } from "../types.js";
import { parseNumber, parseSize, parseTime } from "../values.js";
import { httpState } from "./http.js";
import { useVariables } from "./vars.js";

function upstreamOf(scope: Scope): UpstreamBuilder {
  if (!scope.upstream) throw new Error("not in an upstream block");
  return scope.upstream;
}

/** Parses one upstream `server` line into a ServerSpec, with nginx's messages. */
export function parseServerLine(d: Directive): ServerSpec {
  const address = d.args[0]!;
  if (address.startsWith("unix:"))
    throw fail(d, `unix sockets in upstream "${address}" are not supported by syncgate`);
  const hp = parseHostPort(address);
  if ("error" in hp) throw fail(d, `${hp.error} in upstream "${address}"`);
  const port = hp.port ?? 80;
  const spec: ServerSpec = defaultServer(hp.host, port, { file: d.file, line: d.line });
  for (const p of d.args.slice(1)) {
    const eq = p.indexOf("=");
    const key = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? null : p.slice(eq + 1);
    const bad = () => fail(d, `invalid parameter "${p}"`);
    if (key === "backup" && value === null) spec.backup = true;
    else if (key === "down" && value === null) spec.down = true;
    else if (key === "resolve" && value === null) continue;
    else if (value === null) throw bad();
    else if (key === "weight") {
      const n = parseNumber(value);
      if (!n) throw bad();
      spec.weight = n;
    } else if (key === "max_fails") {
      const n = parseNumber(value);
      if (n === null) throw bad();
      spec.maxFails = n;
    } else if (key === "max_conns") {
      const n = parseNumber(value);
      if (n === null) throw bad();
      spec.maxConns = n;
    } else if (key === "fail_timeout" || key === "slow_start") {
      const ms = parseTime(value, true);
      if (ms === null) throw bad();
      if (key === "fail_timeout") spec.failTimeout = ms;
      else spec.slowStart = ms;
    } else throw bad();
  }
  return spec;
}

function setBalancer(d: Directive, scope: Scope, st: AdaptState, balancer: BalancerConf): void {
  const u = upstreamOf(scope);
  // nginx's keepalive also takes over the balancer hook, so a method after it is "redefined" too.
  if (u.balancerOrigin || u.conf.keepalive !== null) st.warn(d, "load balancing method redefined");
  u.conf.balancer = balancer;
  u.balancerOrigin = { file: d.file, line: d.line };
}

const UPSTREAM_ONLY = ["upstream"] as const;

/** The upstream module. */
export const upstream: ConfigModule = {
  name: "upstream",
  finish(config, st) {
    const h = httpState(st);
    if (!config.http || !h) return;
    config.http.upstreams = h.upstreams.map((u) => u.conf);
  },
  directives: [
    {
      name: "upstream",
      contexts: ["http"],
      args: TAKE1,
      block: "upstream",
      doc: {
        syntax: "upstream NAME { ... }",
        default: "—",
        text: "A group of servers that `proxy_pass http://NAME` balances over.",
      },
      handle(d, scope, st) {
        const h = httpState(st)!;
        const name = d.args[0]!;
        if (h.upstreams.some((u) => u.conf.name.toLowerCase() === name.toLowerCase()))
          throw fail(d, `duplicate upstream "${name}"`);
        const u: UpstreamBuilder = {
          conf: defaultUpstream(name, { file: d.file, line: d.line }),
          seen: new Set(),
          balancerOrigin: null,
          endOrigin: { file: d.file, line: d.endLine ?? d.line },
          block: d.block ?? [],
        };
        h.upstreams.push(u);
        return { ...scope, ctx: "upstream", upstream: u, level: null };
      },
      leave(scope) {
        const u = upstreamOf(scope);
        const m = u.conf.balancer.method;
        if (m === "ip_hash" || m === "hash" || m === "random") {
          const backup = u.conf.servers.find((s) => s.backup);
          if (backup) throw fail(backup.origin, `balancing method does not support parameter "backup"`);
        }
        // An upstream whose servers all come from a registry may start empty (the registry-sync module
        // marks it); any other must list at least one server, as nginx requires (ngx_http_upstream(), at the
        // closing "}"); servers that are all backup are refused as ngx_http_upstream_init_round_robin() does.
        if (u.conf.servers.length === 0 && !u.allowEmpty) {
          throw fail(u.endOrigin ?? u.conf.origin, "no servers are inside upstream");
        }
        if (u.conf.servers.length > 0 && u.conf.servers.every((s) => s.backup)) {
          throw fail(u.conf.origin, `no servers in upstream "${u.conf.name}"`);
        }
      },
    },
    {
      name: "server",
      contexts: UPSTREAM_ONLY,
      args: ONEMORE,
      doc: {
        syntax:
          "server ADDRESS[:PORT] [weight=N] [max_fails=N] [fail_timeout=TIME] [max_conns=N] [slow_start=TIME] [backup] [down];",
        default: "weight=1 max_fails=1 fail_timeout=10s",
        text: "A server of the upstream. A host name resolves to all its addresses at load.",
      },
      handle(d, scope) {
        upstreamOf(scope).conf.servers.push(parseServerLine(d));
      },
    },
    {
      name: "least_conn",
      contexts: UPSTREAM_ONLY,
      args: NOARGS,
      doc: {
        syntax: "least_conn;",
        default: "—",
        text: "Pick the server with the fewest active requests (weighted).",
      },
      handle(d, scope, st) {
        setBalancer(d, scope, st, { method: "least_conn" });
      },
    },
    {
      name: "ip_hash",
      contexts: UPSTREAM_ONLY,
      args: NOARGS,
      doc: {
        syntax: "ip_hash;",
        default: "—",
        text: "Pick by client address (first three octets of IPv4, the whole IPv6 address).",
      },
      handle(d, scope, st) {
        setBalancer(d, scope, st, { method: "ip_hash" });
      },
    },
    {
      name: "hash",
      contexts: UPSTREAM_ONLY,
      args: TAKE12,
      doc: {
        syntax: "hash KEY [consistent];",
        default: "—",
        text: "Pick by a key with variables; `consistent` uses ketama so few keys move when servers change.",
      },
      handle(d, scope, st) {
        const key = d.args[0]!;
        const mode = d.args[1];
        if (mode !== undefined && mode !== "consistent") throw fail(d, `invalid parameter "${mode}"`);
        useVariables(st, d, key);
        setBalancer(d, scope, st, { method: "hash", key, consistent: mode === "consistent" });
      },
    },
    {
      name: "random",
      contexts: UPSTREAM_ONLY,
      args: [0, 2],
      doc: {
        syntax: "random [two [least_conn]];",
        default: "—",
        text: "Pick at random (weighted); `two` picks two and keeps the better by `least_conn`.",
      },
      handle(d, scope, st) {
        const [two, method] = d.args;
        if (two !== undefined && two !== "two") throw fail(d, `invalid parameter "${two}"`);
        if (method !== undefined && method !== "least_conn") throw fail(d, `invalid parameter "${method}"`);
        setBalancer(d, scope, st, {
          method: "random",
          two: two === "two",
          twoMethod: two === "two" ? "least_conn" : null,
        });
      },
    },
    {
      name: "keepalive",
      contexts: UPSTREAM_ONLY,
      args: TAKE1,
      doc: {
        syntax: "keepalive CONNECTIONS;",
        default: "syncgate keeps a pool by default",
        text: "Idle keep-alive connections to the upstream's servers kept per process (syncgate pools by default; nginx needs this line).",
      },
      handle(d, scope) {
        const u = upstreamOf(scope);
        markOnce(u.seen, d);
        const n = parseNumber(d.args[0]!);
        if (!n) throw fail(d, `invalid value "${d.args[0]!}" in "${d.name}" directive`);
        u.conf.keepalive = n;
      },
    },
    {
      name: "keepalive_timeout",
      contexts: UPSTREAM_ONLY,
      args: TAKE1,
      doc: {
        syntax: "keepalive_timeout TIME;  (in upstream)",
        default: "60s",
        text: "How long an idle upstream connection stays in the pool.",
      },
      handle(d, scope) {
        const u = upstreamOf(scope);
        markOnce(u.seen, d);
        const ms = parseTime(d.args[0]!);
        if (ms === null) throw invalidValue(d);
        u.conf.keepaliveTimeout = ms;
      },
    },
    {
      name: "keepalive_requests",
      contexts: UPSTREAM_ONLY,
      args: TAKE1,
      doc: {
        syntax: "keepalive_requests NUMBER;  (in upstream)",
        default: "1000",
        text: "Requests sent over one upstream connection before it is closed.",
      },
      handle(d, scope) {
        const u = upstreamOf(scope);
        markOnce(u.seen, d);
        const n = parseNumber(d.args[0]!);
        if (n === null) throw fail(d, `"${d.name}" directive invalid number`);
        u.conf.keepaliveRequests = n;
      },
    },
    {
      name: "zone",
      contexts: UPSTREAM_ONLY,
      args: TAKE12,
      doc: {
        syntax: "zone NAME [SIZE];",
        default: "—",
        text: "nginx's shared memory for the group; accepted and noted once (syncgate always shares upstream state).",
      },
      handle(d, scope, st) {
        const u = upstreamOf(scope);
        markOnce(u.seen, d);
        let size: number | null = null;
        if (d.args[1] !== undefined) {
          size = parseSize(d.args[1]);
          if (size === null) throw fail(d, `invalid zone size "${d.args[1]}"`);
          // nginx needs at least eight pages (ngx_http_upstream_zone()).
          if (size < 8 * 4096) throw fail(d, `zone "${d.args[0]!}" is too small`);
        }
        u.conf.zone = { name: d.args[0]!, size };
        st.noticeOnce("zone", d, `"zone" directive has no effect in syncgate, ignored`);
      },
    },
  ],
};
