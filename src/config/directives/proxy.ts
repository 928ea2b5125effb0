/** `proxy_pass` and the `proxy_*` directives of nginx's proxy module. */
import {
  claimContent,
  type ConfigModule,
  duplicate,
  fail,
  levelOf,
  markOnce,
  ONEMORE,
  TAKE1,
  TAKE12,
  TAKE2,
} from "../engine.js";
import { parseHostPort } from "../address.js";
import type { Directive } from "../parser.js";
import { CHECK, HTTP_SRV_LOC, noopDirective, numberSetting, timeSetting } from "../slots.js";
import type { ProxyPassConf } from "../types.js";
import { hasVariables } from "../variables.js";
import { useVariables } from "./vars.js";

/** Conditions `proxy_next_upstream` accepts, as nginx names them. */
export const NEXT_UPSTREAM = [
  "error",
  "timeout",
  "invalid_header",
  "http_500",
  "http_502",
  "http_503",
  "http_504",
  "http_403",
  "http_404",
  "http_429",
  "non_idempotent",
  "off",
];

/** Parses a proxy_pass URL as nginx does; URI part is everything from the first "/" after the host. */
export function parseProxyPass(d: Directive, url: string): ProxyPassConf {
  if (url.startsWith("https://"))
    throw fail(d, `https upstreams in "proxy_pass" are not supported by syncgate`);
  if (!url.startsWith("http://")) throw fail(d, "invalid URL prefix");
  const rest = url.slice(7);
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const uri = slash < 0 ? null : rest.slice(slash);
  const variables = hasVariables(url);
  // nginx names the URL without its scheme in these messages (ngx_parse_url() of what follows "http://").
  if (authority === "") throw fail(d, `no host in upstream "${rest}"`);
  if (authority.startsWith("unix:"))
    throw fail(d, `unix sockets in "proxy_pass" are not supported by syncgate`);
  if (variables) return { url, scheme: "http", host: authority, port: null, uri, upstream: null, variables };
  const hp = parseHostPort(authority);
  if ("error" in hp) throw fail(d, `${hp.error} in upstream "${rest}"`);
  return { url, scheme: "http", host: hp.host, port: hp.port, uri, upstream: null, variables };
}

/** The proxy module. */
export const proxy: ConfigModule = {
  name: "proxy",
  defaults: {
    proxySetHeaders: [],
    proxyHttpVersion: "1.1",
    proxyNextUpstream: ["error", "timeout"],
    proxyNextUpstreamTries: 0,
    proxyNextUpstreamTimeout: 0,
    proxyConnectTimeout: 60_000,
    proxyReadTimeout: 60_000,
    proxySendTimeout: 60_000,
    proxyRedirect: ["default"],
  },
  directives: [
    {
      name: "proxy_pass",
      contexts: ["location"],
      args: TAKE1,
      doc: {
        syntax: "proxy_pass http://UPSTREAM_OR_ADDRESS[/URI];",
        default: "—",
        text: "Forwards the request. With a URI part, the part of the request URI that matched the location is replaced by it; with variables (`http://$host`) an upstream of that name is picked per request.",
      },
      handle(d, scope, st) {
        const l = scope.location!;
        claimContent(l, d);
        const pp = parseProxyPass(d, d.args[0]!);
        if (pp.variables) useVariables(st, d, pp.url);
        const regex = l.match === "regex" || l.match === "regex_caseless";
        if (pp.uri !== null && !pp.variables && (regex || l.match === "named")) {
          throw fail(
            d,
            `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`,
          );
        }
        l.proxyPass = pp;
        l.proxyPassOrigin = { file: d.file, line: d.line };
      },
    },
    {
      name: "proxy_set_header",
      contexts: HTTP_SRV_LOC,
      args: TAKE2,
      doc: {
        syntax: "proxy_set_header FIELD VALUE;",
        default: "Host $proxy_host",
        text: "Sets a request header sent upstream (variables allowed); an empty value removes it. A level that sets any replaces all it inherits, as nginx.",
      },
      handle(d, scope, st) {
        const level = levelOf(scope);
        const [name, value] = d.args as [string, string];
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw fail(d, `invalid header name "${name}"`);
        useVariables(st, d, value);
        if (!level.seen.has(d.name)) {
          level.seen.add(d.name);
          level.values.proxySetHeaders = [];
        }
        level.values.proxySetHeaders!.push([name, value]);
      },
    },
    {
      name: "proxy_http_version",
      contexts: HTTP_SRV_LOC,
      args: TAKE1,
      doc: {
        syntax: "proxy_http_version 1.0 | 1.1;",
        default: "1.1 (nginx: 1.0)",
        text: "HTTP version of upstream requests. syncgate defaults to 1.1 with keep-alive pools, which nginx needs three directives for.",
      },
      handle(d, scope) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        const v = d.args[0]!;
        if (v !== "1.0" && v !== "1.1") throw fail(d, `invalid value "${v}"`);
        level.values.proxyHttpVersion = v;
      },
    },
    {
      name: "proxy_next_upstream",
      contexts: HTTP_SRV_LOC,
      args: ONEMORE,
      doc: {
        syntax:
          "proxy_next_upstream error | timeout | invalid_header | http_500 | http_502 | http_503 | http_504 | http_403 | http_404 | http_429 | non_idempotent | off ...;",
        default: "error timeout",
        text: "When a request is passed to the next server. Never once the response has started; POST, LOCK, PATCH only with `non_idempotent`.",
      },
      handle(d, scope, st) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        const out: string[] = [];
        for (const v of d.args) {
          if (!NEXT_UPSTREAM.includes(v)) throw fail(d, `invalid value "${v}"`);
          // As ngx_conf_set_bitmask_slot(): a value given twice is a warning.
          if (out.includes(v)) st.warn(d, `duplicate value "${v}"`);
          else out.push(v);
        }
        level.values.proxyNextUpstream = out.includes("off") ? [] : out;
      },
    },
    numberSetting("proxy_next_upstream_tries", "proxyNextUpstreamTries", HTTP_SRV_LOC, {
      syntax: "proxy_next_upstream_tries NUMBER;",
      default: "0",
      text: "Most tries of one request, the first included (0: no limit).",
    }),
    timeSetting("proxy_next_upstream_timeout", "proxyNextUpstreamTimeout", HTTP_SRV_LOC, {
      syntax: "proxy_next_upstream_timeout TIME;",
      default: "0",
      text: "Time after which a request is no longer passed to another server (0: no limit).",
    }),
    timeSetting("proxy_connect_timeout", "proxyConnectTimeout", HTTP_SRV_LOC, {
      syntax: "proxy_connect_timeout TIME;",
      default: "60s",
      text: "Time allowed to connect to a server (504 and the next server after it, per `proxy_next_upstream`).",
    }),
    timeSetting("proxy_read_timeout", "proxyReadTimeout", HTTP_SRV_LOC, {
      syntax: "proxy_read_timeout TIME;",
      default: "60s",
      text: "Time allowed between two reads from the server (not for the whole response); 504 when it passes before the header.",
    }),
    timeSetting("proxy_send_timeout", "proxySendTimeout", HTTP_SRV_LOC, {
      syntax: "proxy_send_timeout TIME;",
      default: "60s",
      text: "Time allowed between two writes of the request to the server.",
    }),
    {
      name: "proxy_redirect",
      contexts: HTTP_SRV_LOC,
      args: TAKE12,
      doc: {
        syntax: "proxy_redirect default | off | REDIRECT REPLACEMENT;",
        default: "default",
        text: "Rewrites `Location` and `Refresh` headers of upstream responses; `default` maps the proxy_pass URL back to the location.",
      },
      handle(d, scope, st) {
        // As ngx_http_proxy_redirect(): "off" only alone at a level, "default" only after proxy_pass.
        const level = levelOf(scope);
        const [a, b] = d.args as [string, string | undefined];
        const current = level.seen.has(d.name) ? level.values.proxyRedirect : undefined;
        if (current === "off") throw duplicate(d);
        if (b === undefined) {
          if (a === "off") {
            if (current !== undefined) throw duplicate(d);
            level.seen.add(d.name);
            level.values.proxyRedirect = "off";
            return;
          }
          if (a !== "default") throw fail(d, `invalid parameter "${a}"`);
          const pp = scope.location?.proxyPass;
          if (pp?.variables)
            throw fail(
              d,
              `"proxy_redirect default" cannot be used with "proxy_pass" directive with variables`,
            );
          if (!pp)
            throw fail(d, `"proxy_redirect default" should be placed after the "proxy_pass" directive`);
        } else useVariables(st, d, b);
        const rules = current ?? [];
        rules.push(b === undefined ? "default" : { from: a, to: b });
        level.seen.add(d.name);
        level.values.proxyRedirect = rules;
      },
    },
    noopDirective(
      "proxy_buffering",
      HTTP_SRV_LOC,
      TAKE1,
      {
        syntax: "proxy_buffering on | off;",
        default: "on",
        text: "nginx's response buffering; accepted, noted once. syncgate always streams with backpressure.",
      },
      CHECK.flag,
    ),
    noopDirective(
      "proxy_buffer_size",
      HTTP_SRV_LOC,
      TAKE1,
      {
        syntax: "proxy_buffer_size SIZE;",
        default: "4k|8k",
        text: "nginx's buffer sizing; accepted, noted once, no effect.",
      },
      CHECK.size,
    ),
    noopDirective(
      "proxy_buffers",
      HTTP_SRV_LOC,
      TAKE2,
      {
        syntax: "proxy_buffers NUMBER SIZE;",
        default: "8 4k|8k",
        text: "nginx's buffer sizing; accepted, noted once, no effect.",
      },
      CHECK.bufs,
    ),
    noopDirective(
      "proxy_busy_buffers_size",
      HTTP_SRV_LOC,
      TAKE1,
      {
        syntax: "proxy_busy_buffers_size SIZE;",
        default: "8k|16k",
        text: "nginx's buffer sizing; accepted, noted once, no effect.",
      },
      CHECK.size,
    ),
  ],
};
