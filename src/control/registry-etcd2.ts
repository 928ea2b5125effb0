/**
 * etcd's v2 keys API (`upsync_type=etcd`) as a control target, with the calls of upsync spec §3.3: list the
 * directory, `PUT /v2/keys/<dir>/<ip:port>` with the form `value=<json>`, `DELETE` the key
 * (https://etcd.io/docs/v2.3/api/). A `user:password` token goes as Basic auth.
 */
import type { UpsyncConf } from "../config/types.js";
import { etcd2Directory, translateEtcd2 } from "../discovery/etcd2.js";
import { etcd2Url, readEtcd2Listing } from "../discovery/etcd2-source.js";
import { registryOrigin, type RegistryResponse, statusError } from "../discovery/registry-http.js";
import { isObject, member } from "../discovery/server-entry.js";
import { describeSource } from "../discovery/sync.js";
import { type FolderStore, keyPath } from "./registry-folder.js";
import { AddressTurn, answerJson, BadAnswer, registrySend, type SendOptions } from "./registry-send.js";

/** etcd's EcodeKeyNotFound (deleting a missing key is no error) and EcodeUnauthorized. */
const KEY_NOT_FOUND = 100;
const UNAUTHORIZED = 110;

/** An error answer in etcd's own words (its `message`); a refusal of the credentials (401, 110) is denied. */
function etcdError(res: RegistryResponse, where: string, what: string): BadAnswer {
  const body = answerJson(res);
  const message = isObject(body) ? member(body, "message") : undefined;
  const why =
    typeof message === "string"
      ? `upsync_server ${where} answered http_status: ${res.status} (${message.slice(0, 200)})`
      : statusError(res, where);
  const denied = res.status === 401 || (isObject(body) && member(body, "errorCode") === UNAUTHORIZED);
  return new BadAnswer(`${why} to ${what}`, denied);
}

/** The FolderStore of an etcd v2 directory; `token` is `user:password` or null. */
export function etcd2Store(
  upsync: UpsyncConf,
  token: string | null,
  opts: { timeout: number; signal?: AbortSignal },
): FolderStore {
  const source = describeSource(upsync);
  const dir = etcd2Directory(upsync.path);
  const folder = dir.endsWith("/") ? dir : `${dir}/`;
  const scheme = upsync.scheme ?? "http";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers.Authorization = `Basic ${Buffer.from(token, "utf8").toString("base64")}`;
  const send: SendOptions = { headers, ...opts };
  const turn = new AddressTurn(upsync, source, opts.signal);

  const write = (method: "PUT" | "DELETE", key: string, value: string | null): Promise<void> =>
    turn.run(async (addr, where) => {
      const url = new URL(`${registryOrigin(scheme, addr)}/v2/keys${keyPath(key)}`);
      const form = value === null ? null : new URLSearchParams({ value }).toString();
      const body = form === null ? null : { type: "application/x-www-form-urlencoded", text: form };
      const res = await registrySend(method, url, where, body, send);
      if (res.status === 200 || res.status === 201) return;
      const missing = answerJson(res);
      if (method === "DELETE" && isObject(missing) && member(missing, "errorCode") === KEY_NOT_FOUND) return;
      throw etcdError(res, where, `${method} ${key}`);
    });

  return {
    source,
    folder,
    read: () =>
      turn.run(async (addr, where) => {
        const res = await registrySend("GET", etcd2Url(scheme, addr, upsync.path, null), where, null, send);
        if (res.status === 401) throw etcdError(res, where, `list ${dir}`);
        const step = readEtcd2Listing(res, where);
        if (!("listing" in step)) throw new BadAnswer("error" in step ? step.error : step.reread);
        const { body, indexText } = step.listing;
        const t = translateEtcd2(body, { path: upsync.path, index: indexText, current: [] });
        if ("error" in t) throw new BadAnswer(`${t.error} (upsync_server ${where})`);
        const node = isObject(body) ? member(body, "node") : undefined;
        const nodes = isObject(node) ? member(node, "nodes") : undefined;
        const keys = (Array.isArray(nodes) ? (nodes as unknown[]) : []).flatMap((n) => {
          const k = isObject(n) && member(n, "dir") !== true ? member(n, "key") : undefined;
          return typeof k === "string" ? [k] : [];
        });
        return { keys, servers: t.servers };
      }),
    set: (key, value) => write("PUT", key, value),
    unset: (key) => write("DELETE", key, null),
  };
}
