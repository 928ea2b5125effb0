/**
 * What operators type, checked before anything reaches a registry: a server address (`IP:PORT`, `[IPv6]:PORT`,
 * the key form of upsync spec §2.3) and attributes (the value fields of §2.4). Values written are values the
 * registry read side accepts unchanged, so `ctl add` then `ctl list` shows exactly what was asked.
 */
import type { ServerSpec } from "../config/types.js";
import { parseTime } from "../config/values.js";
import { parseServerKey, showValue } from "../discovery/server-entry.js";
import { ControlError, DEFAULT_VALUE, type ServerValue } from "./types.js";

/** The fields of a value, in the order a value is written. */
export const VALUE_FIELDS = ["weight", "max_fails", "fail_timeout", "down", "backup"] as const;

/** cJSON's valueint is a C int: the read side refuses larger numbers (server-entry.ts). */
const INT_MAX = 0x7fffffff;

/**
 * `HOST:PORT` or `[IPv6]:PORT` → the server's identity as every source names it (`010.0.0.1:80` →
 * `10.0.0.1:80`, IPv6 compressed, lower case). IP literals only, as registry keys (spec §2.3); else
 * ControlError `InvalidAddress` (400).
 */
export function parseAddress(text: string): string {
  const t = text.trim();
  const got = parseServerKey(t);
  if ("address" in got) return got.address;
  const shown = `"${showValue(t).slice(0, 80)}"`;
  let why: string;
  if (!t.startsWith("[") && t.split(":").length > 2) why = "write an IPv6 address in brackets: [::1]:80";
  else if (got.reason.includes("invalid port")) why = "the port must be a number from 1 to 65535";
  else if (got.reason.includes("has no port")) why = "expected IP:PORT or [IPv6]:PORT";
  else why = "the host must be an IPv4 or [IPv6] address (registries take no host names)";
  throw new ControlError("InvalidAddress", `invalid address ${shown}: ${why}`, 400);
}

/** A whole number from a user: a JSON integer or a decimal string. */
function whole(v: unknown): number | null {
  if (typeof v === "number") return Number.isInteger(v) ? v : null;
  if (typeof v === "string" && /^\s*\d+\s*$/.test(v)) return Number(v);
  return null;
}

/** A flag from a user: true/false, 1/0, and "1" "0" "true" "false" "on" "off" "yes" "no". */
function flag(v: unknown): 0 | 1 | null {
  if (v === true || v === 1) return 1;
  if (v === false || v === 0) return 0;
  if (typeof v !== "string") return null;
  const s = v.trim().toLowerCase();
  if (["1", "true", "on", "yes"].includes(s)) return 1;
  if (["0", "false", "off", "no"].includes(s)) return 0;
  return null;
}

function invalid(field: string, v: unknown, rule: string): ControlError {
  const shown = typeof v === "string" ? `"${showValue(v).slice(0, 40)}"` : showValue(JSON.stringify(v) ?? "");
  return new ControlError("InvalidValue", `invalid "${field}" value ${shown}: ${rule}`, 400);
}

/**
 * User-given attributes over `base` (the registry defaults unless given): absent fields keep the base's.
 * `weight` a whole number ≥ 1, `max_fails` ≥ 0, `fail_timeout` whole seconds ≥ 0 (a number, or nginx time in
 * seconds: `10`, `10s`, `1m`), `down`/`backup` boolean-ish; all at most 2147483647. Anything else — a bad value, a
 * `null`, an unknown field — is ControlError `InvalidValue` (400); callers drop their own fields (`drain`) first.
 */
export function toValue(
  partial: Readonly<Record<string, unknown>>,
  base: ServerValue = DEFAULT_VALUE,
): ServerValue {
  for (const k of Object.keys(partial)) {
    if (!(VALUE_FIELDS as readonly string[]).includes(k)) {
      const known = VALUE_FIELDS.join(", ");
      throw new ControlError("InvalidValue", `unknown attribute "${showValue(k)}" (known: ${known})`, 400);
    }
  }
  const out: ServerValue = { ...base };
  const { weight, max_fails: maxFails, fail_timeout: failTimeout, down, backup } = partial;
  if (weight !== undefined) {
    const n = whole(weight);
    if (n === null || n < 1 || n > INT_MAX) throw invalid("weight", weight, "a whole number from 1");
    out.weight = n;
  }
  if (maxFails !== undefined) {
    const n = whole(maxFails);
    if (n === null || n < 0 || n > INT_MAX) throw invalid("max_fails", maxFails, "a whole number from 0");
    out.max_fails = n;
  }
  if (failTimeout !== undefined) {
    const ms = typeof failTimeout === "string" ? parseTime(failTimeout, true) : null;
    const n = typeof failTimeout === "string" ? (ms === null ? null : ms / 1000) : whole(failTimeout);
    if (n === null || n < 0 || n > INT_MAX) {
      throw invalid("fail_timeout", failTimeout, "whole seconds from 0 (10, 10s, 1m)");
    }
    out.fail_timeout = n;
  }
  for (const [field, v] of [
    ["down", down],
    ["backup", backup],
  ] as const) {
    if (v === undefined) continue;
    const f = flag(v);
    if (f === null) throw invalid(field, v, "true or false (1, 0, on, off)");
    out[field] = f;
  }
  return out;
}

/** The registry value text: compact JSON, every field, in VALUE_FIELDS order (`{"weight":1,"max_fails":2,...}`). */
export function valueJson(v: ServerValue): string {
  const { weight, max_fails, fail_timeout, down, backup } = v;
  return JSON.stringify({ weight, max_fails, fail_timeout, down, backup });
}

/** A server as the read side built it → its value (fail_timeout in whole seconds, flags as 0/1). */
export function serverValue(s: ServerSpec): ServerValue {
  return {
    weight: s.weight,
    max_fails: s.maxFails,
    fail_timeout: Math.floor(s.failTimeout / 1000),
    down: s.down ? 1 : 0,
    backup: s.backup ? 1 : 0,
  };
}
