/**
 * Consul KV (`upsync_type=consul`) as a control target, with the calls of upsync spec §2.5: `GET <folder>?recurse`
 * to list, `PUT /v1/kv/<folder><ip:port>` with the JSON value to add or change, `DELETE` to remove — each answered
 * `true` (https://developer.hashicorp.com/consul/api-docs/kv). The ACL token goes as `X-Consul-Token`.
 */
import type { UpsyncConf } from "../config/types.js";
import { consulKvFolder, translateConsulKv } from "../discovery/consul-kv.js";
import { consulUrl, readAnswer } from "../discovery/consul-source.js";
import type { RegistryResponse } from "../discovery/registry-http.js";
import { isObject, member } from "../discovery/server-entry.js";
import { describeSource } from "../discovery/sync.js";
import { AddressTurn, BadAnswer, registrySend, type SendOptions } from "./registry-send.js";
import { type FolderStore, keyPath } from "./registry-folder.js";

/** Consul's ACL refusals (403 "Permission denied", "ACL not found"; 401 behind some proxies). */
function denied(res: RegistryResponse, where: string): BadAnswer | null {
  if (res.status !== 401 && res.status !== 403) return null;
  const said = res.body.toString("utf8", 0, 200).split(/\r?\n/)[0]?.trim() ?? "";
  return new BadAnswer(
    `upsync_server ${where} refused the ACL token: http_status ${res.status} (${said})`,
    true,
  );
}

/** The FolderStore of a Consul KV folder; `timeout` bounds each request, `token` is the ACL token or null. */
export function consulStore(
  upsync: UpsyncConf,
  token: string | null,
  opts: { timeout: number; signal?: AbortSignal },
): FolderStore {
  const source = describeSource(upsync);
  const folder = consulKvFolder(upsync.path);
  const scheme = upsync.scheme ?? "http";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers["X-Consul-Token"] = token;
  const send: SendOptions = { headers, ...opts };
  const turn = new AddressTurn(upsync, source, opts.signal);
  // The path's own query (`dc=`, ...) applies to writes too; consulUrl drops recurse/index/wait.
  const q = upsync.path.indexOf("?");
  const query = q < 0 ? "" : upsync.path.slice(q);

  const write = (method: "PUT" | "DELETE", key: string, value: string | null): Promise<void> =>
    turn.run(async (addr, where) => {
      const url = consulUrl(scheme, addr, `/v1/kv/${keyPath(key)}${query}`, 0n, 0, false);
      if (url.search === "") url.search = "";
      const body = value === null ? null : { type: "application/json", text: value };
      const res = await registrySend(method, url, where, body, send);
      const refused = denied(res, where);
      if (refused) throw refused;
      const said = res.body.toString("utf8").trim();
      if (res.status !== 200 || said !== "true") {
        const what =
          res.status === 200 ? `answered ${said.slice(0, 100) || "nothing"}` : `http_status ${res.status}`;
        throw new BadAnswer(`upsync_server ${where} ${what} to ${method} ${key} (Consul answers true)`);
      }
    });

  return {
    source,
    folder,
    read: () =>
      turn.run(async (addr, where) => {
        const res = await registrySend("GET", consulUrl(scheme, addr, upsync.path, 0n, 0), where, null, send);
        const refused = denied(res, where);
        if (refused) throw refused;
        const answer = readAnswer(res, where);
        if ("error" in answer) throw new BadAnswer(answer.error);
        const t = translateConsulKv(answer.body, { path: upsync.path, index: answer.indexText, current: [] });
        if ("error" in t) throw new BadAnswer(`${t.error} (upsync_server ${where})`);
        const entries: unknown[] = Array.isArray(answer.body) ? answer.body : [];
        const keys = entries.flatMap((e) => {
          const k = isObject(e) ? member(e, "Key") : undefined;
          return typeof k === "string" ? [k] : [];
        });
        return { keys, servers: t.servers };
      }),
    set: (key, value) => write("PUT", key, value),
    unset: (key) => write("DELETE", key, null),
  };
}
