/** `allow`/`deny` (nginx's access module) and `auth_basic` (its auth_basic module). */
import { isIP } from "node:net";
import { type ConfigModule, type Scope, type AdaptState, fail, levelOf, markOnce, TAKE1 } from "../engine.js";
import type { Directive } from "../parser.js";
import { HTTP_SRV_LOC } from "../slots.js";
import { hasVariables } from "../variables.js";
import { useVariables } from "./vars.js";

/** Parses "all", an address or a CIDR into the canonical form kept in the config. */
export function parseAccessTarget(d: Directive, st: AdaptState, text: string): string | null {
  if (text === "all") return null;
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) throw fail(d, `invalid parameter "${text}"`);
  const bits = family === 4 ? 32 : 128;
  let len = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) throw fail(d, `invalid parameter "${text}"`);
    len = Number(p);
  }
  if (len < bits && hostBitsSet(addr, family, len)) st.warn(d, `low address bits of ${text} are meaningless`);
  return `${addr}/${len}`;
}

function hostBitsSet(addr: string, family: number, len: number): boolean {
  const bytes = family === 4 ? addr.split(".").map(Number) : ipv6Bytes(addr);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    if ((bytes[i]! & ~mask & 0xff) !== 0) return true;
  }
  return false;
}

/** The 16 bytes of an IPv6 address (with an embedded IPv4 tail or "::"). */
export function ipv6Bytes(addr: string): number[] {
  let text = addr;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tail = text
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const r = rest === undefined || rest === "" ? [] : rest.split(":");
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill("0"), ...r];
  const out: number[] = [];
  for (const g of groups) {
    const v = parseInt(g, 16);
    out.push(v >> 8, v & 0xff);
  }
  if (tail.length === 4) out.splice(12, 4, ...tail);
  return out;
}

function accessRule(d: Directive, scope: Scope, st: AdaptState): void {
  const level = levelOf(scope);
  const cidr = parseAccessTarget(d, st, d.args[0]!);
  // allow and deny share one ordered list; a level with any rule replaces the inherited list.
  if (!level.seen.has("allow/deny")) {
    level.seen.add("allow/deny");
    level.values.access = [];
  }
  level.values.access!.push({ action: d.name === "allow" ? "allow" : "deny", cidr });
}

/** The access module. */
export const access: ConfigModule = {
  name: "access",
  defaults: { access: [], authBasic: null, authBasicUserFile: null },
  directives: [
    {
      name: "allow",
      contexts: HTTP_SRV_LOC,
      args: TAKE1,
      doc: {
        syntax: "allow ADDRESS | CIDR | all;",
        default: "—",
        text: "Allows clients; rules are checked in order with `deny`, the first match wins, a denied client gets 403.",
      },
      handle: accessRule,
    },
    {
      name: "deny",
      contexts: HTTP_SRV_LOC,
      args: TAKE1,
      doc: { syntax: "deny ADDRESS | CIDR | all;", default: "—", text: "Denies clients (403); see `allow`." },
      handle: accessRule,
    },
    {
      name: "auth_basic",
      contexts: HTTP_SRV_LOC,
      args: TAKE1,
      doc: {
        syntax: "auth_basic REALM | off;",
        default: "off",
        text: 'Asks for a user name and password (401 with `WWW-Authenticate: Basic realm="REALM"`), checked against `auth_basic_user_file`.',
      },
      handle(d, scope, st) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        const v = d.args[0]!;
        if (v !== "off") useVariables(st, d, v);
        level.values.authBasic = v === "off" ? null : v;
      },
    },
    {
      name: "auth_basic_user_file",
      contexts: HTTP_SRV_LOC,
      args: TAKE1,
      doc: {
        syntax: "auth_basic_user_file FILE;",
        default: "—",
        text: "htpasswd file (bcrypt `$2y$`, apr1 `$apr1$`, `{SHA}`), relative to the prefix. An unreadable file answers 500, never lets a request through.",
      },
      handle(d, scope, st) {
        const level = levelOf(scope);
        markOnce(level.seen, d);
        const v = d.args[0]!;
        if (hasVariables(v)) {
          useVariables(st, d, v);
          level.values.authBasicUserFile = v;
        } else level.values.authBasicUserFile = st.path(v);
      },
    },
  ],
};
