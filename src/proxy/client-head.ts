/**
 * The response head sent to the client from an upstream response, as nginx's proxy module passes it: the
 * upstream's Server and Date are replaced by syncgate's, hop-by-hop headers are dropped, framing and
 * Connection are set for this client, `charset` is added to text types, `proxy_redirect` rewrites Location.
 */
import type { HttpSettings, LocationConf, ProxyPassConf } from "../config/types.js";
import type { ResponseHead } from "../http1/response-head.js";
import { connectionTokens, getHeader, HOP_BY_HOP } from "./headers.js";
import { httpDate, REASONS, serverHeader } from "./respond.js";

/** Types nginx's `charset` applies to (charset_types default plus text/css and JSON, which browsers expect). */
const CHARSET_TYPES = new Set([
  "text/html",
  "text/xml",
  "text/plain",
  "text/css",
  "text/vnd.wap.wml",
  "application/javascript",
  "application/json",
  "application/rss+xml",
  "application/xml",
]);

/** Adds `; charset=X` to a Content-Type that is a text type without one. */
export function withCharset(contentType: string, charset: string | null): string {
  if (!charset || /;\s*charset=/i.test(contentType)) return contentType;
  const base = contentType.split(";")[0]!.trim().toLowerCase();
  return CHARSET_TYPES.has(base) ? `${contentType}; charset=${charset}` : contentType;
}

/** How the body goes to the client. */
export type ClientFraming = "none" | "length" | "chunked" | "close";

/** Builds the client response head. */
export function clientHead(
  up: ResponseHead,
  framing: ClientFraming,
  keepAlive: boolean,
  settings: HttpSettings,
  location: LocationConf | null,
  pp: ProxyPassConf | null,
  proxyHost: string,
): { text: string; headers: string[] } {
  const headers: string[] = ["Server", serverHeader(settings.serverTokens), "Date", httpDate()];
  const drop = connectionTokens(getHeader(up.headers, "connection"));
  const hs = up.headers;
  for (let i = 0; i < hs.length; i += 2) {
    const name = hs[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === "server" || lower === "date" || lower === "content-length")
      continue;
    if (lower.startsWith("x-accel-") || (drop.length > 0 && drop.includes(lower))) continue;
    let value = hs[i + 1]!;
    if (lower === "content-type") value = withCharset(value, settings.charset);
    else if ((lower === "location" || lower === "refresh") && location && pp) {
      value = redirect(value, settings, location, pp, proxyHost);
    }
    headers.push(name, value);
  }
  // A HEAD or 304 answer has no body but keeps the Content-Length of the entity it describes.
  if (
    framing === "length" ||
    (framing === "none" && up.contentLength !== null && up.status >= 200 && up.status !== 204)
  ) {
    headers.push("Content-Length", String(up.contentLength));
  }
  if (framing === "chunked") headers.push("Transfer-Encoding", "chunked");
  if (up.status === 101) headers.push("Upgrade", up.upgrade ?? "", "Connection", "upgrade");
  else headers.push("Connection", keepAlive ? "keep-alive" : "close");
  const reason = up.reason || REASONS[up.status] || "";
  let text = `HTTP/1.1 ${up.status} ${reason}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  return { text: text + "\r\n", headers };
}

/** nginx's proxy_redirect: `default` maps "http://PROXY_HOST/URI" back to the location prefix. */
function redirect(
  value: string,
  settings: HttpSettings,
  location: LocationConf,
  pp: ProxyPassConf,
  proxyHost: string,
): string {
  if (settings.proxyRedirect === "off") return value;
  for (const rule of settings.proxyRedirect) {
    if (rule === "default") {
      if (pp.variables) continue;
      const from = `http://${proxyHost}${pp.uri ?? "/"}`;
      const to = pp.uri === null ? "/" : location.path;
      if (value.startsWith(from)) return to + value.slice(from.length);
    } else if (value.startsWith(rule.from)) return rule.to + value.slice(rule.from.length);
  }
  return value;
}
