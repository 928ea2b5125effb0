/**
 * Location matching with nginx's algorithm (ngx_http_core_find_location, ngx_http_core_find_static_location
 * in src/http/ngx_http_core_module.c; https://nginx.org/en/docs/http/ngx_http_core_module.html#location).
 * URIs and names are compared as byte strings (see uri.ts), case-sensitively as on Linux.
 */
import type { LocationConf, ServerConf } from "../config/types.js";
import { escapeUri, toBytes } from "./uri.js";

/** What a URI selected: the location (null: none matched) and the regex captures it produced. Read-only. */
export interface LocationResult {
  location: LocationConf | null;
  /**
   * $0..$n of the last matching regex location that has groups (unmatched groups are ""); empty otherwise.
   * nginx keeps earlier captures (a server_name regex's) when no such regex matched: use those if empty.
   */
  captures: string[];
  /** Named captures of the matching regex locations (nginx sets them as variables); empty when none. */
  named: Record<string, string>;
  /**
   * nginx's auto redirect: the URI is a `proxy_pass` location's name minus its final "/", so nginx answers
   * 301 to {@link redirectLocation} instead of proxying (and skips the regexes).
   */
  redirect: boolean;
}

/** A server's compiled locations. */
export interface LocationMatcher {
  /** The location for a normalised URI ($uri), as nginx picks it. */
  match(uri: string): LocationResult;
  /** A named location (`@name`), which only internal redirects reach; null when the server has none. */
  named(name: string): LocationConf | null;
}

interface Node {
  conf: LocationConf;
  path: string;
  noRegex: boolean;
  regex: RegExp | null;
  nested: Level | null;
  result: LocationResult;
}

// One nesting level: nginx's static tree (exact and prefix names) plus its regex list in config order.
interface Level {
  exact: Map<string, Node>;
  /** Prefix and ^~ locations, longest first. */
  prefixes: Node[];
  /** Auto-redirect names (location name minus its "/") → location; exact first, as nginx's tree node. */
  redirects: Map<string, Node>;
  regexes: Node[];
}

const EMPTY = Object.freeze([]) as unknown as string[];
const NO_NAMES = Object.freeze({}) as Record<string, string>;
const NONE: LocationResult = Object.freeze({
  location: null,
  captures: EMPTY,
  named: NO_NAMES,
  redirect: false,
});

function compileNode(conf: LocationConf): Node {
  const regex =
    conf.match === "regex" || conf.match === "regex_caseless"
      ? new RegExp(toBytes(conf.path).replace(/\(\?P</g, "(?<"), conf.match === "regex_caseless" ? "i" : "")
      : null;
  return {
    conf,
    path: toBytes(conf.path),
    noRegex: conf.match === "prefix_no_regex",
    regex,
    nested: compileLevel(conf.locations),
    result: Object.freeze({ location: conf, captures: EMPTY, named: NO_NAMES, redirect: false }),
  };
}

function compileLevel(locations: LocationConf[]): Level | null {
  const level: Level = { exact: new Map(), prefixes: [], redirects: new Map(), regexes: [] };
  for (const conf of locations) {
    if (conf.match === "named") continue;
    const node = compileNode(conf);
    if (node.regex) level.regexes.push(node);
    else if (conf.match === "exact") level.exact.set(node.path, node);
    else level.prefixes.push(node);
  }
  level.prefixes.sort((a, b) => b.path.length - a.path.length);
  // proxy_pass sets clcf->auto_redirect on a location whose name ends in "/" (ngx_http_proxy_pass).
  for (const node of [...level.exact.values(), ...level.prefixes]) {
    const p = node.path;
    if (!node.conf.proxyPass || p.length < 2 || !p.endsWith("/")) continue;
    const key = p.slice(0, -1);
    const exact = level.exact.get(p);
    level.redirects.set(key, exact ?? node);
  }
  const empty = level.exact.size + level.prefixes.length + level.regexes.length === 0;
  return empty ? null : level;
}

const OK = 1;
const DONE = 2;
const AGAIN = 3;

// Mutable state of one lookup, as nginx keeps it in r->loc_conf and r->captures.
interface Search {
  node: Node | null;
  exec: RegExpExecArray | null;
  groups: Record<string, string> | null;
}

// ngx_http_core_find_static_location over one level: an exact name → OK; an inclusive name equal to the URI →
// AGAIN at once; the URI + "/" naming an auto-redirect location → DONE; else the longest prefix → AGAIN.
function findStatic(level: Level, uri: string, s: Search): number {
  const exact = level.exact.get(uri);
  if (exact) {
    s.node = exact;
    return OK;
  }
  let prefix: Node | undefined;
  for (const p of level.prefixes) {
    if (uri.startsWith(p.path)) {
      prefix = p;
      break;
    }
  }
  const redirect = prefix?.path.length === uri.length ? undefined : level.redirects.get(uri);
  s.node = redirect ?? prefix ?? s.node;
  return redirect ? DONE : prefix ? AGAIN : 0;
}

// ngx_http_core_find_location: static names of this level, then the nested locations of the longest prefix,
// then (unless that prefix is ^~) this level's regexes in order, each searched into its own nested locations.
// Note ^~ only skips the regexes of its own level: a nested ^~ still lets the outer regexes run.
function find(level: Level, uri: string, s: Search): number {
  const rc = findStatic(level, uri, s);
  if (rc === OK || rc === DONE) return rc;
  let noRegex = false;
  if (rc === AGAIN) {
    const node = s.node!;
    noRegex = node.noRegex;
    const nested = node.nested ? find(node.nested, uri, s) : 0;
    if (nested === OK || nested === DONE) return nested;
  }
  if (!noRegex) {
    for (const node of level.regexes) {
      const m = node.regex!.exec(uri);
      if (!m) continue;
      s.node = node;
      // ngx_http_regex_exec only replaces r->captures for a regex that has groups.
      if (m.length > 1) s.exec = m;
      if (m.groups) s.groups = namedOf(m.groups, s.groups ?? {});
      if (node.nested) find(node.nested, uri, s);
      return OK;
    }
  }
  return rc;
}

/** $0..$n of a match as a plain array, an unmatched group as "" (nginx: an empty capture). */
export const capturesOf = (m: RegExpExecArray): string[] => Array.from(m, (c) => c ?? "");

/** Named captures into a plain object, an unmatched group as "" (nginx: an empty variable). */
export function namedOf(
  groups: Record<string, string | undefined>,
  into: Record<string, string> = {},
): Record<string, string> {
  for (const k of Object.keys(groups)) into[k] = groups[k] ?? "";
  return into;
}

function result(s: Search, rc: number): LocationResult {
  const node = s.node;
  if (!node) return NONE;
  if (rc === DONE) return { location: node.conf, captures: EMPTY, named: NO_NAMES, redirect: true };
  if (!s.exec && !s.groups) return node.result;
  const captures = s.exec ? capturesOf(s.exec) : EMPTY;
  return { location: node.conf, captures, named: s.groups ?? NO_NAMES, redirect: false };
}

/** Precompiles a server's locations for {@link LocationMatcher.match}. */
export function compileLocations(server: ServerConf): LocationMatcher {
  const root = compileLevel(server.locations);
  const named = new Map<string, LocationConf>();
  for (const l of server.locations) if (l.match === "named") named.set(l.path, l);
  // One scratch state per matcher: a lookup is synchronous, so it is never shared by two at once.
  const s: Search = { node: null, exec: null, groups: null };
  return {
    match(uri) {
      if (!root) return NONE;
      s.node = s.exec = s.groups = null;
      const rc = find(root, uri, s);
      return result(s, rc);
    },
    named: (name) => named.get(name) ?? null,
  };
}

/** The Location of nginx's auto-redirect 301: the escaped location name, then "?args" when there are any. */
export function redirectLocation(location: LocationConf, args: string): string {
  const name = escapeUri(toBytes(location.path));
  return args === "" ? name : `${name}?${args}`;
}
