/**
 * `type=mysql` (check spec §2.5): send nothing, wait for 5 bytes of the server's first packet and require its
 * sequence id (byte 3) to be 0. Only that byte is read, so an error packet (`ff …`, e.g. "Host is not allowed")
 * with sequence 0 counts as alive, as the module.
 */
import type { CheckConf } from "../../config/types.js";
import { incomplete, type ProbeProtocol } from "./types.js";

/** `sizeof(ngx_mysql_handshake_init_t)` as the module reads it: length[3], sequence id, protocol version. */
export const MYSQL_GREETING_SIZE = 5;

const NOTHING = Buffer.alloc(0);

/** `type=mysql`; a `check_http_send` would be sent, as in yao. */
export const mysql: ProbeProtocol = {
  request: (conf: CheckConf) => (conf.send === null ? NOTHING : Buffer.from(conf.send, "latin1")),
  parser: () => (received, ended) => {
    if (received.length < MYSQL_GREETING_SIZE) return incomplete(ended, `${MYSQL_GREETING_SIZE} bytes`);
    if (received[3] !== 0) return { error: `greeting sequence id ${received[3]} is not 0` };
    return "alive";
  },
};
