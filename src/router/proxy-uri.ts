/**
 * The URI of the request line sent upstream, as ngx_http_proxy_create_request() builds it
 * (src/http/modules/ngx_http_proxy_module.c; nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_pass).
 * All strings are byte strings (see uri.ts).
 */
import type { LocationConf, ProxyPassConf } from "../config/types.js";
import { escapeUri, toBytes } from "./uri.js";

/** The parts of the client's request the upstream URI is made of. */
export interface ProxiedRequest {
  /** $uri: the normalised path. */
  uri: string;
  /** $args, without "?". */
  args: string;
  /** $request_uri: the target as sent, from the path on ({@link Target.requestUri}). */
  requestUri: string;
  /** The raw path as sent; a "%" in it is nginx's r->quoted_uri, which makes the $uri part be re-escaped. */
  rawPath: string;
}

/** Expands `$variables` (and `$1`) in a byte-string template, for a `proxy_pass` URL with variables. */
export type Expand = (template: string) => string;

/**
 * The request-target sent upstream for `proxy_pass` without variables.
 * - Without a URI part: $request_uri as the client sent it, untouched.
 * - With one: that URI, then $uri minus the location's name (plain string replacement: `location /api` with
 *   `http://b/v2` sends /apix as /v2x), re-escaped if the client escaped anything, then "?args".
 */
export function upstreamUri(pp: ProxyPassConf, location: LocationConf, req: ProxiedRequest): string;
/**
 * The same for any `proxy_pass`; with variables, the expanded URL's URI part as is when it has one, else as
 * without a URI part; null when it expands to no http(s) URL (nginx: "invalid URL prefix", 500).
 */
export function upstreamUri(
  pp: ProxyPassConf,
  location: LocationConf,
  req: ProxiedRequest,
  expand: Expand,
): string | null;
export function upstreamUri(
  pp: ProxyPassConf,
  location: LocationConf,
  req: ProxiedRequest,
  expand?: Expand,
): string | null {
  if (pp.variables) {
    if (!expand) throw new TypeError(`upstreamUri: "${pp.url}" has variables and needs expand()`);
    const uri = uriPart(expand(toBytes(pp.url)));
    if (uri === null) return null;
    // ngx_http_proxy_eval: a URI part that starts with "?" gets a "/" in front.
    if (uri !== "") return uri[0] === "?" ? `/${uri}` : uri;
    return original(req);
  }
  if (pp.uri === null) return original(req);
  // plcf->location: the name of the location holding proxy_pass; regex and named locations cannot have a URI
  // part (refused at load), so their length counts as 0 as in ngx_http_proxy_pass().
  const prefixed =
    location.match === "exact" || location.match === "prefix" || location.match === "prefix_no_regex";
  const cut = prefixed ? toBytes(location.path).length : 0;
  return toBytes(pp.uri) + quote(req, req.uri.slice(cut)) + (req.args === "" ? "" : `?${req.args}`);
}

// r->unparsed_uri when valid; it is not for an absolute-form target with no path ("http://h?x"), where nginx
// sends the escaped $uri and the args instead.
function original(req: ProxiedRequest): string {
  if (req.requestUri.startsWith("/")) return req.requestUri;
  return quote(req, req.uri) + (req.args === "" ? "" : `?${req.args}`);
}

const quote = (req: ProxiedRequest, part: string): string =>
  req.rawPath.includes("%") ? escapeUri(part) : part;

// ngx_parse_url with uri_part: the URI starts at the first "/" or "?" after "http://" (or "https://").
function uriPart(url: string): string | null {
  const scheme = /^https?:\/\//i.exec(url);
  if (!scheme || url.length === scheme[0].length) return null;
  const rest = url.slice(scheme[0].length);
  const at = rest.search(/[/?]/);
  return at < 0 ? "" : rest.slice(at);
}
