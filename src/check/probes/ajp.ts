/**
 * `type=ajp` (check spec §2.7): send a CPING and require the first 5 bytes back to be exactly a CPONG.
 */
import type { CheckConf } from "../../config/types.js";
import { incomplete, type ProbeProtocol } from "./types.js";

/** AJP13 CPING: magic 0x1234, length 1, type 10 (the module's 5 bytes, without the array's trailing NUL). */
export const AJP_CPING: Buffer = Buffer.from([0x12, 0x34, 0x00, 0x01, 0x0a]);

/** AJP13 CPONG: "AB", length 1, type 9. */
export const AJP_CPONG: Buffer = Buffer.from([0x41, 0x42, 0x00, 0x01, 0x09]);

/** `type=ajp`; `check_http_send` replaces the CPING, as in yao. */
export const ajp: ProbeProtocol = {
  request: (conf: CheckConf) => (conf.send === null ? AJP_CPING : Buffer.from(conf.send, "latin1")),
  parser: () => (received, ended) => {
    if (received.length < AJP_CPONG.length) return incomplete(ended, `${AJP_CPONG.length} bytes`);
    if (!received.subarray(0, AJP_CPONG.length).equals(AJP_CPONG)) {
      return { error: `answer ${received.subarray(0, AJP_CPONG.length).toString("hex")} is not a CPONG` };
    }
    return "alive";
  },
};
