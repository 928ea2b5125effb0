/**
 * `type=tcp` (check spec §2.1 step 7): connect, send nothing. The module peeks one byte: data or "nothing yet"
 * is alive, an orderly close (recv = 0) or an error is not. Node has no MSG_PEEK, so the runner waits
 * `settleMs` after connect (and one more poll phase) and fails on a close seen in that window; bytes received
 * first count as alive, as the peek of a waiting byte does. Unlike the module, every probe opens a fresh
 * connection (the fix of its stalled keep-alive, spec §1.3 and §6).
 */
import { incomplete, type ProbeProtocol } from "./types.js";

/** How long a tcp probe watches a fresh connection for an immediate close before calling it alive. */
export const TCP_SETTLE_MS = 20;

const NOTHING = Buffer.alloc(0);

/** `type=tcp`. `check_http_send` is ignored, as the module's peek handler never sends. */
export const tcp: ProbeProtocol = {
  request: () => NOTHING,
  parser: () => (received, ended) => (received.length > 0 ? "alive" : incomplete(ended, "the check settled")),
  settleMs: TCP_SETTLE_MS,
};
