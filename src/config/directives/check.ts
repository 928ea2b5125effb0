/**
 * nginx_upstream_check_module's directives (check spec §1): `check` and the `check_*` lines of an upstream,
 * `check_shm_size` in http, `check_status` in a location. Only configuration here: the prober and the status
 * page read `UpstreamConf.check` and the location handler. The lines of an upstream may come in any order;
 * they are put together when the walk is over.
 */
import {
  type AdaptState,
  claimContent,
  type ConfigModule,
  type DirectiveSpec,
  fail,
  invalidValue,
  levelOf,
  markOnce,
  ONEMORE,
  type Scope,
  TAKE1,
  TAKE2,
  type UpstreamBuilder,
} from "../engine.js";
import type { Directive } from "../parser.js";
import type { CheckConf, CheckStatusClass } from "../types.js";
import { closest, parseNumber, parseSize } from "../values.js";
import {
  addStatusClasses,
  CHECK_DEFAULTS,
  CHECK_STATUS_CLASSES,
  CHECK_STATUS_FORMATS,
  CHECK_TYPES,
  type CheckLine,
  missesHost,
  parseCheckLine,
} from "./check-line.js";
import { httpState } from "./http.js";

/** What the walk noted per upstream, put together at the end. */
interface Noted {
  check?: { d: Directive; line: CheckLine };
  send?: { d: Directive; value: string };
  expect?: { d: Directive; classes: Set<CheckStatusClass> };
  keepalive?: { d: Directive; value: number };
  fastcgi: { d: Directive; pair: [string, string] }[];
  /** Every `check_*` line of the upstream, in order. */
  lines: Directive[];
}

interface CheckState {
  upstreams: Map<UpstreamBuilder, Noted>;
  /** `check_status` lines, for the warning when no upstream is checked. */
  pages: Directive[];
}

function state(st: AdaptState): CheckState {
  return st.module["check"] as CheckState;
}

/** The upstream of `scope` and what was noted for it, with `d` recorded as one of its lines. */
function noted(scope: Scope, st: AdaptState, d: Directive): Noted {
  const u = scope.upstream;
  if (!u) throw new Error("not in an upstream block");
  const all = state(st).upstreams;
  let n = all.get(u);
  if (!n) {
    n = { fastcgi: [], lines: [] };
    all.set(u, n);
  }
  markOnceUnlessRepeatable(u, d);
  if (d.name !== "check") n.lines.push(d);
  return n;
}

// A second `check`, `check_http_send` or `check_keepalive_requests` is an error: the module lets the last line
// win (and a second `check` silently resets what it omits), which hides mistakes.
function markOnceUnlessRepeatable(u: UpstreamBuilder, d: Directive): void {
  if (d.name === "check_http_expect_alive" || d.name === "check_fastcgi_param") return;
  markOnce(u.seen, d);
}

/** Where each `check_*` line of an upstream has an effect (beyond having a `check` line). */
const APPLIES: Record<string, readonly string[]> = {
  check_http_send: ["http", "ssl_hello", "mysql", "ajp", "fastcgi"],
  check_http_expect_alive: ["http", "fastcgi"],
  check_keepalive_requests: ["http"],
  check_fastcgi_param: ["fastcgi"],
};

/**
 * The upstream's CheckConf from its noted lines, with a warning for each kind of line that does nothing (and
 * whose value is then left out, so the prober never has to know which type reads what).
 */
function resolve(n: Noted, st: AdaptState): CheckConf | null {
  if (!n.check) {
    for (const d of n.lines) st.warn(d, `"${d.name}" has no effect without "check" in the upstream, ignored`);
    return null;
  }
  const { d, line } = n.check;
  const type = line.type ?? CHECK_DEFAULTS.type;
  const ignored = new Set<string>();
  for (const l of n.lines) {
    const types = APPLIES[l.name];
    if (!types || types.includes(type) || ignored.has(l.name)) continue;
    ignored.add(l.name);
    st.warn(l, `"${l.name}" has no effect with "type=${type}", ignored`);
  }
  const used = <T>(name: string, value: T | undefined): T | undefined =>
    ignored.has(name) ? undefined : value;
  if (type === "http" && n.send && missesHost(n.send.value)) {
    st.warn(
      n.send.d,
      `"check_http_send" sends HTTP/1.1 without a "Host" header: most servers answer 400, which marks ` +
        `every server down; add "Host: NAME\\r\\n" or send HTTP/1.0`,
    );
  }
  const expect = used("check_http_expect_alive", n.expect?.classes);
  return {
    type,
    interval: line.interval,
    fall: line.fall,
    rise: line.rise,
    timeout: line.timeout,
    defaultDown: line.defaultDown,
    port: line.port,
    send: used("check_http_send", n.send?.value) ?? null,
    expectAlive: expect ? CHECK_STATUS_CLASSES.filter((c) => expect.has(c)) : null,
    keepaliveRequests:
      used("check_keepalive_requests", n.keepalive?.value) ?? CHECK_DEFAULTS.keepaliveRequests,
    fastcgiParams:
      used(
        "check_fastcgi_param",
        n.fastcgi.map((f) => f.pair),
      ) ?? [],
    origin: { file: d.file, line: d.line },
  };
}

const UPSTREAM = ["upstream"] as const;

const checkStatus: DirectiveSpec = {
  name: "check_status",
  contexts: ["location"],
  args: [0, 1],
  doc: {
    syntax: `check_status [${CHECK_STATUS_FORMATS.join("|")}];`,
    default: "html",
    text:
      "Answers GET and HEAD with the health of every checked server, as nginx_upstream_check_module's status " +
      "page: `html`, `csv` or `json` exactly as the module prints them (the JSON always valid), or `prometheus` " +
      "text; `?format=` and `?status=up|down` choose per request. A location handler only (the module also " +
      "takes it at server level). A warning at load when no upstream has `check`.",
  },
  handle(d, scope, st) {
    const l = scope.location!;
    const text = d.args[0] ?? "html";
    // Matched exactly, as ngx_http_get_check_status_format_conf() does.
    const format = CHECK_STATUS_FORMATS.find((f) => f === text);
    if (!format) {
      const err = fail(d, `invalid check format "${text}"`);
      const hint = closest(text.toLowerCase(), CHECK_STATUS_FORMATS);
      if (hint !== null) err.hint = `did you mean "${hint}"?`;
      throw err;
    }
    claimContent(l, d);
    l.handler = { kind: "check_status", format };
    state(st).pages.push(d);
  },
};

/** The health-check module. */
export const check: ConfigModule = {
  name: "check",
  init(st) {
    st.module["check"] = { upstreams: new Map(), pages: [] } satisfies CheckState;
  },
  finish(_config, st) {
    const h = httpState(st);
    if (!h) return;
    const s = state(st);
    for (const u of h.upstreams) {
      const n = s.upstreams.get(u);
      u.conf.check = n ? resolve(n, st) : null;
    }
    if (!h.upstreams.some((u) => u.conf.check !== null)) {
      for (const d of s.pages) st.warn(d, `"check_status" has no servers to show: no upstream has "check"`);
    }
  },
  directives: [
    {
      name: "check",
      contexts: UPSTREAM,
      args: ONEMORE,
      doc: {
        syntax: `check interval=MS [fall=N] [rise=N] [timeout=MS] [default_down=true|false] [type=${CHECK_TYPES.join("|")}] [port=N];`,
        default: "interval=30000 fall=5 rise=2 timeout=1000 default_down=true type=tcp port=0",
        text:
          "Probes every server of the upstream (backup servers too; not those marked `down`) every `interval` ms; " +
          "`fall` failures in a row mark a server down, `rise` successes up again; `timeout` ms bounds one probe; " +
          "`port` probes another port of the server's address. Times are plain milliseconds (`3s` is invalid); " +
          "0 or an unknown parameter is an error, as with nginx_upstream_check_module. A server with no history " +
          "starts down (`default_down=true`) and is probed at once. A second `check` line in an upstream is an " +
          "error (the module let it reset what it omits). The `check_*` lines may stand before or after it; " +
          "one that the type does not use, or in an upstream without `check`, gets a warning and is ignored.",
      },
      handle(d, scope, st) {
        noted(scope, st, d).check = { d, line: parseCheckLine(d) };
      },
    },
    {
      name: "check_http_send",
      contexts: UPSTREAM,
      args: TAKE1,
      doc: {
        syntax: 'check_http_send "BYTES";',
        default: 'type default (http: "GET / HTTP/1.0\\r\\n\\r\\n")',
        text:
          "What the probe sends, as written, with `\\r` `\\n` `\\t` turned into bytes; nothing is added. It " +
          "replaces the payload of every type but `tcp`. An `http` request on HTTP/1.1 needs a `Host:` header " +
          "(syncgate warns at load without one: most servers answer 400, which marks them down). An empty " +
          "string keeps the type's default.",
      },
      handle(d, scope, st) {
        const n = noted(scope, st, d);
        const value = d.args[0]!;
        // As bytes: the config text is UTF-8; the probe sends each char of the latin1 string as one byte.
        if (value !== "") n.send = { d, value: Buffer.from(value, "utf8").toString("latin1") };
      },
    },
    {
      name: "check_http_expect_alive",
      contexts: UPSTREAM,
      args: ONEMORE,
      doc: {
        syntax: `check_http_expect_alive ${CHECK_STATUS_CLASSES.join(" | ")} ...;`,
        default: "http: http_2xx http_3xx; fastcgi: any status",
        text:
          "Status classes that count as alive for `http` (and `fastcgi`, which otherwise accepts any answer). " +
          "Names are case-insensitive; several lines add up.",
      },
      handle(d, scope, st) {
        const n = noted(scope, st, d);
        n.expect ??= { d, classes: new Set() };
        addStatusClasses(d, n.expect.classes, (text) => st.warn(d, text));
      },
    },
    {
      name: "check_keepalive_requests",
      contexts: UPSTREAM,
      args: TAKE1,
      doc: {
        syntax: "check_keepalive_requests N;",
        default: String(CHECK_DEFAULTS.keepaliveRequests),
        text:
          "`http` only. With N > 1, a probe that passed leaves its connection open and the next probe is sent on " +
          "it, up to N probes per connection (Tengine's semantics): each answer is read whole (status line, " +
          "headers, then the body by Content-Length or chunked framing), so nothing of it is taken for the next " +
          "answer. An answer with `Connection: close`, from HTTP/1.0 without keep-alive, or with a body that ends " +
          "with the connection, closes it after that probe. Bytes after an answer, bad framing, an error or a " +
          "timeout are one failure and close the connection; a kept connection the server closed while idle is " +
          "no failure (the next probe connects afresh). The request must allow keep-alive, e.g. " +
          '`check_http_send "GET /health HTTP/1.1\\r\\nHost: NAME\\r\\n\\r\\n"` or HTTP/1.0 with ' +
          "`Connection: keep-alive`: with the default `GET / HTTP/1.0` the server closes and nothing is kept. " +
          "N = 1 (the default) opens a new connection for every probe, as every other type always does " +
          "(the module kept `tcp` connections open forever, which hid dead links).",
      },
      handle(d, scope, st) {
        const n = noted(scope, st, d);
        const value = parseNumber(d.args[0]!);
        if (!value) throw invalidValue(d);
        n.keepalive = { d, value };
      },
    },
    {
      name: "check_fastcgi_param",
      contexts: UPSTREAM,
      args: TAKE2,
      doc: {
        syntax: "check_fastcgi_param NAME VALUE;",
        default: "REQUEST_METHOD GET, REQUEST_URI /, SCRIPT_FILENAME index.php",
        text: "A parameter of the `fastcgi` probe's request; repeatable. With at least one, only these are sent.",
      },
      handle(d, scope, st) {
        noted(scope, st, d).fastcgi.push({ d, pair: [d.args[0]!, d.args[1]!] });
      },
    },
    {
      name: "check_shm_size",
      contexts: ["http"],
      args: TAKE1,
      doc: {
        syntax: "check_shm_size SIZE;",
        default: "1m",
        text: "nginx's shared memory for check state; parsed, then accepted and noted once (syncgate has no shared memory zone to size).",
      },
      handle(d, scope, st) {
        markOnce(levelOf(scope).seen, d);
        if (parseSize(d.args[0]!) === null) throw invalidValue(d);
        st.noticeOnce("check_shm_size", d, `"check_shm_size" directive has no effect in syncgate, ignored`);
      },
    },
    checkStatus,
  ],
};
