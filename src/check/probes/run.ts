/**
 * One probe over a real socket (check spec §2.1): connect, send the type's bytes, feed what comes back to its
 * parser, and settle once on the verdict, a close, an error, the `timeout` (one timer for connect + send +
 * receive) or an abort. Every probe opens a fresh connection and closes it when judged: `check_keepalive_requests`
 * has no effect. The module keeps http connections only for that option and tcp ones by mistake; reuse is
 * where its stalls came from (yao #90, #144: no re-probe while a kept connection is open), and a fresh
 * connection also proves the listener still accepts. The socket and both timers are gone when the promise
 * resolves; it never rejects.
 */
import { connect, type Socket } from "node:net";
import type { CheckConf } from "../../config/types.js";
import { errnoText } from "../../lib/errors.js";
import { PROBE_PROTOCOLS } from "./registry.js";
import type { ProbeResult } from "./types.js";

/** A verdict must come within this many bytes (a FastCGI record holds at most 65535 + 255 + 8). */
export const MAX_ANSWER = 1 << 20;

// setTimeout takes at most 2^31 - 1 ms and turns larger delays into 1 ms.
const MAX_TIMER = 2 ** 31 - 1;

/** The port a probe dials: `check port=` when set, else the server's own (spec §1.2). */
export function probePort(conf: CheckConf, serverPort: number): number {
  return conf.port > 0 ? conf.port : serverPort;
}

/** How a peer is named in probe messages: `host:port`, IPv6 in brackets (nginx's `check_peer_addr->name`). */
export function probeAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

// Request bytes per configuration: configurations are immutable, and a fastcgi request is built, not constant.
const requests = new WeakMap<CheckConf, Buffer>();

function requestOf(conf: CheckConf): Buffer {
  let bytes = requests.get(conf);
  if (bytes === undefined) {
    bytes = PROBE_PROTOCOLS[conf.type].request(conf);
    requests.set(conf, bytes);
  }
  return bytes;
}

/** nginx's words for a failed system call: `connect() failed (111: Connection refused)`. */
function syscallFailure(err: unknown, connected: boolean): string {
  const syscall = (err as NodeJS.ErrnoException).syscall;
  const call =
    syscall === "write" || syscall === "writev"
      ? "send()"
      : syscall === "read" || (connected && syscall !== "connect")
        ? "recv()"
        : "connect()";
  return `${call} failed ${errnoText(err)}`;
}

/**
 * Probes `host:port` once as `conf.type` says, within `conf.timeout` ms. The caller picks the port (`probePort`). An abort closes the socket at once and resolves as a failure that the caller
 * should not count.
 */
export function runProbe(
  host: string,
  port: number,
  conf: CheckConf,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const addr = probeAddress(host, port);
  const aborted: ProbeResult = { ok: false, reason: `check aborted with peer: ${addr}` };
  if (signal?.aborted) return Promise.resolve(aborted);
  const proto = PROBE_PROTOCOLS[conf.type];
  const parse = proto.parser(conf);
  const request = requestOf(conf);
  const failure = (reason: string, detail?: string): ProbeResult =>
    detail === undefined
      ? { ok: false, reason: `${reason} with peer: ${addr}` }
      : { ok: false, reason: `${reason} with peer: ${addr}`, detail };

  return new Promise<ProbeResult>((resolve) => {
    let socket: Socket | null = null;
    let received: Buffer = Buffer.alloc(0);
    let connected = false;
    let done = false;
    let settle: NodeJS.Timeout | undefined;
    let settleTurn: NodeJS.Immediate | undefined;

    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(settle);
      clearImmediate(settleTurn);
      signal?.removeEventListener("abort", onAbort);
      socket?.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish(aborted);
    // A tcp probe that connected and saw no close is alive even when the timeout ends its settle window.
    const deadline = setTimeout(
      () => {
        finish(connected && proto.settleMs !== undefined ? { ok: true } : failure("check time out"));
      },
      Math.min(conf.timeout, MAX_TIMER),
    );
    signal?.addEventListener("abort", onAbort, { once: true });

    const judge = (ended: boolean): void => {
      if (done) return;
      const verdict = parse(received, false);
      if (verdict === "alive") return finish({ ok: true });
      if (verdict !== "again") return finish(failure(`check protocol ${conf.type} error`, verdict.error));
      if (ended) {
        // The module fails "NGX_AGAIN and the peer closed" silently; the parser says what was missing.
        const why = parse(received, true);
        return finish(
          failure("check connection closed prematurely", typeof why === "object" ? why.error : undefined),
        );
      }
      if (received.length > MAX_ANSWER) {
        finish(failure(`check protocol ${conf.type} error`, `no verdict within ${MAX_ANSWER} bytes`));
      }
    };

    try {
      socket = connect({ host, port, noDelay: true });
    } catch (err) {
      // A port out of range or a bad host throws at once.
      return finish(failure(syscallFailure(err, false)));
    }
    socket.on("connect", () => {
      connected = true;
      if (request.length > 0) socket?.write(request);
      if (proto.settleMs !== undefined) {
        // After the timer, let one poll phase run first, so a close already on the wire is read before we decide.
        settle = setTimeout(() => (settleTurn = setImmediate(() => finish({ ok: true }))), proto.settleMs);
      }
    });
    socket.on("data", (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      judge(false);
    });
    socket.on("end", () => judge(true));
    socket.on("close", () => judge(true));
    socket.on("error", (err) => finish(failure(syscallFailure(err, connected))));
  });
}
