/**
 * The request head sent upstream, built as nginx's proxy module builds it: `proxy_set_header` fields first
 * (Host defaults to $proxy_host), then the client's headers minus hop-by-hop ones and those the settings
 * replace. syncgate speaks HTTP/1.1 with keep-alive by default and passes WebSocket upgrades through.
 */
import type { HttpSettings } from "../config/types.js";
import { compileTemplate, type Template } from "../lib/template.js";
import { type RequestContext, variable } from "./context.js";
import { connectionTokens, getHeader, HOP_BY_HOP } from "./headers.js";

interface CompiledHeaders {
  set: { name: string; lower: string; value: Template<RequestContext> }[];
  replaced: Set<string>;
}

const cache = new WeakMap<HttpSettings, CompiledHeaders>();
const get = (ctx: RequestContext, name: string): string | null => variable(ctx, name);

function compiled(settings: HttpSettings): CompiledHeaders {
  let c = cache.get(settings);
  if (!c) {
    const list = settings.proxySetHeaders.some(([n]) => n.toLowerCase() === "host")
      ? settings.proxySetHeaders
      : [["Host", "$proxy_host"] as [string, string], ...settings.proxySetHeaders];
    c = {
      set: list.map(([name, value]) => ({
        name,
        lower: name.toLowerCase(),
        value: compileTemplate(value, get),
      })),
      replaced: new Set(list.map(([n]) => n.toLowerCase())),
    };
    cache.set(settings, c);
  }
  return c;
}

/** What framing the upstream request body uses. */
export type BodyFraming = "none" | "length" | "chunked";

/** Builds the upstream request head for `ctx`, sending `uri`. */
export function upstreamHead(
  ctx: RequestContext,
  settings: HttpSettings,
  uri: string,
  body: BodyFraming,
  expectHandled: boolean,
): string {
  const head = ctx.head;
  const c = compiled(settings);
  const version = settings.proxyHttpVersion;
  let out = `${head.method} ${uri} HTTP/${version}\r\n`;
  for (const h of c.set) {
    const v = h.value(ctx);
    if (v !== "") out += `${h.name}: ${v}\r\n`;
  }
  const connDrop = connectionTokens(getHeader(head.headers, "connection"));
  const hs = head.headers;
  for (let i = 0; i < hs.length; i += 2) {
    const name = hs[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || c.replaced.has(lower) || lower === "content-length") continue;
    if (expectHandled && lower === "expect") continue;
    if (connDrop.length > 0 && connDrop.includes(lower)) continue;
    out += `${name}: ${hs[i + 1]!}\r\n`;
  }
  if (body === "length" && !c.replaced.has("content-length"))
    out += `Content-Length: ${head.contentLength}\r\n`;
  if (body === "chunked") out += "Transfer-Encoding: chunked\r\n";
  if (head.upgrade !== null && version === "1.1") {
    out += `Upgrade: ${head.upgrade}\r\nConnection: upgrade\r\n`;
  } else if (version === "1.0") out += "Connection: close\r\n";
  return out + "\r\n";
}
