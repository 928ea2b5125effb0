/**
 * Host names in `listen`: nginx resolves them when it starts and binds every address the name has
 * (ngx_http_core_listen → ngx_parse_url), so `listen localhost:8080` serves on 127.0.0.1:8080 and the
 * connection finds its servers by the address it arrived on.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { ListenConf, ServerConf } from "../config/types.js";
import { configError } from "../lib/errors.js";

const isAddress = (l: ListenConf): boolean => l.host === "*" || isIP(l.host) !== 0;

/** `servers` with each host name in `listen` replaced by its addresses; servers without one are returned as is. */
export async function resolveListenNames(servers: ServerConf[]): Promise<ServerConf[]> {
  const out: ServerConf[] = [];
  for (const s of servers) {
    if (s.listen.every(isAddress)) {
      out.push(s);
      continue;
    }
    const listen: ListenConf[] = [];
    for (const l of s.listen) {
      if (isAddress(l)) {
        listen.push(l);
        continue;
      }
      let addrs: { address: string; family: number }[];
      try {
        addrs = await lookup(l.host, { all: true });
      } catch {
        throw configError(`host not found in "${l.host}:${l.port}" of the "listen" directive`, l.origin);
      }
      for (const a of addrs) listen.push({ ...l, host: a.address, ipv6: a.family === 6 });
    }
    out.push({ ...s, listen });
  }
  return out;
}
