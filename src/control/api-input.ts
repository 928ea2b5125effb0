/**
 * The admin API's request bodies: the JSON of POST and PATCH `/http/upstreams/NAME/servers[/ID]`, checked field
 * by field with NGINX Plus's error codes (ngx_http_api_module: `JsonError` 415, `UpstreamConfFormatError`,
 * `UpstreamBadAddress`, `UpstreamBadWeight`, ...). `max_conns`, `slow_start` and `route` are not written by the
 * API (a registry value has no such fields): they are accepted only unchanged, so a document read with GET can
 * be sent back. Pure.
 */
import { parseTime } from "../config/values.js";
import type { ServerSpec } from "../config/types.js";
import { parseServerKey, type ServerAddress } from "../discovery/server-entry.js";
import type { ApiError } from "./api-json.js";

/** What a POST or PATCH asks for; an absent field keeps its value (PATCH) or its default (POST). */
export interface ServerChange {
  /** POST only: the new server. */
  address?: ServerAddress;
  weight?: number;
  maxFails?: number;
  /** Milliseconds, whole seconds (a registry value holds seconds). */
  failTimeout?: number;
  backup?: boolean;
  down?: boolean;
  /** PATCH only: local to this instance. */
  drain?: boolean;
}

/** What the body is checked against: a new server, or the server a PATCH changes. */
export type BodyTarget = { kind: "post" } | { kind: "patch"; id: number; spec: ServerSpec };

/** Largest weight: a C int, as nginx and cJSON read it. */
const INT_MAX = 0x7fffffff;

const bad = (code: string, text: string): ApiError => ({ status: 400, code, text });
const format = (text: string): ApiError => bad("UpstreamConfFormatError", text);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `"10.0.0.1:8080"`, `"[::1]:8080"`, or without a port (80, as nginx's `server` line): IP addresses only. */
export function parseServerAddress(text: string): ServerAddress | ApiError {
  const withPort =
    /^\[[^\]]*\]$/.test(text) || (!text.startsWith("[") && !text.includes(":")) ? `${text}:80` : text;
  const r = parseServerKey(withPort);
  if ("reason" in r) {
    const why = r.reason.replace(/^upsync_check_key: /, "").replace(/ in \/.*$/, "");
    return bad("UpstreamBadAddress", `invalid "server" argument "${text}": ${why} (IP:PORT, no host names)`);
  }
  return r;
}

/** A time field: an nginx time in whole seconds (`"10s"`, `"1m"`) or a number of seconds. */
function seconds(v: unknown): number | null {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 && v <= INT_MAX ? v * 1000 : null;
  if (typeof v === "string") return parseTime(v, true);
  return null;
}

function integer(v: unknown, min: number): number | null {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= INT_MAX ? v : null;
}

/**
 * Checks one field into `out`; returns the error, or null. `fixed` is what the fields the API does not write must
 * equal (the server's own values for PATCH, nginx's defaults for POST).
 */
function field(name: string, v: unknown, target: BodyTarget, out: ServerChange): ApiError | null {
  if (isObject(v) || Array.isArray(v)) return format(`nested object or list in "${name}"`);
  const fixed = target.kind === "patch" ? target.spec : { maxConns: 0, slowStart: 0 };
  switch (name) {
    case "server": {
      if (typeof v !== "string") return bad("UpstreamBadAddress", `invalid "server" argument`);
      const a = parseServerAddress(v);
      if ("code" in a) return a;
      if (target.kind === "patch") {
        if (a.address !== target.spec.address)
          return bad(
            "UpstreamServerImmutable",
            `the address of server with ID "${target.id}" cannot change: add the new server, then remove this one`,
          );
      } else out.address = a;
      return null;
    }
    case "id":
      if (target.kind === "patch" && v === target.id) return null;
      return format(`"id" cannot be set: syncgate assigns it`);
    case "weight": {
      const n = integer(v, 1);
      if (n === null)
        return bad("UpstreamBadWeight", `invalid "weight" value: an integer from 1 to ${INT_MAX}`);
      out.weight = n;
      return null;
    }
    case "max_fails": {
      const n = integer(v, 0);
      if (n === null)
        return bad("UpstreamBadMaxFails", `invalid "max_fails" value: an integer from 0 to ${INT_MAX}`);
      out.maxFails = n;
      return null;
    }
    case "fail_timeout": {
      const ms = seconds(v);
      if (ms === null)
        return bad("UpstreamBadFailTimeout", `invalid "fail_timeout" value: a time in whole seconds ("10s")`);
      out.failTimeout = ms;
      return null;
    }
    case "backup":
    case "down":
    case "drain": {
      if (typeof v !== "boolean") return format(`invalid "${name}" value: true or false`);
      if (name === "drain" && target.kind === "post")
        return format(`"drain" applies to an existing server only`);
      out[name] = v;
      return null;
    }
    case "max_conns":
      if (v === fixed.maxConns) return null;
      return bad(
        "UpstreamBadMaxConns",
        `"max_conns" cannot be changed through the API: set it in the config`,
      );
    case "slow_start": {
      const ms = typeof v === "string" ? parseTime(v) : seconds(v);
      if (ms === fixed.slowStart) return null;
      return bad(
        "UpstreamBadSlowStart",
        `"slow_start" cannot be changed through the API: set it in the config`,
      );
    }
    case "route":
      if (v === "") return null;
      return bad("UpstreamBadRoute", `"route" is not supported`);
    default:
      return format(`unknown parameter "${name}"`);
  }
}

/** Parses and checks a POST or PATCH body (JSON object); errors as NGINX Plus words them, with syncgate's detail. */
export function parseServerBody(body: Buffer | null, target: BodyTarget): ServerChange | ApiError {
  const text = body?.toString("utf8") ?? "";
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const why = text.trim() === "" ? "empty body" : err instanceof Error ? err.message : String(err);
    return { status: 415, code: "JsonError", text: `json error: ${why}` };
  }
  if (!isObject(doc))
    return { status: 415, code: "JsonError", text: "json error: the body must be an object" };
  const out: ServerChange = {};
  for (const [name, v] of Object.entries(doc)) {
    const e = field(name, v, target, out);
    if (e) return e;
  }
  if (target.kind === "post" && !out.address) return format(`missing "server" argument`);
  return out;
}
