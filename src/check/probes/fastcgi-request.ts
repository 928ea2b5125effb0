/**
 * The FastCGI probe request (check spec §2.6): BEGIN_REQUEST (responder, no keep-conn), the params, an empty
 * PARAMS record and an empty STDIN record. Two fixes over the module, whose bytes are otherwise kept: the last
 * 8 bytes are a real empty STDIN record (the module leaves them unwritten), and a key longer than 127 bytes is
 * counted with its 4-byte length (the module always counts 1).
 */

/** The module's `fastcgi_default_params`, used when the upstream has no `check_fastcgi_param`. */
export const FASTCGI_DEFAULT_PARAMS: readonly (readonly [string, string])[] = [
  ["REQUEST_METHOD", "GET"],
  ["REQUEST_URI", "/"],
  ["SCRIPT_FILENAME", "index.php"],
];

/** FastCGI record types (FastCGI 1.0 spec §8). */
export const FCGI = { BEGIN_REQUEST: 1, END_REQUEST: 3, PARAMS: 4, STDIN: 5, STDOUT: 6, STDERR: 7 } as const;

/** The largest content of one record that keeps 8-byte alignment (a record holds at most 65535 bytes). */
const MAX_CONTENT = 65528;

/** An 8-byte record header for request id 1. */
export function recordHeader(type: number, length: number, padding = 0): Buffer {
  return Buffer.from([1, type, 0, 1, length >> 8, length & 0xff, padding, 0]);
}

/** A name-value length: 1 byte up to 127, else 4 bytes big-endian with the top bit set. */
function pairLength(n: number): Buffer {
  if (n <= 127) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

/** One name-value pair as FastCGI encodes it (names and values as UTF-8, the bytes of the config file). */
export function encodePair(name: string, value: string): Buffer {
  const k = Buffer.from(name, "utf8");
  const v = Buffer.from(value, "utf8");
  return Buffer.concat([pairLength(k.length), pairLength(v.length), k, v]);
}

/** The whole probe request for `params` (the defaults when empty). */
export function fastcgiRequest(params: readonly (readonly [string, string])[]): Buffer {
  const pairs = Buffer.concat(
    (params.length > 0 ? params : FASTCGI_DEFAULT_PARAMS).map(([k, v]) => encodePair(k, v)),
  );
  const parts: Buffer[] = [recordHeader(FCGI.BEGIN_REQUEST, 8), Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])];
  // The module writes one PARAMS record; content over 65535 bytes needs several (FastCGI spec §3.3).
  for (let at = 0; at < pairs.length; at += MAX_CONTENT) {
    const chunk = pairs.subarray(at, at + MAX_CONTENT);
    const padding = (8 - (chunk.length % 8)) % 8;
    parts.push(recordHeader(FCGI.PARAMS, chunk.length, padding), chunk, Buffer.alloc(padding));
  }
  parts.push(recordHeader(FCGI.PARAMS, 0), recordHeader(FCGI.STDIN, 0));
  return Buffer.concat(parts);
}
