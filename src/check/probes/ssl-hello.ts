/**
 * `type=ssl_hello` (check spec §2.4): send the module's fixed TLS 1.2 ClientHello and call the peer alive when
 * its first 47 bytes start a handshake record (0x16) holding a ServerHello (0x02). Versions and lengths are not
 * checked, as the module.
 */
import type { CheckConf } from "../../config/types.js";
import { incomplete, type ProbeProtocol } from "./types.js";

const HEX = [
  "16 03 01 00 6f", // record: handshake, TLS 1.0, length 111
  "01 00 00 6b", // ClientHello, length 107
  "03 03", // client_version TLS 1.2
  "00 00 00 00", // gmt_unix_time: zeros (the module never fills it)
  Buffer.from("NGX_HTTP_CHECK_SSL_HELLO\n\n\n\n", "latin1").toString("hex"), // random (28)
  "00", // session id length
  "00 1a c0 2b c0 2f cc a9 cc a8 c0 0a c0 09 c0 13 c0 14 00 33 00 39 00 2f 00 35 00 0a", // 13 cipher suites
  "01 00", // compression: null
  "00 28", // extensions length 40
  "00 0a 00 08 00 06 00 17 00 18 00 19", // supported_groups: secp256r1, secp384r1, secp521r1
  "00 0d 00 18 00 16 04 01 05 01 06 01 02 01 04 03 05 03 06 03 02 03 05 02 04 02 02 02", // signature_algorithms
].join("");

/** The module's 116-byte ClientHello (yao ≥ PR #111): no SNI, no TLS 1.3 `supported_versions`. */
export const SSL_HELLO: Buffer = Buffer.from(HEX.replace(/ /g, ""), "hex");

/** `sizeof(ngx_ssl_server_hello_t)` on LP64: the module waits for this many bytes before it judges. */
export const SERVER_HELLO_SIZE = 47;

/** `type=ssl_hello`; `check_http_send` replaces the ClientHello, as in yao. */
export const sslHello: ProbeProtocol = {
  request: (conf: CheckConf) => (conf.send === null ? SSL_HELLO : Buffer.from(conf.send, "latin1")),
  parser: () => (received, ended) => {
    if (received.length < SERVER_HELLO_SIZE) return incomplete(ended, `${SERVER_HELLO_SIZE} bytes`);
    if (received[0] !== 0x16) return { error: `record type ${received[0]} is not a handshake (22)` };
    if (received[5] !== 0x02) return { error: `handshake type ${received[5]} is not a ServerHello (2)` };
    return "alive";
  },
};
