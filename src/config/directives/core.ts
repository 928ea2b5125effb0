/** Main context and `events {}`: the process-level directives of nginx's core and event modules. */
import {
  type ConfigModule,
  type AdaptState,
  fail,
  markOnce,
  NOARGS,
  TAKE1,
  TAKE12,
  invalidValue,
} from "../engine.js";
import { configError } from "../../lib/errors.js";
import { flagValue } from "../slots.js";
import type { EventsConf, MainConf } from "../types.js";
import { parseNumber, parseTime } from "../values.js";

interface CoreState {
  main: MainConf;
  events: EventsConf;
  seen: Set<string>;
  hasEvents: boolean;
}

/** The main and events settings being built. */
export function coreState(st: AdaptState): CoreState {
  return st.module["core"] as CoreState;
}

/** Main context and events. */
export const core: ConfigModule = {
  name: "core",
  init(st) {
    st.module["core"] = {
      main: {
        user: null,
        workerProcesses: 1,
        errorLog: [],
        pid: st.path("logs/syncgate.pid"),
        daemon: false,
        workerRlimitNofile: null,
        workerShutdownTimeout: null,
      },
      events: { workerConnections: 512, use: null, multiAccept: false },
      seen: new Set(),
      hasEvents: false,
    } satisfies CoreState;
  },
  finish(config, st) {
    const s = coreState(st);
    if (!s.hasEvents) throw configError('no "events" section in configuration', null);
    if (s.main.errorLog.length === 0)
      s.main.errorLog.push({ path: st.path("logs/error.log"), level: "error" });
    config.main = s.main;
    config.events = s.events;
  },
  directives: [
    {
      name: "user",
      contexts: ["main"],
      args: TAKE12,
      doc: {
        syntax: "user USER [GROUP];",
        default: "—",
        text: 'Account the server runs as; checked at load when syncgate starts as root (`getpwnam("work") failed` otherwise). GROUP defaults to USER.',
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        const user = d.args[0]!;
        const group = d.args[1] ?? user;
        if (!st.env.isRoot) {
          st.warn(
            d,
            `the "user" directive makes sense only if the master process runs with super-user privileges, ignored`,
          );
          return;
        }
        if (!st.env.userExists(user)) throw fail(d, `getpwnam("${user}") failed`);
        if (!st.env.groupExists(group)) throw fail(d, `getgrnam("${group}") failed`);
        s.main.user = { user, group };
      },
    },
    {
      name: "worker_processes",
      contexts: ["main"],
      args: TAKE1,
      doc: {
        syntax: "worker_processes NUMBER | auto;",
        default: "1",
        text: "Number of serving processes; `auto`: one per core. With more than 1, a primary process syncs registries, runs health checks and answers status pages and the admin API, and the workers serve (see Process model).",
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        const v = d.args[0]!;
        if (v === "auto") s.main.workerProcesses = "auto";
        else {
          const n = parseNumber(v);
          if (n === null) throw invalidValue(d);
          s.main.workerProcesses = n;
        }
      },
    },
    {
      name: "pid",
      contexts: ["main"],
      args: TAKE1,
      doc: {
        syntax: "pid FILE;",
        default: "logs/syncgate.pid",
        text: "File the running server's process id is written to; relative to the prefix. `-s` reads it.",
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        s.main.pid = st.path(d.args[0]!);
      },
    },
    {
      name: "daemon",
      contexts: ["main"],
      args: TAKE1,
      doc: {
        syntax: "daemon on | off;",
        default: "off",
        text: "Whether to detach from the terminal. syncgate stays in the foreground by default (nginx's default is on).",
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        s.main.daemon = flagValue(d, d.args[0]!);
      },
    },
    {
      name: "worker_rlimit_nofile",
      contexts: ["main"],
      args: TAKE1,
      doc: {
        syntax: "worker_rlimit_nofile NUMBER;",
        default: "—",
        text: "Tunes nginx's own processes; accepted, noted once, no effect (raise `ulimit -n` instead).",
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        const n = parseNumber(d.args[0]!);
        if (n === null) throw fail(d, `"${d.name}" directive invalid number`);
        s.main.workerRlimitNofile = n;
        st.noticeOnce(d.name, d, `"${d.name}" directive has no effect in syncgate, ignored`);
      },
    },
    {
      name: "worker_shutdown_timeout",
      contexts: ["main"],
      args: TAKE1,
      doc: {
        syntax: "worker_shutdown_timeout TIME;",
        default: "—",
        text: "Longest wait for requests in flight when shutting down gracefully (SIGQUIT, `-s quit`); connections still open then are closed. Without it the wait is unbounded, as in nginx.",
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        const ms = parseTime(d.args[0]!);
        if (ms === null) throw invalidValue(d);
        s.main.workerShutdownTimeout = ms;
      },
    },
    {
      name: "events",
      contexts: ["main"],
      args: NOARGS,
      block: "events",
      doc: {
        syntax: "events { ... }",
        default: "—",
        text: "Connection processing settings (required, as in nginx).",
      },
      handle(d, scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        s.hasEvents = true;
        return { ...scope, ctx: "events" };
      },
    },
    {
      name: "worker_connections",
      contexts: ["events"],
      args: TAKE1,
      doc: {
        syntax: "worker_connections NUMBER;",
        default: "512",
        text:
          "Accepted; no cap per process comes of it: the open-file limit (`ulimit -n`) bounds client, upstream and " +
          "probe sockets together (health checks warn when probes alone take half of it).",
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        const n = parseNumber(d.args[0]!);
        // ngx_event_connections() words it so, unlike the num slot.
        if (n === null) throw fail(d, `invalid number "${d.args[0]!}"`);
        s.events.workerConnections = n;
      },
    },
    {
      name: "use",
      contexts: ["events"],
      args: TAKE1,
      doc: {
        syntax: "use METHOD;",
        default: "—",
        text: "nginx's event method (epoll, kqueue...); accepted, noted once, no effect (Node picks it).",
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        s.events.use = d.args[0]!;
        st.noticeOnce(d.name, d, `"${d.name}" directive has no effect in syncgate, ignored`);
      },
    },
    {
      name: "multi_accept",
      contexts: ["events"],
      args: TAKE1,
      doc: {
        syntax: "multi_accept on | off;",
        default: "off",
        text: "Accepted, no effect: every wake-up accepts all pending connections (nginx's `on`).",
      },
      handle(d, _scope, st) {
        const s = coreState(st);
        markOnce(s.seen, d);
        s.events.multiAccept = flagValue(d, d.args[0]!);
      },
    },
  ],
};
