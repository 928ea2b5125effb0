/**
 * The request body as it arrives from the client: framed by Content-Length or chunked (passed through raw,
 * validated on the way), counted against `client_max_body_size`, and kept for a retry while it is small.
 */
import { ChunkedDecoder } from "../http1/chunked.js";

/** Largest body kept in memory so the request can be sent again to the next server. */
export const REPLAY_LIMIT = 64 * 1024;

/** Result of feeding client bytes: body bytes to forward, bytes past the body, and state. */
export interface BodyFeed {
  /** Raw body bytes to forward upstream (chunked framing kept). */
  body: Buffer | null;
  /** Bytes after the end of the body (a pipelined request). */
  rest: Buffer | null;
  error: "invalid" | "too-large" | null;
}

/** Tracks one request body. */
export class RequestBody {
  done: boolean;
  received = 0;
  private left: number;
  private readonly decoder: ChunkedDecoder | null;
  private decoded = 0;
  /** The body so far while it stays under REPLAY_LIMIT; null once it has outgrown it. */
  replay: Buffer[] | null = [];
  private replayBytes = 0;

  constructor(
    readonly framing: "none" | "length" | "chunked",
    length: number,
    private readonly maxSize: number,
  ) {
    this.left = framing === "length" ? length : 0;
    this.done = framing === "none" || (framing === "length" && length === 0);
    this.decoder = framing === "chunked" ? new ChunkedDecoder() : null;
  }

  /** Consumes client bytes. */
  feed(chunk: Buffer): BodyFeed {
    if (this.done) return { body: null, rest: chunk.length ? chunk : null, error: null };
    let used: number;
    if (this.decoder) {
      const r = this.decoder.feed(chunk, 0, chunk.length, (_b, s, e) => {
        this.decoded += e - s;
      });
      if ("error" in r) return { body: null, rest: null, error: "invalid" };
      if (this.maxSize > 0 && this.decoded > this.maxSize)
        return { body: null, rest: null, error: "too-large" };
      used = r.consumed;
      if (r.done) this.done = true;
    } else {
      used = Math.min(this.left, chunk.length);
      this.left -= used;
      if (this.left === 0) this.done = true;
    }
    this.received += used;
    const body = used === chunk.length ? chunk : chunk.subarray(0, used);
    if (this.replay) {
      this.replayBytes += used;
      if (this.replayBytes > REPLAY_LIMIT) this.replay = null;
      else if (used > 0) this.replay.push(body);
    }
    return {
      body: used > 0 ? body : null,
      rest: used < chunk.length ? chunk.subarray(used) : null,
      error: null,
    };
  }
}
