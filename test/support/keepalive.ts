/**
 * Clients that hold persistent keep-alive connections and never retry: where `nginx -s reload` loses requests
 * (an old worker closes an idle connection just as the client sends on it), so where a reload or a worker's death
 * must be counted. A request fails when its connection errs or closes before the whole response arrived, or when
 * the status is not 200; a connection closed by the server while idle, without a "Connection: close" answer
 * before, is counted apart (syncgate never does that before the idle timeout).
 */
import { connect, type Socket } from "node:net";

/** One answer. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The first whole answer in `buf` (body by Content-Length or chunked) and the bytes after it; null until then. */
export function takeAnswer(buf: Buffer): { answer: Answer; rest: Buffer } | null {
  const end = buf.indexOf("\r\n\r\n");
  if (end === -1) return null;
  const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  if ((headers["transfer-encoding"] ?? "").toLowerCase() === "chunked") {
    const chunked = dechunk(buf, end + 4);
    if (!chunked) return null;
    return { answer: { status, headers, body: chunked.body }, rest: buf.subarray(chunked.next) };
  }
  const length = Number(headers["content-length"] ?? "0");
  if (buf.length < end + 4 + length) return null;
  const body = buf.subarray(end + 4, end + 4 + length).toString("utf8");
  return { answer: { status, headers, body }, rest: buf.subarray(end + 4 + length) };
}

/** One persistent connection; `get` sends the next request when the previous one was answered. */
export class KeepAliveClient {
  private socket: Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private pending: { resolve: (a: Answer) => void; reject: (e: Error) => void } | null = null;
  /** Set after an answer that said "Connection: close": the next request opens a new connection. */
  private closeAfter = false;
  /** Connections the server closed while idle without saying "Connection: close" first. */
  unexpectedCloses = 0;
  /** Connections opened (the first, and one after each "Connection: close"). */
  opened = 0;

  constructor(
    readonly port: number,
    readonly host = "127.0.0.1",
  ) {}

  get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
    if (this.pending) return Promise.reject(new Error("one request at a time"));
    if (this.closeAfter) {
      this.socket?.destroy();
      this.socket = null;
      this.closeAfter = false;
    }
    const s = this.socket ?? this.open();
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      s.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private open(): Socket {
    const s = connect(this.port, this.host);
    this.opened++;
    this.socket = s;
    this.buf = Buffer.alloc(0);
    s.setNoDelay(true);
    s.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    const gone = (why: string): void => {
      if (this.socket !== s) return;
      this.socket = null;
      const p = this.pending;
      this.pending = null;
      if (p) p.reject(new Error(why));
      else if (!this.closeAfter) this.unexpectedCloses++;
    };
    s.on("error", (err: NodeJS.ErrnoException) => gone(err.code ?? err.message));
    s.on("close", () => gone("connection closed before the whole response"));
    return s;
  }

  private parse(): void {
    if (!this.pending) return;
    const whole = takeAnswer(this.buf);
    if (!whole) return;
    this.buf = whole.rest;
    if ((whole.answer.headers["connection"] ?? "").toLowerCase() === "close") this.closeAfter = true;
    const p = this.pending;
    this.pending = null;
    p.resolve(whole.answer);
  }
}

/** A chunked body starting at `at` (no trailers), or null while incomplete. */
function dechunk(buf: Buffer, at: number): { body: string; next: number } | null {
  const parts: Buffer[] = [];
  let i = at;
  for (;;) {
    const eol = buf.indexOf("\r\n", i);
    if (eol === -1) return null;
    const size = parseInt(buf.subarray(i, eol).toString("latin1"), 16);
    if (Number.isNaN(size)) throw new Error("bad chunk size");
    if (buf.length < eol + 2 + size + 2) return null;
    if (size === 0) return { body: Buffer.concat(parts).toString("utf8"), next: eol + 4 };
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

/** What a load run saw. */
export interface LoadResult {
  ok: number;
  failed: number;
  /** The first few failures, for the assertion message. */
  errors: string[];
  unexpectedCloses: number;
  /** Answers by body. */
  bodies: Map<string, number>;
  /** Per connection: the body of its last successful answer, and whether its last request failed. */
  last: { body: string | null; failed: boolean }[];
  /** Every failure: the client connection, and the last answer its (now failed) socket had given. */
  failures: { conn: number; lastBody: string | null }[];
}

/**
 * Drives `conns` keep-alive connections, each sending `path` one request after another until `done()` says so
 * (checked before each request) or `maxRequests` were sent in all; a failed request is counted, not retried.
 */
export async function driveLoad(opts: {
  port: number;
  conns: number;
  path: string | ((i: number) => string);
  done: () => boolean;
  maxRequests: number;
  headers?: Record<string, string>;
}): Promise<LoadResult> {
  const r: LoadResult = {
    ok: 0,
    failed: 0,
    errors: [],
    unexpectedCloses: 0,
    bodies: new Map(),
    last: [],
    failures: [],
  };
  let sent = 0;
  const one = async (c: number): Promise<void> => {
    const client = new KeepAliveClient(opts.port);
    const mine = { body: null as string | null, failed: false };
    r.last[c] = mine;
    let i = 0;
    while (!opts.done() && sent < opts.maxRequests) {
      sent++;
      const path = typeof opts.path === "string" ? opts.path : opts.path(i++);
      try {
        const a = await client.get(path, opts.headers);
        if (a.status !== 200) throw new Error(`status ${a.status}: ${a.body.slice(0, 80)}`);
        r.ok++;
        r.bodies.set(a.body, (r.bodies.get(a.body) ?? 0) + 1);
        mine.body = a.body;
        mine.failed = false;
      } catch (err) {
        r.failed++;
        r.failures.push({ conn: c, lastBody: mine.body });
        mine.failed = true;
        // The next request goes out on a new connection.
        mine.body = null;
        if (r.errors.length < 5) r.errors.push(`connection ${c}: ${(err as Error).message}`);
      }
    }
    r.unexpectedCloses += client.unexpectedCloses;
    client.close();
  };
  await Promise.all(Array.from({ length: opts.conns }, (_, c) => one(c)));
  return r;
}
