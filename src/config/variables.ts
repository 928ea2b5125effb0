/**
 * nginx variables syncgate knows. Like nginx, a reference to any other variable is refused at load
 * (`unknown "foo" variable`), so a typo in a log format or header is caught by `-t`, not in production.
 */

const NAMES = new Set([
  "args",
  "binary_remote_addr",
  "body_bytes_sent",
  "bytes_sent",
  "connection",
  "connection_requests",
  "content_length",
  "content_type",
  "document_uri",
  "gzip_ratio",
  "host",
  "hostname",
  "https",
  "is_args",
  "msec",
  "nginx_version",
  "pid",
  "pipe",
  "proxy_add_x_forwarded_for",
  "proxy_host",
  "proxy_port",
  "query_string",
  "remote_addr",
  "remote_port",
  "remote_user",
  "request",
  "request_id",
  "request_length",
  "request_method",
  "request_time",
  "request_uri",
  "scheme",
  "server_addr",
  "server_name",
  "server_port",
  "server_protocol",
  "status",
  "syncgate_version",
  "time_iso8601",
  "time_local",
  "upstream_addr",
  "upstream_bytes_received",
  "upstream_bytes_sent",
  "upstream_connect_time",
  "upstream_header_time",
  "upstream_response_length",
  "upstream_response_time",
  "upstream_status",
  "uri",
]);

const PREFIXES = ["arg_", "cookie_", "http_", "sent_http_", "upstream_http_", "upstream_cookie_"];

/** Whether `name` (without "$") is a variable syncgate provides; digits are regex captures. */
export function isKnownVariable(name: string, captures: ReadonlySet<string> = new Set()): boolean {
  if (/^\d+$/.test(name) || NAMES.has(name) || captures.has(name)) return true;
  return PREFIXES.some((p) => name.startsWith(p) && name.length > p.length);
}

/** The variable names `text` refers to (`$name` or `${name}`), in order; null when a `${` is not closed. */
export function variablesIn(text: string): string[] | null {
  const out: string[] = [];
  const re = /\$(?:\{([A-Za-z0-9_]*)(\}?)|([A-Za-z0-9_]+))/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[1] !== undefined) {
      if (m[2] !== "}" || m[1] === "") return null;
      out.push(m[1]);
    } else out.push(m[3]!);
  }
  return out;
}

/** Whether `text` contains a variable reference. */
export function hasVariables(text: string): boolean {
  return /\$(?:\{|[A-Za-z0-9_])/.test(text);
}
