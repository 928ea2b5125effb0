/**
 * Consul KV (`upsync_type=consul`): the answer of `GET /v1/kv/<folder>?recurse` — an array of
 * `{"Key", "Value" (base64 or null), "ModifyIndex", ...}` sorted by key — to the upstream's whole membership.
 * Keys and values follow upsync spec §2.3–2.4 through server-entry.ts; the folder rules are the decision.
 */
import { SnapshotBuilder, addFolderEntry, isObject, member, parseBody } from "./server-entry.js";
import type { Snapshot, TranslateContext, TranslateError } from "./types.js";

/**
 * The KV folder an `upsync` path names: `/v1/kv/upstreams/test` and `/v1/kv/upstreams/test/` both give
 * `upstreams/test/`. The path is a folder (issue 4, spec §10): without the trailing slash the module let Consul's
 * prefix match merge `upstreams/test2/...` into the upstream (spec §2.3); here it never does. A query string is
 * not part of the folder.
 */
export function consulKvFolder(path: string): string {
  const q = path.indexOf("?");
  let p = q < 0 ? path : path.slice(0, q);
  p = p.replace(/^\/+/, "");
  if (p.startsWith("v1/kv/")) p = p.slice(6);
  else if (p === "v1/kv") p = "";
  p = p.replace(/^\/+/, "");
  return p === "" || p.endsWith("/") ? p : `${p}/`;
}

/**
 * Consul KV answer → Snapshot. `null` (Consul's 404 for a prefix without keys) and `[]` are an empty list, which
 * the applier refuses (spec §6.3); the module ignored the 404 instead, with the same effect on the servers.
 */
export function translateConsulKv(body: unknown, ctx: TranslateContext): Snapshot | TranslateError {
  const parsed = parseBody(body);
  if ("error" in parsed) return parsed;
  const out = new SnapshotBuilder(ctx.index, ctx);
  const root = parsed.json;
  if (root === null) return out.finish();
  if (!Array.isArray(root)) return { error: "upsync_parse_json: root is not an array of keys" };
  const folder = consulKvFolder(ctx.path);
  root.forEach((entry: unknown, i: number) => {
    const key = isObject(entry) ? member(entry, "Key") : undefined;
    if (!isObject(entry) || typeof key !== "string") {
      out.ignore(`#${i}`, `upsync_parse_json: element ${i} has no "Key"`);
      return;
    }
    addFolderEntry(out, folder, key, member(entry, "Value"), "Value");
  });
  return out.finish();
}
