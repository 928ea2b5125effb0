/**
 * etcd v2 keys API (`upsync_type=etcd`, upsync spec §3.3): the answer of `GET /v2/keys/<dir>` —
 * `{"action":"get","node":{"key":"/upstreams/x","dir":true,"nodes":[{"key":..,"value":"<json>"},..]}}` — to the
 * upstream's whole membership. Values are raw JSON strings (no base64) read with the Consul rules (§2.4).
 */
import { SnapshotBuilder, addFolderEntry, compareKeys, isObject, member, parseBody } from "./server-entry.js";
import type { Snapshot, TranslateContext, TranslateError } from "./types.js";

/** etcd's EcodeKeyNotFound: the directory does not exist (deleted) — an empty list. */
const KEY_NOT_FOUND = 100;

/** The directory an `upsync` path names as an etcd key: `/v2/keys/upstreams/x` → `/upstreams/x`. */
export function etcd2Directory(path: string): string {
  const q = path.indexOf("?");
  const p = (q < 0 ? path : path.slice(0, q)).replace(/^\/v2\/keys(?=\/|$)/, "").replace(/\/+$/, "");
  return p.startsWith("/") ? p : `/${p}`;
}

/**
 * etcd v2 answer → Snapshot. `null` (the 404 for a deleted directory, passed explicitly by the I/O layer), an
 * errorCode 100 body and a directory without `nodes` (etcd omits it when empty) are an empty list, which the applier
 * refuses (spec §6.3); the module ignored all three. A watch event (`action` other than `get`) is not a listing:
 * the caller reads the directory again, as the module did (spec §3.3).
 */
export function translateEtcd2(body: unknown, ctx: TranslateContext): Snapshot | TranslateError {
  const parsed = parseBody(body);
  if ("error" in parsed) return parsed;
  const out = new SnapshotBuilder(ctx.index, ctx);
  const root = parsed.json;
  if (root === null) return out.finish();
  if (!isObject(root)) return { error: "upsync_parse_json: root is not an object" };
  const code = member(root, "errorCode");
  if (code !== undefined) {
    if (code === KEY_NOT_FOUND) return out.finish();
    const message = member(root, "message");
    return {
      error: `etcd error ${JSON.stringify(code)}: ${typeof message === "string" ? message : "unknown"}`,
    };
  }
  const action = member(root, "action");
  if (action !== undefined && action !== "get") {
    return { error: `etcd ${JSON.stringify(action)} event is not a directory listing` };
  }
  const node = member(root, "node");
  if (!isObject(node)) return { error: "upsync_parse_json: node is null" };
  const dirKey = member(node, "key");
  const dir = typeof dirKey === "string" ? dirKey.replace(/\/+$/, "") : etcd2Directory(ctx.path);
  if (member(node, "dir") !== true) return { error: `upsync_parse_json: ${dir} is not a directory` };
  const nodes = member(node, "nodes");
  if (nodes === undefined || nodes === null) return out.finish();
  if (!Array.isArray(nodes)) return { error: "upsync_parse_json: nodes is not an array" };

  const folder = `${dir.replace(/\/+$/, "")}/`;
  const keyed: { n: Record<string, unknown>; key: string }[] = [];
  nodes.forEach((n: unknown, i: number) => {
    const key = isObject(n) ? member(n, "key") : undefined;
    if (isObject(n) && typeof key === "string") keyed.push({ n, key });
    else out.ignore(`#${i}`, `upsync_parse_json: node ${i} has no "key"`);
  });
  // etcd v2 lists a directory's children in no fixed order (unless asked `sorted=true`): sort by key, so the
  // order is the registry's key order, as Consul's and etcd v3's.
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  for (const { n, key } of keyed) {
    addFolderEntry(out, folder, key, member(n, "value"), "value", "text", member(n, "dir") === true);
  }
  return out.finish();
}
