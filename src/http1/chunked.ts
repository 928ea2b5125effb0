/**
 * Streaming decoder of the chunked transfer coding (RFC 9112 §7.1), strict where lenient decoders have let
 * requests be smuggled: hex sizes only (no "0x", no sign, no whitespace around them), CRLF and nothing else
 * after the size line and after each chunk's data, well-formed extensions, trailers as field lines.
 * nginx's ngx_http_parse_chunked() is the model for the states; unlike it, a bare LF is an error.
 */
import { CR, HEX, HTAB, LF, SP, TCHAR, VCLASS } from "./common.js";

const S_SIZE_START = 0;
const S_SIZE = 1;
const S_SIZE_LF = 2;
const S_EXT_PRE_NAME = 3;
const S_EXT_NAME = 4;
const S_EXT_POST_NAME = 5;
const S_EXT_PRE_VALUE = 6;
const S_EXT_TOKEN = 7;
const S_EXT_QUOTED = 8;
const S_EXT_QUOTED_PAIR = 9;
const S_EXT_QUOTE_END = 10;
const S_EXT_POST_VALUE = 11;
const S_DATA = 12;
const S_DATA_CR = 13;
const S_DATA_LF = 14;
const S_TR_START = 15;
const S_TR_NAME = 16;
const S_TR_VALUE = 17;
const S_TR_LF = 18;
const S_TR_END_LF = 19;
const S_DONE = 20;

const ERR_SIZE = "invalid chunk size";
const ERR_SIZE_BIG = "chunk size too large";
const ERR_EXT = "invalid chunk extension";
const ERR_LINE_LONG = "chunk size line too long";
const ERR_EOL = "invalid line ending in chunked body";
const ERR_DATA_END = "no CRLF after chunk data";
const ERR_TRAILER = "invalid trailer line";
const ERR_TRAILER_BIG = "trailer section too large";

/** Default for `maxTrailer`: bytes of trailer field lines (nginx has no separate limit; a client buffer). */
export const DEFAULT_MAX_TRAILER = 8192;
/** Default for `maxLine`: bytes of a chunk-size line with extensions and CRLF (bounds extension abuse). */
export const DEFAULT_MAX_CHUNK_LINE = 4096;

/** Result of one ChunkedDecoder.feed() call. */
export type ChunkedFeed = { consumed: number; done: boolean } | { error: string };

/**
 * Streaming validator/decoder of a chunked body. feed() walks buf[start:end); onData gets each slice of
 * payload bytes. Errors are short stable phrases ("invalid chunk size", "chunk size too large",
 * "invalid chunk extension", "chunk size line too long", "invalid line ending in chunked body",
 * "no CRLF after chunk data", "invalid trailer line", "trailer section too large"); the caller logs them
 * after nginx's `client sent invalid chunked body` / `upstream sent invalid chunked response`.
 */
export class ChunkedDecoder {
  private state = S_SIZE_START;
  /** Size being read, then the payload bytes left in the current chunk. */
  private size = 0;
  /** Significant hex digits of the size so far (leading zeros do not count). */
  private digits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private error: string | null = null;
  private readonly maxTrailer: number;
  private readonly maxLine: number;

  constructor(limits?: { maxTrailer?: number; maxLine?: number }) {
    this.maxTrailer = limits?.maxTrailer ?? DEFAULT_MAX_TRAILER;
    this.maxLine = limits?.maxLine ?? DEFAULT_MAX_CHUNK_LINE;
  }

  /** Makes the decoder ready for a new body. */
  reset(): void {
    this.state = S_SIZE_START;
    this.size = this.digits = this.lineBytes = this.trailerBytes = 0;
    this.error = null;
  }

  /**
   * Consumes buf[start:end). Until done, all bytes are consumed; when done, `consumed` stops after the final
   * CRLF (pipelined bytes follow). After done or an error, further calls repeat that outcome until reset().
   * onData gets slices of `buf` itself (copy them to keep them) and must not throw.
   */
  feed(
    buf: Buffer,
    start: number,
    end: number,
    onData?: (buf: Buffer, start: number, end: number) => void,
  ): ChunkedFeed {
    if (this.error !== null) return { error: this.error };
    if (this.state === S_DONE) return { consumed: 0, done: true };
    let state = this.state;
    let p = start;
    while (p < end) {
      if (state === S_DATA) {
        const take = this.size < end - p ? this.size : end - p;
        if (onData !== undefined) onData(buf, p, p + take);
        p += take;
        this.size -= take;
        if (this.size === 0) state = S_DATA_CR;
        continue;
      }
      const c = buf[p++]!;
      if (state <= S_EXT_POST_VALUE && ++this.lineBytes > this.maxLine) return this.fail(ERR_LINE_LONG);
      if (state >= S_TR_START && !(state === S_TR_START && c === CR) && state !== S_TR_END_LF) {
        if (++this.trailerBytes > this.maxTrailer) return this.fail(ERR_TRAILER_BIG);
      }
      switch (state) {
        case S_SIZE_START:
          if (HEX[c]! < 0) return this.fail(ERR_SIZE);
          this.size = HEX[c]!;
          this.digits = this.size > 0 ? 1 : 0;
          state = S_SIZE;
          break;
        case S_SIZE:
          if (HEX[c]! >= 0) {
            if (this.digits > 0 || HEX[c]! > 0) this.digits++;
            this.size = this.size * 16 + HEX[c]!;
            // More than 15 significant hex digits, or past 2^53-1: refuse rather than wrap.
            if (this.digits > 15 || this.size > Number.MAX_SAFE_INTEGER) return this.fail(ERR_SIZE_BIG);
          } else if (c === CR) state = S_SIZE_LF;
          else if (c === 0x3b) state = S_EXT_PRE_NAME;
          else return this.fail(c === LF ? ERR_EOL : ERR_SIZE);
          break;
        case S_SIZE_LF:
          if (c !== LF) return this.fail(ERR_EOL);
          state = this.size === 0 ? S_TR_START : S_DATA;
          this.lineBytes = 0;
          break;
        default:
          state = this.step(state, c);
          if (state < 0) return { error: this.error! };
          if (state === S_DONE) {
            this.state = S_DONE;
            return { consumed: p - start, done: true };
          }
      }
    }
    this.state = state;
    return { consumed: end - start, done: false };
  }

  /** Extension, data-end and trailer states; returns the next state or -1 after fail(). */
  private step(state: number, c: number): number {
    switch (state) {
      // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string
      // (RFC 9112 §7.1.1). No BWS between the size and the first ";": that is whitespace after the size.
      case S_EXT_PRE_NAME:
        if (c === SP || c === HTAB) return state;
        return TCHAR[c] === 1 ? S_EXT_NAME : this.bad(c);
      case S_EXT_NAME:
      case S_EXT_TOKEN:
        return TCHAR[c] === 1 ? state : this.afterExt(state, c);
      case S_EXT_PRE_VALUE:
        if (c === SP || c === HTAB) return state;
        if (c === 0x22) return S_EXT_QUOTED;
        return TCHAR[c] === 1 ? S_EXT_TOKEN : this.bad(c);
      case S_EXT_QUOTED:
        // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4)
        if (c === 0x22) return S_EXT_QUOTE_END;
        if (c === 0x5c) return S_EXT_QUOTED_PAIR;
        return VCLASS[c] !== 0 ? state : this.bad(c);
      case S_EXT_QUOTED_PAIR:
        return VCLASS[c] !== 0 ? S_EXT_QUOTED : this.bad(c);
      case S_EXT_POST_NAME:
      case S_EXT_QUOTE_END:
      case S_EXT_POST_VALUE:
        return this.afterExt(state, c);
      case S_DATA_CR:
        return c === CR ? S_DATA_LF : this.failed(ERR_DATA_END);
      case S_DATA_LF:
        if (c !== LF) return this.failed(ERR_DATA_END);
        this.lineBytes = 0;
        return S_SIZE_START;
      // trailer-section = *( field-line CRLF ), checked like header lines and dropped.
      case S_TR_START:
        if (c === CR) return S_TR_END_LF;
        return TCHAR[c] === 1 ? S_TR_NAME : this.failed(ERR_TRAILER);
      case S_TR_NAME:
        if (TCHAR[c] === 1) return state;
        return c === 0x3a ? S_TR_VALUE : this.failed(ERR_TRAILER);
      case S_TR_VALUE:
        if (VCLASS[c] !== 0) return state;
        return c === CR ? S_TR_LF : this.failed(ERR_TRAILER);
      case S_TR_LF:
        return c === LF ? S_TR_START : this.failed(ERR_EOL);
      default: // S_TR_END_LF
        return c === LF ? S_DONE : this.failed(ERR_EOL);
    }
  }

  /**
   * After an extension name or value, or in the BWS after one: more BWS, "=" (after a name), ";", or the
   * line's CR, which BWS may not precede (BWS only stands before ";" or "=").
   */
  private afterExt(state: number, c: number): number {
    const afterName = state === S_EXT_NAME || state === S_EXT_POST_NAME;
    if (c === SP || c === HTAB) return afterName ? S_EXT_POST_NAME : S_EXT_POST_VALUE;
    if (c === 0x3b) return S_EXT_PRE_NAME;
    if (c === 0x3d && afterName) return S_EXT_PRE_VALUE;
    if (c === CR && state !== S_EXT_POST_NAME && state !== S_EXT_POST_VALUE) return S_SIZE_LF;
    return this.bad(c);
  }

  private bad(c: number): number {
    return this.failed(c === LF ? ERR_EOL : ERR_EXT);
  }

  private failed(error: string): number {
    this.error = error;
    return -1;
  }

  private fail(error: string): { error: string } {
    this.error = error;
    return { error };
  }
}
