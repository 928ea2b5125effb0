/** `log_format`, `access_log` and `error_log`, as nginx's log module and core. */
import { LOG_LEVELS, type LogLevel } from "../../lib/errors.js";
import { type ConfigModule, type Scope, type AdaptState, fail, levelOf, ONEMORE, TAKE12 } from "../engine.js";
import type { Directive } from "../parser.js";
import { HTTP_SRV_LOC } from "../slots.js";
import type { AccessLogConf, ErrorLogConf } from "../types.js";
import { hasVariables } from "../variables.js";
import { parseSize, parseTime } from "../values.js";
import { coreState } from "./core.js";
import { httpState } from "./http.js";
import { useVariables } from "./vars.js";

function logTarget(d: Directive, st: AdaptState, path: string): string {
  if (path.startsWith("syslog:") || path.startsWith("memory:")) {
    throw fail(d, `"${d.name}" to ${path.split(":")[0]!} is not supported by syncgate`);
  }
  if (path === "stderr") return path;
  if (hasVariables(path)) {
    useVariables(st, d, path);
    return path;
  }
  return st.path(path);
}

function accessLog(d: Directive, scope: Scope, st: AdaptState): void {
  const level = levelOf(scope);
  const [path, format = "combined", ...params] = d.args as [string, ...string[]];
  if (path === "off") {
    if (d.args.length > 1) throw fail(d, `invalid parameter "${d.args[1]!}"`);
    level.values.accessLog = null;
    return;
  }
  const formats = httpState(st)!.logFormats;
  if (!formats[format]) throw fail(d, `unknown log format "${format}"`);
  const conf: AccessLogConf = { path: logTarget(d, st, path), format, buffer: null, flush: null, if: null };
  for (const p of params) {
    if (p.startsWith("buffer=")) {
      const n = parseSize(p.slice(7));
      if (!n) throw fail(d, `invalid buffer size "${p.slice(7)}"`);
      conf.buffer = n;
    } else if (p.startsWith("flush=")) {
      const ms = parseTime(p.slice(6));
      if (!ms) throw fail(d, `invalid flush time "${p.slice(6)}"`);
      conf.flush = ms;
    } else if (p.startsWith("if=")) {
      const cond = p.slice(3);
      if (!hasVariables(cond)) throw fail(d, `invalid parameter "${p}"`);
      useVariables(st, d, cond);
      conf.if = cond;
    } else if (p === "gzip" || p.startsWith("gzip=")) {
      throw fail(d, `"gzip" parameter of "access_log" is not supported by syncgate`);
    } else throw fail(d, `invalid parameter "${p}"`);
  }
  if (conf.flush !== null && conf.buffer === null)
    throw fail(d, `no buffer is defined for access_log "${path}"`);
  if (!level.values.accessLog || !level.seen.has("access_log")) level.values.accessLog = [];
  level.seen.add("access_log");
  level.values.accessLog.push(conf);
}

function errorLog(d: Directive, scope: Scope, st: AdaptState): void {
  const levelName = d.args[1] ?? "error";
  if (!(LOG_LEVELS as readonly string[]).includes(levelName))
    throw fail(d, `invalid log level "${levelName}"`);
  const conf: ErrorLogConf = { path: logTarget(d, st, d.args[0]!), level: levelName as LogLevel };
  if (scope.ctx === "main") {
    coreState(st).main.errorLog.push(conf);
    return;
  }
  const level = levelOf(scope);
  if (!level.values.errorLog || !level.seen.has("error_log")) level.values.errorLog = [];
  level.seen.add("error_log");
  level.values.errorLog.push(conf);
}

/** The logging directives. */
export const log: ConfigModule = {
  name: "log",
  defaults: { accessLog: null, errorLog: null },
  init(st) {
    // nginx's default access log, at every level that names none.
    st.defaults.accessLog = [
      { path: st.path("logs/access.log"), format: "combined", buffer: null, flush: null, if: null },
    ];
  },
  directives: [
    {
      name: "log_format",
      contexts: ["http"],
      args: [2, Infinity],
      doc: {
        syntax: "log_format NAME [escape=default|json|none] STRING ...;",
        default: 'combined "..."',
        text: "Names an access log format; strings are joined. `combined` is predefined. Variables: see the access log section.",
      },
      handle(d, _scope, st) {
        const h = httpState(st)!;
        const name = d.args[0]!;
        if (h.logFormats[name]) throw fail(d, `duplicate "log_format" name "${name}"`);
        let parts = d.args.slice(1);
        let escape: "default" | "json" | "none" = "default";
        if (parts[0]!.startsWith("escape=")) {
          const e = parts[0]!.slice(7);
          if (e !== "default" && e !== "json" && e !== "none")
            throw fail(d, `unknown log format escaping "${e}"`);
          escape = e;
          parts = parts.slice(1);
          if (parts.length === 0) throw fail(d, `invalid number of arguments in "log_format" directive`);
        }
        const format = parts.join("");
        useVariables(st, d, format);
        h.logFormats[name] = { escape, format };
      },
    },
    {
      name: "access_log",
      contexts: HTTP_SRV_LOC,
      args: ONEMORE,
      doc: {
        syntax: "access_log PATH [FORMAT [buffer=SIZE] [flush=TIME] [if=CONDITION]] | off;",
        default: "logs/access.log combined",
        text: "Writes one line per request in FORMAT. Several may be given; a level that names any replaces what it inherits.",
      },
      handle: accessLog,
    },
    {
      name: "error_log",
      contexts: ["main", ...HTTP_SRV_LOC],
      args: TAKE12,
      doc: {
        syntax: "error_log FILE | stderr [LEVEL];",
        default: "logs/error.log error",
        text: "Where errors go and from which level: debug, info, notice, warn, error, crit, alert, emerg.",
      },
      handle: errorLog,
    },
  ],
};
