/**
 * The adapter: walks the parsed tree in file order, expands `include` where it stands (globs sorted, as
 * glob(3)), checks each directive's context, terminator and argument count with nginx's messages, runs its
 * handler, then merges the setting levels into the typed `Config`.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { globSync } from "tinyglobby";
import { configError, errnoText } from "../lib/errors.js";
import { type AdaptEnv, type AdaptState, type DirectiveSpec, type Scope, fail } from "./engine.js";
import { MODULES } from "./directives/index.js";
import { UNSUPPORTED } from "./directives/unsupported.js";
import { type Directive, parseText } from "./parser.js";
import type { Config, HttpSettings } from "./types.js";
import { closest } from "./values.js";

/** A file read while loading, in order (what `-T` prints). */
export interface LoadedFile {
  path: string;
  text: string;
}

/** Options for loading a configuration. */
export interface LoadOptions {
  /** Prefix for relative paths; defaults to the folder of the main file. */
  prefix?: string;
  /** Directives given with `-g`, adapted before the file as nginx does. */
  globals?: string;
  env: AdaptEnv;
}

/** The adapted configuration, the files read, and the notices and warnings met on the way. */
export interface LoadResult {
  config: Config;
  files: LoadedFile[];
  messages: AdaptState["messages"];
}

// Like nginx, one name may have several specs for different contexts (`server` in http and in upstream).
const REGISTRY = new Map<string, DirectiveSpec[]>();
for (const m of MODULES) {
  for (const spec of m.directives) {
    const list = REGISTRY.get(spec.name) ?? [];
    if (list.some((o) => o.contexts.some((c) => spec.contexts.includes(c)))) {
      throw new Error(`directive ${spec.name} registered twice for one context`);
    }
    list.push(spec);
    REGISTRY.set(spec.name, list);
  }
}

/** Every directive syncgate knows, by name (one spec per context group). */
export function directiveSpecs(): ReadonlyMap<string, readonly DirectiveSpec[]> {
  return REGISTRY;
}

const MAX_INCLUDE_DEPTH = 64;

/** Reads, parses and adapts a configuration file; throws a SyncgateError in nginx's words on any error. */
export function loadConfig(file: string, opts: LoadOptions): LoadResult {
  const mainFile = resolve(file);
  const prefix = resolve(opts.prefix ?? resolve(mainFile, ".."));
  const files: LoadedFile[] = [];
  const seenFiles = new Set<string>();
  const noticed = new Set<string>();
  const st: AdaptState = {
    prefix,
    env: opts.env,
    messages: [],
    path: (p) => (isAbsolute(p) ? p : resolve(prefix, p)),
    noticeOnce(key, d, text) {
      if (noticed.has(key)) return;
      noticed.add(key);
      st.messages.push({ level: "notice", text: where(text, d) });
    },
    warn(d, text) {
      st.messages.push({ level: "warn", text: where(text, d) });
    },
    module: {},
    defaults: Object.assign({}, ...MODULES.map((m) => m.defaults ?? {})) as HttpSettings,
  };

  const readFile = (path: string, from: Directive | null): Directive[] => {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw configError(`open() "${path}" failed ${errnoText(err)}`, from);
    }
    if (!seenFiles.has(path)) {
      seenFiles.add(path);
      files.push({ path, text });
    }
    return parseText(text, path);
  };

  const root: Scope = { ctx: "main", level: null, server: null, location: null, upstream: null };
  for (const m of MODULES) m.init?.(st);
  if (opts.globals) walk(parseText(opts.globals, null), root, st, 0, readFile);
  walk(readFile(mainFile, null), root, st, 0, readFile);

  const config = finish(mainFile, st);
  return { config, files, messages: st.messages };
}

function where(text: string, d: Directive): string {
  return d.file === null ? `${text} in command line` : `${text} in ${d.file}:${d.line}`;
}

type ReadFile = (path: string, from: Directive | null) => Directive[];

function walk(nodes: Directive[], scope: Scope, st: AdaptState, depth: number, readFile: ReadFile): void {
  for (const d of nodes) {
    if (d.name === "include") {
      include(d, scope, st, depth, readFile);
      continue;
    }
    if (scope.ctx === "types") {
      typesEntry(d, st);
      continue;
    }
    const specs = REGISTRY.get(d.name);
    if (!specs) {
      if (UNSUPPORTED.has(d.name)) throw fail(d, `"${d.name}" directive is not supported by syncgate`);
      const err = fail(d, `unknown directive "${d.name}"`);
      const hint = closest(d.name, [...REGISTRY.keys(), "include"]);
      if (hint) err.hint = `did you mean "${hint}"?`;
      throw err;
    }
    const spec = specs.find((sp) => sp.contexts.includes(scope.ctx));
    if (!spec) throw fail(d, `"${d.name}" directive is not allowed here`);
    if (!spec.block && d.block !== null) throw fail(d, `directive "${d.name}" is not terminated by ";"`);
    if (spec.block && d.block === null) throw fail(d, `directive "${d.name}" has no opening "{"`);
    if (d.args.length < spec.args[0] || d.args.length > spec.args[1]) {
      throw fail(d, `invalid number of arguments in "${d.name}" directive`);
    }
    const child = spec.handle(d, scope, st);
    if (spec.block) {
      if (!child) throw new Error(`block directive ${d.name} returned no scope`);
      walk(d.block!, child, st, depth, readFile);
      spec.leave?.(child, st);
    }
  }
}

function include(d: Directive, scope: Scope, st: AdaptState, depth: number, readFile: ReadFile): void {
  if (d.block !== null) throw fail(d, `directive "include" is not terminated by ";"`);
  if (d.args.length !== 1) throw fail(d, `invalid number of arguments in "include" directive`);
  if (depth >= MAX_INCLUDE_DEPTH) throw fail(d, `include nesting is deeper than ${MAX_INCLUDE_DEPTH} files`);
  const path = st.path(d.args[0]!);
  if (!/[*?[]/.test(path)) {
    if (scope.ctx === "upstream" && optionalInclude(scope, path, st)) return;
    walk(readFile(path, d), scope, st, depth + 1, readFile);
    return;
  }
  // glob(3) order: sorted, dot files only when the pattern names them; no match is not an error.
  const matches = globSync(path, { absolute: true, onlyFiles: true, expandDirectories: false }).sort();
  for (const m of matches) walk(readFile(m, d), scope, st, depth + 1, readFile);
}

/**
 * An upstream may include its own dump file before the first sync wrote it (registry-sync modules decide
 * through `optionalInclude`); a missing file there is skipped, any other missing include is an [emerg], and so
 * is a dump file that exists but cannot be read.
 */
function optionalInclude(scope: Scope, path: string, st: AdaptState): boolean {
  for (const m of MODULES) {
    if (m.optionalInclude?.(scope, path, st)) {
      try {
        readFileSync(path);
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === "ENOENT";
      }
    }
  }
  return false;
}

function typesEntry(d: Directive, st: AdaptState): void {
  if (d.block !== null) throw fail(d, 'unexpected "{"');
  const types = st.module["types"] as Record<string, string>;
  for (const ext of d.args) {
    const key = ext.toLowerCase();
    const prev = types[key];
    if (prev !== undefined && prev !== d.name) {
      st.warn(d, `duplicate extension "${ext}", content type: "${d.name}", previous content type: "${prev}"`);
    }
    types[key] = d.name;
  }
}

function finish(file: string, st: AdaptState): Config {
  const config: Partial<Config> = { file, prefix: st.prefix };
  for (const m of MODULES) m.finish?.(config, st);
  return config as Config;
}
