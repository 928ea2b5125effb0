/**
 * nginx-upsync-module's directives (spec upsync.md §1): `upsync`, `upsync_dump_path`, `upsync_lb` in an
 * upstream, `upstream_show` in a location; and syncgate's `upsync_status` page. Only configuration here: the
 * sources, the dump writer and the pages read the typed result.
 */
import {
  type AdaptState,
  claimContent,
  type ConfigModule,
  fail,
  invalidValue,
  markOnce,
  NOARGS,
  ONEMORE,
  type Scope,
  TAKE1,
  type UpstreamBuilder,
} from "../engine.js";
import type { Directive } from "../parser.js";
import type { UpsyncLb } from "../types.js";
import { closest } from "../values.js";
import { httpState } from "./http.js";
import { parseUpsyncLine } from "./upsync-line.js";

/** Every `upsync_lb` value, in the module's order. */
export const UPSYNC_LB: readonly UpsyncLb[] = [
  "roundrobin",
  "ip_hash",
  "least_conn",
  "hash_modula",
  "hash_ketama",
];

/** What the walk noted per upstream, for the checks at the end (directives may come in any order). */
interface Noted {
  dump?: Directive;
  lb?: { d: Directive; value: UpsyncLb };
}

function noted(st: AdaptState, u: UpstreamBuilder): Noted {
  const all = st.module["upsync"] as Map<UpstreamBuilder, Noted>;
  let n = all.get(u);
  if (!n) {
    n = {};
    all.set(u, n);
  }
  return n;
}

function upstreamOf(scope: Scope): UpstreamBuilder {
  if (!scope.upstream) throw new Error("not in an upstream block");
  return scope.upstream;
}

/** The module's default dump file (`/tmp/servers_$host.conf` in its README). */
export function defaultDumpPath(upstream: string): string {
  return `/tmp/servers_${upstream}.conf`;
}

/**
 * The dump file of synced upstream `u` as far as it is known while its block is read: set by an earlier line,
 * or written further down the block itself (the seed sets it before its `include`; after is fine too). Lines
 * inside an included file further down are not seen: there, `upsync` and `upsync_dump_path` must come first.
 */
function ownDumpPath(u: UpstreamBuilder, st: AdaptState): string | null {
  const block = u.block ?? [];
  const line = (name: string) => block.find((d) => d.name === name && d.block === null);
  if (u.conf.upsync === null && !line("upsync")) return null;
  if (u.conf.dumpPath !== null) return u.conf.dumpPath;
  const dump = line("upsync_dump_path");
  if (dump?.args.length === 1) return st.path(dump.args[0]!);
  return defaultDumpPath(u.conf.name);
}

function handlerDirective(kind: "upstream_show" | "upsync_status", text: string) {
  return {
    name: kind,
    contexts: ["location"] as const,
    args: NOARGS,
    doc: {
      syntax: `${kind};`,
      default: "—",
      text,
    },
    handle(d: Directive, scope: Scope) {
      const l = scope.location!;
      claimContent(l, d);
      l.handler = { kind };
    },
  };
}

/** The registry-sync module. */
export const upsync: ConfigModule = {
  name: "upsync",
  init(st) {
    st.module["upsync"] = new Map<UpstreamBuilder, Noted>();
  },
  optionalInclude(scope, path, st) {
    return scope.upstream !== null && ownDumpPath(scope.upstream, st) === path;
  },
  finish(_config, st) {
    const h = httpState(st);
    if (!h) return;
    const dumps = new Map<string, string>();
    for (const u of h.upstreams) {
      const n = noted(st, u);
      const up = u.conf.upsync;
      if (up === null) {
        // The module ignores both without `upsync`. syncgate keeps a dump path: the admin API saves the changes
        // it makes to such an upstream there, and start-up loads them. upsync_lb has no use: say so.
        const d = n.lb?.d;
        if (d) st.warn(d, `"${d.name}" has no effect without "upsync" in the upstream, ignored`);
        if (n.dump === undefined) {
          u.conf.dumpPath = null;
          continue;
        }
      } else {
        up.lb = n.lb?.value ?? null;
        u.conf.dumpPath ??= defaultDumpPath(u.conf.name);
      }
      const dumpPath = u.conf.dumpPath!;
      const other = dumps.get(dumpPath);
      if (other !== undefined) {
        throw fail(
          n.dump ?? up!.origin,
          `upstream "${u.conf.name}" has the same dump file "${dumpPath}" as upstream "${other}"`,
        );
      }
      dumps.set(dumpPath, u.conf.name);
    }
  },
  directives: [
    {
      name: "upsync",
      contexts: ["upstream"],
      args: ONEMORE,
      doc: {
        syntax:
          "upsync [http://|https://]HOST[:PORT][,HOST[:PORT]...]/PATH upsync_type=consul|consul_services|consul_health|etcd|etcd3 [upsync_interval=TIME] [upsync_timeout=TIME] [strong_dependency=on|off] [upsync_token_file=PATH];  upsync FILE upsync_type=file [...];",
        default: "upsync_interval=5s upsync_timeout=6m strong_dependency=off (upsync_type is required)",
        text:
          "Keeps the upstream's servers in step with a registry, without reloads: Consul KV (`consul`: one key `IP:PORT` " +
          "per server under PATH, JSON values), the Consul catalog (`consul_services`) or health API (`consul_health`: a " +
          "server whose checks do not all pass is down), etcd's v2 keys API (`etcd`, PATH `/v2/keys/...`) or v3 API " +
          "(`etcd3`, PATH is the key prefix as written), or a watched file in dump format (`file`, relative to the " +
          "prefix). Several registry addresses are tried in turn; the port defaults to 80, 443 with `https://`. " +
          "`upsync_interval` paces plain polls and retries, `upsync_timeout` bounds one request (a bare number is " +
          "seconds; 0 keeps the default), `strong_dependency=on` makes start-up wait for a first sync (and fail after 3 failed tries). " +
          "`upsync_token_file` holds a Consul ACL token or etcd `user:password`, read when syncing and never logged. " +
          "The upstream may list no servers of its own. See [Registry sync](#registry-sync) for how updates apply.",
      },
      handle(d, scope, st) {
        const u = upstreamOf(scope);
        markOnce(u.seen, d);
        u.conf.upsync = parseUpsyncLine(d, st);
        u.allowEmpty = true;
      },
    },
    {
      name: "upsync_dump_path",
      contexts: ["upstream"],
      args: TAKE1,
      doc: {
        syntax: "upsync_dump_path PATH;",
        default: "/tmp/servers_NAME.conf",
        text:
          "Where the upstream's servers are saved after every change (atomically, as `server ...;` lines) and loaded " +
          "from at start, before the registry is asked. `include` it in the upstream as with nginx-upsync-module: " +
          "there a missing or empty dump file is fine. Relative to the prefix. In an upstream without `upsync` it " +
          "keeps the changes made through the admin API (`api write=on`) and is loaded at start.",
      },
      handle(d, scope, st) {
        const u = upstreamOf(scope);
        markOnce(u.seen, d);
        if (d.args[0] === "") throw invalidValue(d);
        u.conf.dumpPath = st.path(d.args[0]!);
        noted(st, u).dump = d;
      },
    },
    {
      name: "upsync_lb",
      contexts: ["upstream"],
      args: TAKE1,
      doc: {
        syntax: `upsync_lb ${UPSYNC_LB.join(" | ")};`,
        default: "—",
        text:
          "Accepted for nginx-upsync-module configs. It does not choose the balancer (`least_conn`, `ip_hash`, " +
          "`hash` do, as in nginx), and a consistent-hash ring is rebuilt on every change whatever it says. An " +
          "unknown value is an error (the module ignored it).",
      },
      handle(d, scope, st) {
        const u = upstreamOf(scope);
        markOnce(u.seen, d);
        const text = d.args[0]!;
        const value = UPSYNC_LB.find((v) => v === text);
        if (!value) {
          const list = UPSYNC_LB.map((v) => `"${v}"`);
          const err = fail(
            d,
            `invalid value "${text}" in "upsync_lb" directive, it must be ${list.slice(0, -1).join(", ")} or ${list.at(-1)!}`,
          );
          const hint = closest(text, UPSYNC_LB);
          if (hint !== null) err.hint = `did you mean "${hint}"?`;
          throw err;
        }
        noted(st, u).lb = { d, value };
      },
    },
    handlerDirective(
      "upstream_show",
      "Answers GET and HEAD with the servers of every upstream in nginx-upsync-module's text format, or of one " +
        "(`/upstream_show?NAME`), in registry order; backup servers are not listed, as with the module. Protect it with `allow`/`deny` like any status page.",
    ),
    handlerDirective(
      "upsync_status",
      "Answers with the sync state of every synced upstream as JSON: source, last index, last success, last " +
        "error, dump file and age, refused updates, and where each server came from (`config`, `dump`, " +
        "`registry`); `/upsync_status?NAME` for one upstream.",
    ),
  ],
};
