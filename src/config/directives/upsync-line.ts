/**
 * The `upsync` line of an upstream (nginx-upsync-module's ngx_http_upsync_server(), spec upsync.md §1.1) with
 * syncgate's additions: a scheme, several registry addresses, `upsync_token_file=`, `upsync_type=etcd3` and
 * `upsync_type=file`. Messages are the module's, word for word (its typos and spacing included), so that what
 * users search for is what they find; the cases the module leaves without a message get one in its style.
 */
import { type AdaptState, fail } from "../engine.js";
import { parseHostPort } from "../address.js";
import type { Directive } from "../parser.js";
import type { UpsyncAddress, UpsyncConf, UpsyncType } from "../types.js";
import { closest, parseTime } from "../values.js";

/** Every `upsync_type=` value. */
export const UPSYNC_TYPES: readonly UpsyncType[] = [
  "consul",
  "consul_services",
  "consul_health",
  "etcd",
  "etcd3",
  "file",
];

/** The module's defaults: `upsync_interval=5s upsync_timeout=6m`. */
export const UPSYNC_DEFAULTS = { interval: 5000, timeout: 360_000 } as const;

const PARAMS = [
  "upsync_type=",
  "upsync_interval=",
  "upsync_timeout=",
  "strong_dependency=",
  "upsync_token_file=",
];

/** A did-you-mean hint on an error, when a known word is close. */
function withHint<E extends { hint?: string }>(err: E, word: string, known: readonly string[]): E {
  const hint = closest(word, known);
  if (hint !== null) err.hint = `did you mean "${hint}"?`;
  return err;
}

/** Options after the address, as a partial UpsyncConf (0 for a time left to its default). */
interface Params {
  type: UpsyncType | null;
  interval: number;
  timeout: number;
  strongDependency: boolean;
  tokenFile: string | null;
}

function parseParams(d: Directive, st: AdaptState): Params {
  const out: Params = { type: null, interval: 0, timeout: 0, strongDependency: false, tokenFile: null };
  // As the module, a parameter given twice keeps its last value.
  for (const p of d.args.slice(1)) {
    const eq = p.indexOf("=");
    const key = eq < 0 ? p : p.slice(0, eq + 1);
    const value = p.slice(eq + 1);
    if (key === "upsync_timeout=") {
      const ms = parseTime(value);
      if (ms === null) throw fail(d, `upsync_server: invalid parameter:"${p}"`);
      out.timeout = ms;
    } else if (key === "upsync_interval=") {
      const ms = parseTime(value);
      if (ms === null) throw fail(d, `upsync_server: invalid parameter: "${p}"`);
      out.interval = ms;
    } else if (key === "strong_dependency=") {
      const v = value.toLowerCase();
      if (v !== "on" && v !== "off") throw fail(d, `invalid value "${p}", it must be "on" or "off"`);
      out.strongDependency = v === "on";
    } else if (key === "upsync_type=") {
      const type = UPSYNC_TYPES.find((t) => t === value);
      if (!type) {
        const err = fail(d, "upsync_server: upsync_type invalid para");
        throw withHint(
          err,
          p,
          UPSYNC_TYPES.map((t) => `upsync_type=${t}`),
        );
      }
      out.type = type;
    } else if (key === "upsync_token_file=") {
      if (value === "") throw fail(d, `upsync_server: invalid parameter: "${p}"`);
      // Only the path: the token is read when syncing, so it never appears in the config or a log.
      out.tokenFile = st.path(value);
    } else {
      // The module fails here without a message.
      throw withHint(fail(d, `upsync_server: invalid parameter: "${p}"`), key, PARAMS);
    }
  }
  return out;
}

/** `[scheme://]host[:port][,host[:port]...]/path` of a registry; the path is kept as written. */
function parseTarget(d: Directive, target: string): Pick<UpsyncConf, "scheme" | "addresses" | "path"> {
  let scheme: "http" | "https" = "http";
  let rest = target;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(target);
  if (m) {
    const s = m[1]!.toLowerCase();
    if (s !== "http" && s !== "https") throw fail(d, `upsync_server: invalid URL prefix in "${target}"`);
    scheme = s;
    rest = target.slice(m[0].length);
  }
  // Split at the first "/", as the module: the rest, query included, is the request path or key prefix.
  const slash = rest.indexOf("/");
  if (slash < 0) throw fail(d, "upsync_server: please input conf_server upstream key in upstream");
  const hosts = rest.slice(0, slash);
  if (hosts.includes("@")) {
    throw fail(
      d,
      "upsync_server: credentials in the registry address are not supported, use upsync_token_file=PATH",
    );
  }
  const addresses: UpsyncAddress[] = [];
  const seen = new Set<string>();
  for (const item of hosts.split(",")) {
    const hp = parseHostPort(item);
    if ("error" in hp) {
      if (hp.error === "invalid port") throw fail(d, "upsync_server: conf server port is invalid");
      throw fail(d, `upsync_server: ${hp.error} in upstream "${item}"`);
    }
    // A registry host is a name or an address: no wildcard, no variable (nginx's ngx_parse_url() rules).
    if (/[$*]/.test(hp.host)) throw fail(d, `upsync_server: invalid host in upstream "${item}"`);
    const port = hp.port ?? (scheme === "https" ? 443 : 80);
    const key = hp.ipv6 ? `[${hp.host}]:${port}` : `${hp.host}:${port}`;
    if (seen.has(key)) throw fail(d, `upsync_server: duplicate address "${key}"`);
    seen.add(key);
    addresses.push({ host: hp.host, port });
  }
  return { scheme, addresses, path: rest.slice(slash) };
}

/**
 * Parses an `upsync` line; `lb` is left null (`upsync_lb` is a directive of its own). Like the module, the
 * parameters are checked before the address, and a time of 0 keeps the default. Registry host names are
 * resolved when connecting (every time, as the module does), not here.
 */
export function parseUpsyncLine(d: Directive, st: AdaptState): UpsyncConf {
  const p = parseParams(d, st);
  if (p.type === null) throw fail(d, "upsync_server: upsync_type cannt be null");
  const target = d.args[0]!;
  let where: Pick<UpsyncConf, "scheme" | "addresses" | "path">;
  if (p.type === "file") {
    if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)) {
      throw fail(d, `upsync_server: upsync_type=file takes a file path, not "${target}"`);
    }
    where = { scheme: null, addresses: [], path: st.path(target) };
  } else {
    where = parseTarget(d, target);
  }
  return {
    type: p.type,
    ...where,
    interval: p.interval || UPSYNC_DEFAULTS.interval,
    timeout: p.timeout || UPSYNC_DEFAULTS.timeout,
    strongDependency: p.strongDependency,
    tokenFile: p.tokenFile,
    lb: null,
    origin: { file: d.file, line: d.line },
  };
}
