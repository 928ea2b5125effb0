/** Lookups in flat header arrays ([name, value, name, value, ...]), case-insensitive, without allocating. */

/** Whether two ASCII header names are equal ignoring case; `lower` must already be lower case. */
export function nameIs(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The first value of header `lower`, or null. */
export function getHeader(headers: readonly string[], lower: string): string | null {
  for (let i = 0; i < headers.length; i += 2) if (nameIs(headers[i]!, lower)) return headers[i + 1]!;
  return null;
}

/** Every value of header `lower`, joined as nginx joins repeated headers (cookies with "; ", others ", "). */
export function getHeaderJoined(headers: readonly string[], lower: string): string | null {
  let out: string | null = null;
  const sep = lower === "cookie" ? "; " : ", ";
  for (let i = 0; i < headers.length; i += 2) {
    if (nameIs(headers[i]!, lower)) out = out === null ? headers[i + 1]! : out + sep + headers[i + 1]!;
  }
  return out;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus those syncgate sets itself on the upstream request. */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
]);

/** Names listed in a Connection header value, lower-cased (they are hop-by-hop too). */
export function connectionTokens(value: string | null): string[] {
  if (!value) return [];
  return value
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The raw value of query argument `name` in `args` (nginx's $arg_NAME: first match, not decoded), or null. */
export function argValue(args: string, name: string): string | null {
  if (!args) return null;
  for (const part of args.split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key.toLowerCase() === name.toLowerCase()) return eq < 0 ? "" : part.slice(eq + 1);
  }
  return null;
}
