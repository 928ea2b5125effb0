/** The KV endpoints, `/v1/kv/KEY` (https://developer.hashicorp.com/consul/api-docs/kv). */
import type { ServerResponse } from "node:http";
import type { BlockingQueries } from "./blocking.js";
import { consulHead, json, text } from "./http.js";
import type { KvEntry, KvTable } from "./kv.js";

const MAX_VALUE = 512 * 1024;

/** Answers a `/v1/kv/KEY` request (`key` decoded, without its leading slash). */
export function kvRequest(
  kv: KvTable,
  blocking: BlockingQueries,
  method: string,
  key: string,
  q: URLSearchParams,
  body: Buffer,
  res: ServerResponse,
): void {
  if (method === "PUT") return put(kv, key, q, body, res);
  if (method === "DELETE") return del(kv, key, q, res);
  if (method === "GET") return read(kv, blocking, key, q, res);
  res.writeHead(405, { Allow: "GET, PUT, DELETE" }).end();
}

function put(kv: KvTable, key: string, q: URLSearchParams, body: Buffer, res: ServerResponse): void {
  if (key === "") return text(res, 400, "Missing key name");
  if (body.length > MAX_VALUE)
    return text(res, 413, `Request body(${body.length} bytes) too large, max size: ${MAX_VALUE} bytes`);
  const cas = q.get("cas");
  if (cas !== null && Number(cas) !== (kv.get(key)?.modifyIndex ?? 0)) return json(res, 200, false);
  kv.put(key, body, Number(q.get("flags") ?? 0));
  json(res, 200, true);
}

function del(kv: KvTable, key: string, q: URLSearchParams, res: ServerResponse): void {
  const recurse = q.has("recurse");
  if (key === "" && !recurse) return text(res, 400, "Missing key name");
  const cas = q.get("cas");
  if (cas !== null && !recurse && Number(cas) !== (kv.get(key)?.modifyIndex ?? 0))
    return json(res, 200, false);
  kv.delete(key, recurse);
  json(res, 200, true);
}

function read(
  kv: KvTable,
  blocking: BlockingQueries,
  key: string,
  q: URLSearchParams,
  res: ServerResponse,
): void {
  const keys = q.has("keys");
  const recurse = q.has("recurse") || keys;
  if (key === "" && !recurse) return text(res, 400, "Missing key name");
  const params = blocking.params(q, res);
  if (!params) return;
  // A single key reads at the KV table index (Consul's kvsGet); lists at their prefix's index.
  const indexNow = (): number => (recurse ? kv.listIndex(key) : kv.index);
  const answer = (): void => {
    const idx = Math.max(indexNow(), 1);
    const found = [...kv.values()]
      .filter((e) => (recurse ? e.key.startsWith(key) : e.key === key))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const head = consulHead(idx);
    if (keys) {
      const sep = q.get("separator") ?? q.get("seperator") ?? "";
      const list = new Set<string>();
      for (const e of found) {
        const at = sep === "" ? -1 : e.key.indexOf(sep, key.length);
        list.add(at < 0 ? e.key : e.key.slice(0, at + sep.length));
      }
      // Consul answers 404 for an empty key list, except at the root (an empty array there).
      if (list.size === 0 && key !== "") return void res.writeHead(404, head).end();
      return json(res, 200, [...list], head);
    }
    if (found.length === 0) return void res.writeHead(404, head).end();
    if (!recurse && q.has("raw")) return void res.writeHead(200, head).end(found[0]?.value ?? "");
    json(res, 200, found.map(dirEntry), head);
  };
  const concerns = (table: string, k: string): boolean =>
    table === "kv" && (recurse ? k.startsWith(key) : k === key);
  blocking.hold(params, res, concerns, indexNow, answer);
}

function dirEntry(e: KvEntry): Record<string, unknown> {
  return {
    LockIndex: e.lockIndex,
    Key: e.key,
    Flags: e.flags,
    Value: e.value === null ? null : e.value.toString("base64"),
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex,
  };
}
