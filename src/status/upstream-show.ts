/**
 * The `upstream_show` location handler's answer (upsync spec §5), byte for byte: one block per upstream,
 * `Upstream name: <name>; Backend server count: <n>` and the servers in the dump's line format with 8 spaces in
 * front, in registry order (issue 4; the module listed new servers first, spec §6.2). Pure: the HTTP layer writes it.
 */
import type { ServerSpec } from "../config/types.js";
import { formatServerLine } from "../discovery/dump.js";

/** An upstream as shown: its name and its servers now, in registry (or config) order. */
export interface ShowUpstream {
  name: string;
  servers: readonly ServerSpec[];
}

/** What the handler reads from the request. */
export interface ShowRequest {
  method: string;
  /** The raw query string without "?" (nginx's `$args`), or null when the URI has none. */
  args: string | null;
}

/** The answer; `headers` is a flat [name, value, ...] list, `body` null means "nginx's error page for status". */
export interface ShowResponse {
  status: number;
  headers: string[];
  body: string | null;
}

/** The module's messages (spec §5): no trailing newline. */
export const NO_UPSTREAMS = "No upstreams defined";
/** Answer for a name that matches no upstream (status 200, as the module). */
export const UNKNOWN_UPSTREAM = "The upstream you requested does not exist. Please double-check the name";

/** ngx_strncasecmp(): ASCII letters fold, every other byte compares as is. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** One upstream's block (ngx_http_upsync_show_upstream). */
export function showUpstream(u: ShowUpstream): string {
  let out = `Upstream name: ${u.name}; Backend server count: ${u.servers.length}\n`;
  for (const s of u.servers) out += `        ${formatServerLine(s)}\n`;
  return out;
}

/**
 * The answer to `GET|HEAD /upstream_show[?NAME]`. The whole query string selects an upstream by name (same
 * length, ASCII case-insensitive: `?test&x=1` matches nothing); none (or empty) lists every upstream in
 * declaration order, each block followed by a blank line. Other methods get 405 and nginx's error page.
 * HEAD gets GET's headers (Content-Length included) and no body.
 */
export function renderUpstreamShow(upstreams: readonly ShowUpstream[], req: ShowRequest): ShowResponse {
  if (req.method !== "GET" && req.method !== "HEAD") return { status: 405, headers: [], body: null };
  let body: string;
  if (req.args === null || req.args === "") {
    body = upstreams.length === 0 ? NO_UPSTREAMS : upstreams.map((u) => `${showUpstream(u)}\n`).join("");
  } else {
    const want = asciiLower(req.args);
    const u = upstreams.find((x) => asciiLower(x.name) === want);
    body = u ? showUpstream(u) : UNKNOWN_UPSTREAM;
  }
  const headers = ["Content-Type", "text/plain", "Content-Length", String(Buffer.byteLength(body))];
  return { status: 200, headers, body: req.method === "HEAD" ? "" : body };
}
