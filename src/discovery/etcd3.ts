/**
 * etcd v3 (`upsync_type=etcd3`, issue 4): the JSON gateway's answer to `POST /v3/kv/range` over the upstream's
 * key prefix — `{"header":{"revision":"7"},"kvs":[{"key":"<base64>","value":"<base64>",..}]}` — to the upstream's
 * whole membership. Keys and values follow the Consul rules (upsync spec §2.3–2.4).
 */
import {
  SnapshotBuilder,
  addFolderEntry,
  compareKeys,
  decodeBase64,
  isObject,
  member,
  parseBody,
} from "./server-entry.js";
import type { Snapshot, TranslateContext, TranslateError } from "./types.js";

/**
 * The key prefix of an `upsync ... upsync_type=etcd3` path: exactly as written, leading slash included
 * (`/upstreams/x/` watches keys starting with `/upstreams/x/`). It is a folder like every source's path
 * (issue 4): a missing trailing slash is added, so `/upstreams/x` never takes `/upstreams/x2/...`.
 */
export function etcd3Prefix(path: string): string {
  return path.endsWith("/") ? path : `${path}/`;
}

/** The range end that makes a range request cover every key starting with `prefix` (etcd's prefix rule). */
export function etcd3RangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, "utf8");
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * etcd v3 range answer → Snapshot; the index is the answer's `header.revision` (ctx.index when it has none).
 * An answer without `kvs` (no key under the prefix: proto3 omits empty lists) is an empty list, which the
 * applier refuses (spec §6.3).
 */
export function translateEtcd3(body: unknown, ctx: TranslateContext): Snapshot | TranslateError {
  const parsed = parseBody(body);
  if ("error" in parsed) return parsed;
  const root = parsed.json;
  const header = isObject(root) ? member(root, "header") : undefined;
  const revision = isObject(header) ? member(header, "revision") : undefined;
  const index = typeof revision === "string" || typeof revision === "number" ? String(revision) : ctx.index;
  const out = new SnapshotBuilder(index, ctx);
  if (root === null) return out.finish();
  if (!isObject(root)) return { error: "upsync_parse_json: root is not an object" };
  const kvs = member(root, "kvs");
  if (kvs === undefined || kvs === null) return out.finish();
  if (!Array.isArray(kvs)) return { error: "upsync_parse_json: kvs is not an array" };

  const prefix = etcd3Prefix(ctx.path);
  const keyed: { kv: Record<string, unknown>; key: string }[] = [];
  kvs.forEach((kv: unknown, i: number) => {
    const raw = isObject(kv) ? member(kv, "key") : undefined;
    const key = typeof raw === "string" ? decodeBase64(raw) : null;
    if (isObject(kv) && key !== null) keyed.push({ kv, key });
    else out.ignore(`#${i}`, `upsync_parse_json: kv ${i} has no base64 "key"`);
  });
  // A range answer is sorted by key already; sorting again keeps that true for lists rebuilt from watch events.
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  for (const { kv, key } of keyed) {
    // An empty value is omitted by the gateway (proto3): defaults, like an empty Consul value.
    addFolderEntry(out, prefix, key, member(kv, "value"), "value");
  }
  return out.finish();
}

/**
 * The body of `POST /v3/auth/authenticate` for `upsync_token_file`'s `user:password` (a password may hold
 * colons: the first one splits).
 */
export function etcd3AuthBody(token: string): string {
  const colon = token.indexOf(":");
  const name = colon < 0 ? token : token.slice(0, colon);
  const password = colon < 0 ? "" : token.slice(colon + 1);
  return JSON.stringify({ name, password });
}
