/**
 * CRC-32 (IEEE 802.3, as nginx's ngx_crc32_* and zlib), over the UTF-8 bytes of a string. Node has
 * zlib.crc32 from 20.15 / 22.2; older Node 20 releases get the table version below.
 */
import zlib from "node:zlib";

/** CRC-32 of data, continuing from the CRC of the bytes before it (`value`, 0 to start). */
export type Crc32 = (data: string | Uint8Array, value?: number) => number;

let table: Uint32Array | null = null;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** The portable CRC-32 (same results as zlib.crc32); used when Node lacks it. */
export const crc32Portable: Crc32 = (data, value = 0) => {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const t = (table ??= makeTable());
  let c = ~value >>> 0;
  for (const b of bytes) c = t[(c ^ b) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
};

const native = (zlib as { crc32?: Crc32 }).crc32;

/** CRC-32, native when Node has it. */
export const crc32: Crc32 = typeof native === "function" ? native : crc32Portable;
