/**
 * Ready-made handlers for settings that take one value, matching nginx's ngx_conf_set_*_slot() functions and
 * their messages: duplicates, "invalid value", on/off flags.
 */
import {
  type Context,
  type DirectiveDoc,
  type DirectiveSpec,
  fail,
  invalidValue,
  levelOf,
  markOnce,
} from "./engine.js";
import type { Directive } from "./parser.js";
import type { HttpSettings } from "./types.js";
import { parseNumber, parseSize, parseTime } from "./values.js";

type KeysOfType<T, V> = { [K in keyof T]: T[K] extends V ? K : never }[keyof T];

/** Where location-level settings may stand. */
export const HTTP_SRV_LOC: readonly Context[] = ["http", "server", "location"];
/** Where server-level settings may stand. */
export const HTTP_SRV: readonly Context[] = ["http", "server"];

/** Parses on/off with nginx's message for anything else. */
export function flagValue(d: Directive, value: string): boolean {
  const v = value.toLowerCase();
  if (v === "on") return true;
  if (v === "off") return false;
  throw fail(d, `invalid value "${value}" in "${d.name}" directive, it must be "on" or "off"`);
}

/** A time setting in milliseconds (nginx msec slot; `seconds` for its sec slot). */
export function timeSetting(
  name: string,
  key: KeysOfType<HttpSettings, number>,
  contexts: readonly Context[],
  doc: DirectiveDoc,
  seconds = false,
): DirectiveSpec {
  return {
    name,
    contexts,
    args: [1, 1],
    doc,
    handle(d, scope) {
      const level = levelOf(scope);
      markOnce(level.seen, d);
      const ms = parseTime(d.args[0]!, seconds);
      if (ms === null) throw invalidValue(d);
      level.values[key] = ms;
    },
  };
}

/** A size setting in bytes (nginx size/off slots). */
export function sizeSetting(
  name: string,
  key: KeysOfType<HttpSettings, number>,
  contexts: readonly Context[],
  doc: DirectiveDoc,
): DirectiveSpec {
  return {
    name,
    contexts,
    args: [1, 1],
    doc,
    handle(d, scope) {
      const level = levelOf(scope);
      markOnce(level.seen, d);
      const n = parseSize(d.args[0]!);
      if (n === null) throw invalidValue(d);
      level.values[key] = n;
    },
  };
}

/** A count setting (nginx num slot: "invalid number"). */
export function numberSetting(
  name: string,
  key: KeysOfType<HttpSettings, number>,
  contexts: readonly Context[],
  doc: DirectiveDoc,
): DirectiveSpec {
  return {
    name,
    contexts,
    args: [1, 1],
    doc,
    handle(d, scope) {
      const level = levelOf(scope);
      markOnce(level.seen, d);
      const n = parseNumber(d.args[0]!);
      if (n === null) throw fail(d, `"${d.name}" directive invalid number`);
      level.values[key] = n;
    },
  };
}

/** An on/off setting (nginx flag slot). */
export function flagSetting(
  name: string,
  key: KeysOfType<HttpSettings, boolean>,
  contexts: readonly Context[],
  doc: DirectiveDoc,
): DirectiveSpec {
  return {
    name,
    contexts,
    args: [1, 1],
    doc,
    handle(d, scope) {
      const level = levelOf(scope);
      markOnce(level.seen, d);
      level.values[key] = flagValue(d, d.args[0]!);
    },
  };
}

/** Argument checks for `noopDirective`, with the messages of nginx's flag, num, size and bufs slots. */
export const CHECK = {
  flag: (d: Directive): void => void flagValue(d, d.args[0]!),
  number: (d: Directive): void => {
    if (parseNumber(d.args[0]!) === null) throw fail(d, `"${d.name}" directive invalid number`);
  },
  size: (d: Directive): void => {
    if (parseSize(d.args[0]!) === null) throw invalidValue(d);
  },
  bufs: (d: Directive): void => {
    if (!parseNumber(d.args[0]!) || !parseSize(d.args[1]!)) throw invalidValue(d);
  },
};

/**
 * A directive that only tunes nginx's own process and means nothing to syncgate: its arguments are still
 * checked by `check`, then it is reported once at [notice] level and otherwise ignored.
 */
export function noopDirective(
  name: string,
  contexts: readonly Context[],
  args: readonly [number, number],
  doc: DirectiveDoc,
  check?: (d: Directive) => void,
): DirectiveSpec {
  return {
    name,
    contexts,
    args,
    doc,
    handle(d, _scope, st) {
      check?.(d);
      st.noticeOnce(name, d, `"${name}" directive has no effect in syncgate, ignored`);
    },
  };
}
