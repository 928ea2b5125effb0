/**
 * etcd v3 (`upsync_type=etcd3`) as a control target through its JSON gateway
 * (https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/): a range over the key prefix to list,
 * `POST /v3/kv/put {key, value}` (base64) to add or change, `POST /v3/kv/deleterange {key}` to remove. A
 * `user:password` token is exchanged at `/v3/auth/authenticate` for the `Authorization` header before each request
 * (a few more requests, no token expiry to track: simple tokens last 5 minutes).
 */
import type { UpsyncAddress, UpsyncConf } from "../config/types.js";
import { etcd3AuthBody, etcd3Prefix, translateEtcd3 } from "../discovery/etcd3.js";
import { etcd3Requests } from "../discovery/etcd3-source.js";
import { registryOrigin, type RegistryResponse, statusError } from "../discovery/registry-http.js";
import { decodeBase64, isObject } from "../discovery/server-entry.js";
import { describeSource } from "../discovery/sync.js";
import type { FolderStore } from "./registry-folder.js";
import { AddressTurn, answerJson, BadAnswer, registrySend, type SendOptions } from "./registry-send.js";

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");

/** etcd's refusals of the credentials that the gateway answers as InvalidArgument (HTTP 400), not 401. */
const REFUSED = /etcdserver: (?:user name is empty|authentication failed|permission denied)/;

/**
 * The JSON object of a 200 answer; else a BadAnswer in the gateway's words (`{"error","code","message"}`). gRPC's
 * Unauthenticated (HTTP 401), PermissionDenied (403) and the refusals above are denied: the credentials are wrong.
 */
function gatewayJson(res: RegistryResponse, where: string, what: string): Record<string, unknown> {
  const o = answerJson(res);
  if (res.status === 200 && isObject(o)) return o;
  if (res.status === 200) {
    throw new BadAnswer(`upsync_parse_json: root error in the answer of upsync_server ${where}`);
  }
  const message = isObject(o) && typeof o.message === "string" ? o.message.slice(0, 200) : null;
  const why =
    message === null
      ? statusError(res, where)
      : `upsync_server ${where} answered http_status: ${res.status} (${message})`;
  const denied = res.status === 401 || res.status === 403 || REFUSED.test(message ?? "");
  throw new BadAnswer(`${why} to ${what}`, denied);
}

/** The FolderStore of an etcd v3 key prefix; `token` is `user:password` or null. */
export function etcd3Store(
  upsync: UpsyncConf,
  token: string | null,
  opts: { timeout: number; signal?: AbortSignal },
): FolderStore {
  const source = describeSource(upsync);
  const folder = etcd3Prefix(upsync.path);
  const scheme = upsync.scheme ?? "http";
  const turn = new AddressTurn(upsync, source, opts.signal);

  /** POSTs the JSON `body` to `path` at `addr` (authenticating first when a token is set); the answer's JSON. */
  const post = async (addr: UpsyncAddress, where: string, path: string, body: string, what: string) => {
    const base = registryOrigin(scheme, addr);
    const headers: Record<string, string> = { Accept: "application/json" };
    if (token) headers.Authorization = await authenticate(base, where, token, { headers, ...opts });
    const json = { type: "application/json", text: body };
    const res = await registrySend("POST", new URL(`${base}${path}`), where, json, { ...opts, headers });
    return gatewayJson(res, where, what);
  };

  return {
    source,
    folder,
    read: () =>
      turn.run(async (addr, where) => {
        const range = etcd3Requests(folder, 0n).range;
        const got = await post(addr, where, "/v3/kv/range", range, `list ${folder}`);
        const t = translateEtcd3(got, { path: upsync.path, index: "", current: [] });
        if ("error" in t) throw new BadAnswer(`${t.error} (upsync_server ${where})`);
        const kvs: unknown[] = Array.isArray(got.kvs) ? got.kvs : [];
        const keys = kvs.flatMap((kv) => {
          const k = isObject(kv) && typeof kv.key === "string" ? decodeBase64(kv.key) : null;
          return k === null ? [] : [k];
        });
        return { keys, servers: t.servers };
      }),
    set: (key, value) =>
      turn.run(async (addr, where) => {
        const put = JSON.stringify({ key: b64(key), value: b64(value) });
        await post(addr, where, "/v3/kv/put", put, `put ${key}`);
      }),
    unset: (key) =>
      turn.run(async (addr, where) => {
        await post(addr, where, "/v3/kv/deleterange", JSON.stringify({ key: b64(key) }), `delete ${key}`);
      }),
  };
}

/** `user:password` → the gateway's token; a refusal is denied, and the password never reaches a message. */
async function authenticate(base: string, where: string, token: string, send: SendOptions): Promise<string> {
  const body = { type: "application/json", text: etcd3AuthBody(token) };
  const res = await registrySend("POST", new URL(`${base}/v3/auth/authenticate`), where, body, send);
  const got = gatewayJson(res, where, "authenticate");
  if (typeof got.token !== "string" || got.token === "") {
    throw new BadAnswer(`upsync_server ${where} answered an authentication without a token`);
  }
  return got.token;
}
