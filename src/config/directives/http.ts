/** `http {}` and the http core settings that are not about proxying, logging or access. */
import {
  type AdaptState,
  type ConfigModule,
  type Level,
  type ServerBuilder,
  type UpstreamBuilder,
  fail,
  invalidValue,
  levelOf,
  markOnce,
  newLevel,
  NOARGS,
  TAKE1,
  TAKE12,
  TAKE2,
} from "../engine.js";
import {
  CHECK,
  flagSetting,
  HTTP_SRV,
  HTTP_SRV_LOC,
  noopDirective,
  sizeSetting,
  timeSetting,
  numberSetting,
} from "../slots.js";
import type { HttpSettings, LogFormatConf } from "../types.js";
import { parseNumber, parseSize, parseTime } from "../values.js";

/** What the http block collects while it is walked. */
export interface HttpState {
  level: Level;
  logFormats: Record<string, LogFormatConf>;
  upstreams: UpstreamBuilder[];
  servers: ServerBuilder[];
}

/** The http block's state, or null before `http {` was seen. */
export function httpState(st: AdaptState): HttpState | null {
  return (st.module["http"] as HttpState | undefined) ?? null;
}

/** The settings of `level` laid over `parent`, as nginx's merge functions do. */
export function mergeSettings(parent: HttpSettings, level: Level): HttpSettings {
  return { ...parent, ...level.values };
}

/** The http core module. */
export const http: ConfigModule = {
  name: "http",
  defaults: {
    defaultType: "text/plain",
    charset: null,
    types: { html: "text/html", gif: "image/gif", jpg: "image/jpeg" },
    tcpNodelay: true,
    keepaliveTimeout: 75_000,
    keepaliveHeaderTimeout: null,
    keepaliveRequests: 1000,
    clientMaxBodySize: 1024 * 1024,
    clientHeaderTimeout: 60_000,
    clientBodyTimeout: 60_000,
    sendTimeout: 60_000,
    serverTokens: "on",
    clientHeaderBufferSize: 1024,
    largeClientHeaderBuffers: { number: 4, size: 8192 },
  },
  finish(config, st) {
    const h = httpState(st);
    config.http = h
      ? {
          settings: mergeSettings(st.defaults, h.level),
          logFormats: h.logFormats,
          upstreams: [],
          servers: [],
        }
      : null;
  },
  directives: [
    {
      name: "http",
      contexts: ["main"],
      args: NOARGS,
      block: "http",
      doc: {
        syntax: "http { ... }",
        default: "—",
        text: "The HTTP server: upstreams, servers, and their defaults.",
      },
      handle(d, scope, st) {
        if (httpState(st)) throw fail(d, `"http" directive is duplicate`);
        const state: HttpState = {
          level: newLevel(),
          logFormats: {
            combined: {
              escape: "default",
              format:
                '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
            },
          },
          upstreams: [],
          servers: [],
        };
        st.module["http"] = state;
        return { ctx: "http", level: state.level, server: null, location: null, upstream: null };
      },
    },
    {
      name: "types",
      contexts: HTTP_SRV_LOC,
      args: NOARGS,
      block: "types",
      doc: {
        syntax: "types { MIME EXT ...; ... }",
        default: "text/html html; image/gif gif; image/jpeg jpg;",
        text: "Maps file name extensions to MIME types (`include mime.types;` brings the usual list).",
      },
      handle(_d, scope, st) {
        const level = levelOf(scope);
        if (!level.values.types) level.values.types = {};
        st.module["types"] = level.values.types;
        return { ...scope, ctx: "types" };
      },
    },
    {
      name: "default_type",
      contexts: HTTP_SRV_LOC,
      args: TAKE1,
      doc: {
        syntax: "default_type MIME;",
        default: "text/plain",
        text: "MIME type of responses whose type is not known.",
      },
      handle(d, scope) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        level.values.defaultType = d.args[0]!;
      },
    },
    {
      name: "charset",
      contexts: HTTP_SRV_LOC,
      args: TAKE1,
      doc: {
        syntax: "charset CHARSET | off;",
        default: "off",
        text: "Adds `; charset=CHARSET` to the Content-Type of text responses that have none (as nginx's charset module, for text/html, text/plain, text/xml, text/css, application/javascript, application/json...).",
      },
      handle(d, scope) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        const v = d.args[0]!;
        level.values.charset = v === "off" ? null : v;
      },
    },
    {
      name: "keepalive_timeout",
      contexts: HTTP_SRV_LOC,
      args: TAKE12,
      doc: {
        syntax: "keepalive_timeout TIMEOUT [HEADER_TIMEOUT];",
        default: "75s",
        text: "How long an idle client keep-alive connection stays open (0 disables keep-alive); the second value is sent as `Keep-Alive: timeout=N`.",
      },
      handle(d, scope) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        const ms = parseTime(d.args[0]!);
        if (ms === null) throw invalidValue(d);
        level.values.keepaliveTimeout = ms;
        if (d.args[1] !== undefined) {
          const s = parseTime(d.args[1], true);
          if (s === null) throw invalidValue(d);
          level.values.keepaliveHeaderTimeout = s;
        } else level.values.keepaliveHeaderTimeout = null;
      },
    },
    numberSetting("keepalive_requests", "keepaliveRequests", HTTP_SRV_LOC, {
      syntax: "keepalive_requests NUMBER;",
      default: "1000",
      text: "Requests served on one client keep-alive connection before it is closed.",
    }),
    sizeSetting("client_max_body_size", "clientMaxBodySize", HTTP_SRV_LOC, {
      syntax: "client_max_body_size SIZE;",
      default: "1m",
      text: "Largest request body accepted (413 above it); 0 disables the check.",
    }),
    timeSetting("client_header_timeout", "clientHeaderTimeout", HTTP_SRV, {
      syntax: "client_header_timeout TIME;",
      default: "60s",
      text: "Time allowed to receive the whole request head (408 after it).",
    }),
    timeSetting("client_body_timeout", "clientBodyTimeout", HTTP_SRV_LOC, {
      syntax: "client_body_timeout TIME;",
      default: "60s",
      text: "Time allowed between two reads of the request body (408 after it).",
    }),
    timeSetting("send_timeout", "sendTimeout", HTTP_SRV_LOC, {
      syntax: "send_timeout TIME;",
      default: "60s",
      text: "Time allowed between two successful writes to the client before the connection is closed.",
    }),
    {
      name: "server_tokens",
      contexts: HTTP_SRV_LOC,
      args: TAKE1,
      doc: {
        syntax: "server_tokens on | off | build;",
        default: "on",
        text: "Whether the `Server` header and error pages show syncgate's version.",
      },
      handle(d, scope) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        const v = d.args[0]!.toLowerCase();
        if (v !== "on" && v !== "off" && v !== "build") throw fail(d, `invalid value "${d.args[0]!}"`);
        level.values.serverTokens = v;
      },
    },
    sizeSetting("client_header_buffer_size", "clientHeaderBufferSize", HTTP_SRV, {
      syntax: "client_header_buffer_size SIZE;",
      default: "1k",
      text: "Buffer for a request head; longer heads use `large_client_header_buffers`.",
    }),
    {
      name: "large_client_header_buffers",
      contexts: HTTP_SRV,
      args: TAKE2,
      doc: {
        syntax: "large_client_header_buffers NUMBER SIZE;",
        default: "4 8k",
        text: 'Limits of a long request head: the request line must fit in SIZE (414 otherwise), each header line in SIZE, the whole head in NUMBER × SIZE (400 "Request Header Or Cookie Too Large").',
      },
      handle(d, scope) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        const number = parseNumber(d.args[0]!);
        const size = parseSize(d.args[1]!);
        if (!number || !size) throw invalidValue(d);
        level.values.largeClientHeaderBuffers = { number, size };
      },
    },
    flagSetting("tcp_nodelay", "tcpNodelay", HTTP_SRV_LOC, {
      syntax: "tcp_nodelay on | off;",
      default: "on",
      text: "Disables Nagle's algorithm on client and upstream keep-alive connections.",
    }),
    noopDirective("sendfile", HTTP_SRV_LOC, TAKE1, NOOP_DOC("sendfile on | off;", "off"), CHECK.flag),
    noopDirective("tcp_nopush", HTTP_SRV_LOC, TAKE1, NOOP_DOC("tcp_nopush on | off;", "off"), CHECK.flag),
    noopDirective(
      "types_hash_max_size",
      HTTP_SRV_LOC,
      TAKE1,
      NOOP_DOC("types_hash_max_size SIZE;", "1024"),
      CHECK.number,
    ),
    noopDirective(
      "types_hash_bucket_size",
      HTTP_SRV_LOC,
      TAKE1,
      NOOP_DOC("types_hash_bucket_size SIZE;", "64"),
      CHECK.number,
    ),
    noopDirective(
      "server_names_hash_max_size",
      ["http"],
      TAKE1,
      NOOP_DOC("server_names_hash_max_size SIZE;", "512"),
      CHECK.number,
    ),
    noopDirective(
      "server_names_hash_bucket_size",
      ["http"],
      TAKE1,
      NOOP_DOC("server_names_hash_bucket_size SIZE;", "32|64|128"),
      CHECK.number,
    ),
  ],
};

function NOOP_DOC(syntax: string, def: string) {
  return {
    syntax,
    default: def,
    text: "Tunes nginx's own memory or system calls; accepted, noted once, no effect.",
  };
}
