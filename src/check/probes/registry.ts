/** The check types by name (spec §2.0): each one's request bytes and parser. */
import type { CheckConf, CheckType } from "../../config/types.js";
import { ajp } from "./ajp.js";
import { fastcgi } from "./fastcgi.js";
import { http } from "./http.js";
import { mysql } from "./mysql.js";
import { sslHello } from "./ssl-hello.js";
import { tcp } from "./tcp.js";
import type { ProbeParser, ProbeProtocol } from "./types.js";

/** Every check type's protocol, by its `check type=` name. */
export const PROBE_PROTOCOLS: Readonly<Record<CheckType, ProbeProtocol>> = {
  tcp,
  http,
  ssl_hello: sslHello,
  mysql,
  ajp,
  fastcgi,
};

/** The bytes a probe of `conf` sends once connected (empty for tcp and, by default, mysql). */
export function probeRequest(conf: CheckConf): Buffer {
  return PROBE_PROTOCOLS[conf.type].request(conf);
}

/** The parser that judges a probe of `conf`. */
export function probeParser(conf: CheckConf): ProbeParser {
  return PROBE_PROTOCOLS[conf.type].parser(conf);
}
