/**
 * The directive machinery shared by every module of directives: contexts, argument counts, scopes and the
 * setting levels that nginx merges http → server → location. Each module file (directives/*.ts) declares its
 * directives with `DirectiveSpec` and writes into the builders below.
 */
import type { Directive } from "./parser.js";
import type { Config, HttpSettings, LocationMatch, Origin, ProxyPassConf, ReturnConf } from "./types.js";
import type { ListenConf, LocationHandlerConf, ServerNameConf, UpstreamConf } from "./types.js";
import { configError, type LogLevel } from "../lib/errors.js";
import type { SyncgateError } from "../lib/errors.js";

/** Where a directive may appear. */
export type Context = "main" | "events" | "http" | "server" | "location" | "upstream" | "types";

/** A settings level (http, server or location): what this block set, and the names it set (duplicates). */
export interface Level {
  values: Partial<HttpSettings>;
  seen: Set<string>;
}

/** A `server {}` being built. */
export interface ServerBuilder {
  origin: Origin;
  listen: ListenConf[];
  serverNames: ServerNameConf[] | null;
  return: ReturnConf | null;
  locations: LocationBuilder[];
  level: Level;
}

/** A `location {}` being built. */
export interface LocationBuilder {
  match: LocationMatch;
  path: string;
  origin: Origin;
  parent: LocationBuilder | null;
  locations: LocationBuilder[];
  proxyPass: ProxyPassConf | null;
  proxyPassOrigin: Origin | null;
  return: ReturnConf | null;
  /** A status page handled here (`upstream_show`, ...); its `kind` is the directive's name. */
  handler: LocationHandlerConf | null;
  level: Level;
}

/** An `upstream {}` being built. */
export interface UpstreamBuilder {
  conf: UpstreamConf;
  seen: Set<string>;
  /** Line of the balancing method directive, to report parameters it does not support. */
  balancerOrigin: Origin | null;
  /** Where the block's closing "}" stands (nginx reports an empty upstream there). */
  endOrigin?: Origin;
  /** Set by a registry-sync directive: servers may come only from the registry, so none here is fine. */
  allowEmpty?: boolean;
  /** The block's own directives as written (includes not expanded), for hooks that look ahead. */
  block?: readonly Directive[];
}

/** Where the adapter stands while it walks the tree. */
export interface Scope {
  ctx: Context;
  /** The settings level directives write to (null outside http). */
  level: Level | null;
  server: ServerBuilder | null;
  location: LocationBuilder | null;
  upstream: UpstreamBuilder | null;
}

/** Number of arguments a directive takes: [min, max]. */
export type Arity = readonly [number, number];
/** No argument. */
export const NOARGS: Arity = [0, 0];
/** Exactly one argument. */
export const TAKE1: Arity = [1, 1];
/** One or two arguments. */
export const TAKE12: Arity = [1, 2];
/** Exactly two arguments. */
export const TAKE2: Arity = [2, 2];
/** One or more arguments. */
export const ONEMORE: Arity = [1, Infinity];

/** Reference text for a directive (fed into the README's configuration reference). */
export interface DirectiveDoc {
  syntax: string;
  default: string;
  text: string;
}

/** One directive: where it may stand, how many arguments it takes, and what it does. */
export interface DirectiveSpec {
  name: string;
  contexts: readonly Context[];
  args: Arity;
  /** Context of the children, for a block directive. */
  block?: Context;
  /** Applies the directive; a block directive returns the scope its children are adapted in. */
  handle(d: Directive, scope: Scope, st: AdaptState): Scope | void;
  /** Runs after a block's children were adapted. */
  leave?(scope: Scope, st: AdaptState): void;
  doc: DirectiveDoc;
}

/** A message that does not stop the load (notices and warnings), already formatted with file:line. */
export interface ConfigMessage {
  level: LogLevel;
  text: string;
}

/** Services the adapter needs from its surroundings, injectable for tests. */
export interface AdaptEnv {
  /** Whether the process runs as root (decides the default listen port and `user` checks). */
  isRoot: boolean;
  /** Whether a user account exists (getpwnam). */
  userExists(name: string): boolean;
  /** Whether a group exists (getgrnam). */
  groupExists(name: string): boolean;
}

/** Everything the adapter accumulates; module handlers read and write it. */
export interface AdaptState {
  prefix: string;
  env: AdaptEnv;
  messages: ConfigMessage[];
  /** Resolves a path against the prefix. */
  path(p: string): string;
  /** Adds a notice once per key. */
  noticeOnce(key: string, d: Directive, text: string): void;
  /** Adds a warning naming file:line. */
  warn(d: Directive, text: string): void;
  /** Per-module state, keyed by module name. */
  module: Record<string, unknown>;
  /** nginx's defaults for every inherited setting (from every module's `defaults`). */
  defaults: HttpSettings;
}

/** A module of directives: its directives, its defaults, and its part of the final `Config`. */
export interface ConfigModule {
  name: string;
  directives: DirectiveSpec[];
  /** Defaults of the inherited settings this module owns. */
  defaults?: Partial<HttpSettings>;
  /** Sets up the module's state before the walk. */
  init?(st: AdaptState): void;
  /** Whether a missing non-glob include at this point may be skipped (an upstream's own dump file). */
  optionalInclude?(scope: Scope, path: string, st: AdaptState): boolean;
  /** Writes the module's part of the configuration after the walk, in module order. */
  finish?(config: Partial<Config>, st: AdaptState): void;
}

/** An `[emerg]` for directive `d`, naming its file:line. */
export function fail(d: Directive | Origin, message: string): SyncgateError {
  return configError(message, { file: d.file, line: d.line });
}

/** nginx's `"NAME" directive is duplicate`. */
export function duplicate(d: Directive): SyncgateError {
  return fail(d, `"${d.name}" directive is duplicate`);
}

/** nginx's `"NAME" directive invalid value` (what its time and size slots say). */
export function invalidValue(d: Directive): SyncgateError {
  return fail(d, `"${d.name}" directive invalid value`);
}

/**
 * The directive that already gave location `l` its content (`proxy_pass`, `upstream_show`, ...), or null.
 * nginx lets the last one win silently; syncgate refuses a second one (see `claimContent`).
 */
export function contentOf(l: LocationBuilder): string | null {
  return l.proxyPass ? "proxy_pass" : (l.handler?.kind ?? null);
}

/** Throws unless location `l` has no content handler yet, in nginx's words for two exclusive directives. */
export function claimContent(l: LocationBuilder, d: Directive): void {
  const prev = contentOf(l);
  if (prev === d.name) throw duplicate(d);
  if (prev !== null)
    throw fail(d, `"${d.name}" directive is duplicate, "${prev}" directive was specified earlier`);
}

/** Records that `d` set its setting at this level; throws "is duplicate" the second time. */
export function markOnce(seen: Set<string>, d: Directive): void {
  if (seen.has(d.name)) throw duplicate(d);
  seen.add(d.name);
}

/** The level of the current scope; directives that write settings only run where there is one. */
export function levelOf(scope: Scope): Level {
  if (!scope.level) throw new Error(`no settings level in context ${scope.ctx}`);
  return scope.level;
}

/** A new empty settings level. */
export function newLevel(): Level {
  return { values: {}, seen: new Set() };
}
