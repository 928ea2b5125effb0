/**
 * Variable references: every directive that takes `$variables` records them here, and once the whole file is
 * read (regex captures may be named anywhere) each is checked, with nginx's `unknown "NAME" variable`.
 */
import { type AdaptState, type ConfigModule, fail } from "../engine.js";
import type { Directive } from "../parser.js";
import { isKnownVariable, variablesIn } from "../variables.js";

interface VarsState {
  refs: { name: string; d: Directive }[];
  captures: Set<string>;
}

const state = (st: AdaptState): VarsState => st.module["vars"] as VarsState;

/** Records the variables `text` (an argument of `d`) uses; an unclosed `${` fails at once, as in nginx. */
export function useVariables(st: AdaptState, d: Directive, text: string): void {
  const names = variablesIn(text);
  if (names === null) {
    // nginx names the variable, not the whole text (ngx_http_script_compile()).
    const name = /\$\{([A-Za-z0-9_]*)(?![A-Za-z0-9_}])/.exec(text)?.[1] ?? "";
    throw fail(d, `the closing bracket in "${name}" variable is missing`);
  }
  for (const name of names) state(st).refs.push({ name, d });
}

/** Makes the named groups of a regex (`(?<name>...)` or `(?P<name>...)`) usable as variables. */
export function registerCaptures(st: AdaptState, pattern: string): void {
  for (const m of pattern.matchAll(/\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/g)) state(st).captures.add(m[1]!);
}

/** The variable checker. */
export const vars: ConfigModule = {
  name: "vars",
  directives: [],
  init(st) {
    st.module["vars"] = { refs: [], captures: new Set() } satisfies VarsState;
  },
  finish(_config, st) {
    const s = state(st);
    for (const { name, d } of s.refs) {
      if (!isKnownVariable(name, s.captures)) throw fail(d, `unknown "${name}" variable`);
    }
  },
};
