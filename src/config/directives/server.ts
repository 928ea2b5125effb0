/** `server {}`, `listen`, `server_name`, `location {}` and `return`: nginx's http core routing directives. */
import {
  type AdaptState,
  type ConfigModule,
  type LocationBuilder,
  type ServerBuilder,
  fail,
  newLevel,
  NOARGS,
  ONEMORE,
  TAKE12,
} from "../engine.js";
import { parseHostPort } from "../address.js";
import type { Directive } from "../parser.js";
import type {
  HttpSettings,
  ListenConf,
  LocationConf,
  LocationMatch,
  ServerConf,
  ServerNameConf,
} from "../types.js";
import { parseNumber } from "../values.js";
import { httpState, mergeSettings } from "./http.js";
import { registerCaptures, useVariables } from "./vars.js";

/** Compiles an nginx (PCRE) regex as JavaScript; `(?P<name>` is accepted as `(?<name>`. */
export function compileRegex(d: Directive, pattern: string, caseless: boolean): RegExp {
  try {
    return new RegExp(pattern.replace(/\(\?P</g, "(?<"), caseless ? "i" : "");
  } catch (err) {
    throw fail(d, `invalid regular expression "${pattern}": ${(err as Error).message.replace(/^.*: /, "")}`);
  }
}

const LISTEN_IGNORED = [
  "bind",
  "deferred",
  "so_keepalive=",
  "rcvbuf=",
  "sndbuf=",
  "fastopen=",
  "setfib=",
  "accept_filter=",
];
const LISTEN_UNSUPPORTED = ["ssl", "http2", "quic", "proxy_protocol"];

function parseListen(d: Directive, st: AdaptState): ListenConf {
  const text = d.args[0]!;
  if (text.startsWith("unix:")) throw fail(d, `unix sockets in "listen" are not supported by syncgate`);
  let host = "*";
  let port: number | null;
  let ipv6 = false;
  if (/^\d+$/.test(text)) {
    port = parseNumber(text);
    if (port === null || port < 1 || port > 65535)
      throw fail(d, `invalid port in "${text}" of the "listen" directive`);
  } else {
    const hp = parseHostPort(text);
    if ("error" in hp) throw fail(d, `${hp.error} in "${text}" of the "listen" directive`);
    host = hp.host;
    ipv6 = hp.ipv6;
    port = hp.port ?? 80;
  }
  const conf: ListenConf = {
    host,
    port,
    ipv6,
    defaultServer: false,
    ipv6only: true,
    backlog: null,
    reuseport: false,
    origin: { file: d.file, line: d.line },
  };
  for (const p of d.args.slice(1)) {
    if (p === "default_server" || p === "default") conf.defaultServer = true;
    else if (p === "reuseport") conf.reuseport = true;
    else if (p.startsWith("backlog=")) {
      const n = parseNumber(p.slice(8));
      if (!n) throw fail(d, `invalid backlog "${p.slice(8)}"`);
      conf.backlog = n;
    } else if (p === "ipv6only=on" || p === "ipv6only=off") {
      // nginx accepts it on an IPv4 address and ignores it there (older versions said so, without failing).
      if (!ipv6) st.warn(d, `ipv6only is not supported on addr "${listenKey(conf)}", ignored`);
      else conf.ipv6only = p === "ipv6only=on";
    } else if (LISTEN_UNSUPPORTED.includes(p)) {
      throw fail(d, `the "${p}" parameter of the "listen" directive is not supported by syncgate`);
    } else if (LISTEN_IGNORED.some((i) => (i.endsWith("=") ? p.startsWith(i) : p === i))) {
      st.noticeOnce(
        `listen ${p}`,
        d,
        `the "${p.split("=")[0]!}" parameter of "listen" has no effect in syncgate, ignored`,
      );
    } else throw fail(d, `invalid parameter "${p}"`);
  }
  return conf;
}

/** The address a listen binds, as nginx prints it: 0.0.0.0:80, [::]:80, 127.0.0.1:8080. */
export function listenKey(l: ListenConf): string {
  const host = l.host === "*" ? "0.0.0.0" : l.host;
  return l.ipv6 ? `[${host}]:${l.port}` : `${host}:${l.port}`;
}

function parseServerName(d: Directive, st: AdaptState, name: string): ServerNameConf[] {
  if (name.startsWith("~")) {
    const pattern = name.slice(1);
    compileRegex(d, pattern, false);
    registerCaptures(st, pattern);
    return [{ kind: "regex", name, pattern }];
  }
  const n = name.toLowerCase();
  if (n.startsWith(".") && !n.slice(1).includes("*")) {
    return [
      { kind: "exact", name: n.slice(1) },
      { kind: "wildcard_prefix", name: `*${n}` },
    ];
  }
  const stars = n.split("*").length - 1;
  if (stars === 0) return [{ kind: "exact", name: n }];
  if (stars === 1 && n.startsWith("*.") && n.length > 2) return [{ kind: "wildcard_prefix", name: n }];
  if (stars === 1 && n.endsWith(".*") && n.length > 2) return [{ kind: "wildcard_suffix", name: n }];
  throw fail(d, `invalid server name or wildcard "${name}"`);
}

function parseLocation(d: Directive, parent: LocationBuilder | null): { match: LocationMatch; path: string } {
  const [a, b] = d.args as [string, string | undefined];
  const mods: Record<string, LocationMatch> = {
    "=": "exact",
    "~": "regex",
    "~*": "regex_caseless",
    "^~": "prefix_no_regex",
  };
  let match: LocationMatch;
  let path: string;
  if (b !== undefined) {
    const m = mods[a];
    if (!m) throw fail(d, `invalid location modifier "${a}"`);
    match = m;
    path = b;
  } else if (a.startsWith("=")) [match, path] = ["exact", a.slice(1)];
  else if (a.startsWith("~*")) [match, path] = ["regex_caseless", a.slice(2)];
  else if (a.startsWith("~")) [match, path] = ["regex", a.slice(1)];
  else if (a.startsWith("^~")) [match, path] = ["prefix_no_regex", a.slice(2)];
  else if (a.startsWith("@")) [match, path] = ["named", a];
  else [match, path] = ["prefix", a];
  if (path === "") throw fail(d, `invalid location modifier "${a}"`);
  if (match === "regex" || match === "regex_caseless") compileRegex(d, path, match === "regex_caseless");
  if (parent) {
    if (parent.match === "exact")
      throw fail(d, `location "${path}" cannot be inside the exact location "${parent.path}"`);
    if (parent.match === "named")
      throw fail(d, `location "${path}" cannot be inside the named location "${parent.path}"`);
    if (match === "named") throw fail(d, `named location "${path}" can be on the server level only`);
    const regex = match === "regex" || match === "regex_caseless";
    if (!regex && !path.startsWith(parent.path)) {
      throw fail(d, `location "${path}" is outside location "${parent.path}"`);
    }
  }
  return { match, path };
}

const isPrefixMatch = (m: LocationMatch) => m === "prefix" || m === "prefix_no_regex";

function buildLocation(l: LocationBuilder, inherited: HttpSettings): LocationConf {
  const settings = mergeSettings(inherited, l.level);
  return {
    match: l.match,
    path: l.path,
    origin: l.origin,
    locations: l.locations.map((c) => buildLocation(c, settings)),
    proxyPass: l.proxyPass,
    return: l.return,
    handler: l.handler,
    settings,
  };
}

function buildServer(s: ServerBuilder, httpSettings: HttpSettings, st: AdaptState): ServerConf {
  const settings = mergeSettings(httpSettings, s.level);
  const listen =
    s.listen.length > 0
      ? s.listen
      : [
          {
            host: "*",
            port: st.env.isRoot ? 80 : 8000,
            ipv6: false,
            defaultServer: false,
            ipv6only: true,
            backlog: null,
            reuseport: false,
            origin: s.origin,
          },
        ];
  return {
    origin: s.origin,
    listen,
    serverNames: s.serverNames ?? [{ kind: "exact", name: "" }],
    return: s.return,
    locations: s.locations.map((l) => buildLocation(l, settings)),
    settings,
  };
}

function forEachLocation(locs: LocationConf[], fn: (l: LocationConf) => void): void {
  for (const l of locs) {
    fn(l);
    forEachLocation(l.locations, fn);
  }
}

/** The routing module. */
export const server: ConfigModule = {
  name: "server",
  finish(config, st) {
    const h = httpState(st);
    if (!config.http || !h) return;
    const httpSettings = config.http.settings;
    const servers = h.servers.map((s) => buildServer(s, httpSettings, st));
    // Upstream names are case-insensitive in nginx (ngx_http_upstream_add() compares with ngx_strncasecmp).
    const upstreams = new Map(config.http.upstreams.map((u) => [u.name.toLowerCase(), u.name]));
    // nginx refuses a port on a name that an upstream block defines (ngx_http_upstream_add()).
    const checkPort = (locs: LocationBuilder[]): void => {
      for (const l of locs) {
        const pp = l.proxyPass;
        if (
          pp &&
          !pp.variables &&
          pp.port !== null &&
          upstreams.has(pp.host.toLowerCase()) &&
          l.proxyPassOrigin
        )
          throw fail(l.proxyPassOrigin, `upstream "${pp.host}" may not have port ${pp.port}`);
        checkPort(l.locations);
      }
    };
    for (const s of h.servers) checkPort(s.locations);
    for (const s of servers) {
      forEachLocation(s.locations, (l) => {
        const pp = l.proxyPass;
        const name =
          pp && !pp.variables && pp.port === null ? upstreams.get(pp.host.toLowerCase()) : undefined;
        if (pp && name !== undefined) pp.upstream = name;
      });
    }
    // One default server per address:port; a name claimed twice on one address keeps the first (warning).
    const defaults = new Map<string, true>();
    const names = new Map<string, true>();
    for (const s of servers) {
      for (const l of s.listen) {
        const key = listenKey(l);
        if (l.defaultServer) {
          if (defaults.has(key)) throw fail(l.origin, `a duplicate default server for ${key}`);
          defaults.set(key, true);
        }
        for (const n of s.serverNames) {
          if (n.kind === "regex") continue;
          const nk = `${key} ${n.name}`;
          if (names.has(nk))
            st.messages.push({
              level: "warn",
              text: `conflicting server name "${n.name}" on ${key}, ignored`,
            });
          names.set(nk, true);
        }
      }
    }
    config.http.servers = servers;
  },
  directives: [
    {
      name: "server",
      contexts: ["http"],
      args: NOARGS,
      block: "server",
      doc: {
        syntax: "server { ... }",
        default: "—",
        text: "A virtual server: its addresses, names and locations.",
      },
      handle(d, _scope, st) {
        const s: ServerBuilder = {
          origin: { file: d.file, line: d.line },
          listen: [],
          serverNames: null,
          return: null,
          locations: [],
          level: newLevel(),
        };
        httpState(st)!.servers.push(s);
        return { ctx: "server", level: s.level, server: s, location: null, upstream: null };
      },
    },
    {
      name: "listen",
      contexts: ["server"],
      args: ONEMORE,
      doc: {
        syntax: "listen ADDRESS[:PORT] | PORT [default_server] [ipv6only=on|off] [backlog=N] [reuseport];",
        default: "*:80 as root, *:8000 otherwise",
        text: "Address and port the server accepts on; several servers may share one, `default_server` answers names no server claims.",
      },
      handle(d, scope, st) {
        const s = scope.server!;
        const l = parseListen(d, st);
        if (s.listen.some((o) => listenKey(o) === listenKey(l)))
          throw fail(d, `a duplicate listen ${listenKey(l)}`);
        s.listen.push(l);
      },
    },
    {
      name: "server_name",
      contexts: ["server"],
      args: ONEMORE,
      doc: {
        syntax: "server_name NAME ...;",
        default: '""',
        text: "Names the server answers: exact, `*.example.com`, `www.example.*`, `.example.com` (both), `~regex`.",
      },
      handle(d, scope, st) {
        const s = scope.server!;
        s.serverNames ??= [];
        for (const n of d.args) s.serverNames.push(...parseServerName(d, st, n));
      },
    },
    {
      name: "location",
      contexts: ["server", "location"],
      args: TAKE12,
      block: "location",
      doc: {
        syntax: "location [ = | ^~ | ~ | ~* ] URI { ... }  |  location @NAME { ... }",
        default: "—",
        text: "Settings for matching request URIs, chosen as nginx does: exact, then longest prefix (`^~` stops there), then regexes in order. Locations nest.",
      },
      handle(d, scope, st) {
        const parent = scope.location;
        const { match, path } = parseLocation(d, parent);
        if (match === "regex" || match === "regex_caseless") registerCaptures(st, path);
        const siblings = parent ? parent.locations : scope.server!.locations;
        const clash = siblings.find(
          (o) =>
            o.path === path &&
            (o.match === match || (isPrefixMatch(o.match) && isPrefixMatch(match))) &&
            o.match !== "regex" &&
            o.match !== "regex_caseless",
        );
        if (clash) throw fail(d, `duplicate location "${path}"`);
        const l: LocationBuilder = {
          match,
          path,
          origin: { file: d.file, line: d.line },
          parent,
          locations: [],
          proxyPass: null,
          proxyPassOrigin: null,
          return: null,
          handler: null,
          level: newLevel(),
        };
        siblings.push(l);
        return { ...scope, ctx: "location", level: l.level, location: l };
      },
    },
    {
      name: "return",
      contexts: ["server", "location"],
      args: TAKE12,
      doc: {
        syntax: "return CODE [TEXT];  return CODE URL;  return URL;",
        default: "—",
        text: "Stops processing and answers CODE (444 closes the connection); 301/302/303/307/308 redirect to URL; a lone URL is a 302.",
      },
      handle(d, scope, st) {
        const target = scope.location ?? scope.server!;
        const [a, b] = d.args as [string, string | undefined];
        let code: number | null;
        let text: string | null = b ?? null;
        if (b === undefined && /^(https?:\/\/|\$scheme)/.test(a)) {
          code = 302;
          text = a;
        } else {
          code = parseNumber(a);
          if (code === null || code > 999) throw fail(d, `invalid return code "${a}"`);
        }
        if (text !== null) useVariables(st, d, text);
        // As nginx, the first return of a block is the one that runs.
        target.return ??= { code, text };
      },
    },
  ],
};
