/**
 * `ctl list` of a Consul catalog upstream (`consul_services`, `consul_health`): one read of the service as the
 * watch loop reads it (same URL, same translation of tags and checks), so the list shows what syncgate applies.
 * Read-only: services register themselves.
 */
import type { UpsyncConf } from "../config/types.js";
import { translateConsulHealth, translateConsulServices } from "../discovery/consul-catalog.js";
import { consulUrl, readAnswer } from "../discovery/consul-source.js";
import { describeSource } from "../discovery/sync.js";
import { AddressTurn, BadAnswer, registrySend } from "./registry-send.js";
import type { RegistryServer } from "./types.js";
import { serverValue } from "./value.js";

/** Lists an upstream without writing it. */
export interface RegistryReader {
  readonly source: string;
  list(): Promise<RegistryServer[]>;
}

/** A reader of the catalog service `upsync` names; `token` goes in X-Consul-Token only. */
export function catalogReader(upsync: UpsyncConf, token: string | null, timeout: number): RegistryReader {
  const source = describeSource(upsync);
  const translate = upsync.type === "consul_health" ? translateConsulHealth : translateConsulServices;
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token !== null) headers["X-Consul-Token"] = token;
  return {
    source,
    list: () =>
      new AddressTurn(upsync, source).run(async (addr, where) => {
        const url = consulUrl(upsync.scheme ?? "http", addr, upsync.path, 0n, 0, false);
        const res = await registrySend("GET", url, where, null, { headers, timeout });
        const answer = readAnswer(res, where);
        if ("error" in answer) throw new BadAnswer(answer.error, res.status === 403 || res.status === 401);
        const snap = translate(answer.body, { path: upsync.path, index: answer.indexText, current: [] });
        if ("error" in snap) throw new BadAnswer(snap.error);
        return snap.servers.map((s) => ({ address: s.address, value: serverValue(s) }));
      }),
  };
}
