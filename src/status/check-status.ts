/**
 * The `check_status` location handler's answer (issue 5 item 5; check spec §3): html, csv and json byte for byte
 * as nginx_upstream_check_module prints them, `?format=` and `?status=up|down` read like `ngx_http_arg`, 405 for
 * methods other than GET/HEAD, 500 when nothing is checked. Fixed: the JSON never keeps a trailing comma when
 * `status=` drops the last peer (yao #94, #121), and strings are escaped (JSON, HTML, CSV), which changes no byte
 * for real upstream names and addresses. Beyond the module: `prometheus` (check-metrics.ts). Pure.
 */
import type { CheckStatusFormat, CheckType } from "../config/types.js";
import { renderCheckMetrics } from "./check-metrics.js";
import type { ShowRequest, ShowResponse } from "./upstream-show.js";

/** One checked server as the page lists it (the checker's CheckedServer fits). */
export interface CheckPeerStatus {
  /** The server's serial, stable for its lifetime in the process (the admin API's id); not renumbered when filtering. */
  index: number;
  upstream: string;
  /** The address as nginx prints it: `ip:port`, `[v6]:port`. */
  name: string;
  up: boolean;
  /** Current consecutive successes (spec §2.2: keeps growing while up). */
  rise: number;
  /** Current consecutive failures. */
  fall: number;
  type: CheckType;
  /** The configured check port, 0 when none. */
  port: number;
}

/** The proxy's cumulative counters for one server (prometheus only). */
export interface PeerTraffic {
  requests: number;
  failures: number;
  /**
   * Response times. `buckets` holds per-bucket counts (observations with previous le < v <= le), not cumulative
   * ones, so the hot path bumps a single slot; the renderer sorts and accumulates, and `+Inf` is `count`.
   */
  latencySeconds: { sum: number; count: number; buckets: [le: number, count: number][] };
}

/** One synced upstream's registry state (prometheus only). */
export interface SyncGauge {
  upstream: string;
  ok: boolean;
  /** Unix time in seconds of the last successful sync, null before the first. */
  lastSyncSeconds: number | null;
  refused: number;
  servers: number;
}

/** Everything the page shows. */
export interface CheckStatusInput {
  /** Configuration loads so far: 1 at start, +1 per reload. */
  generation: number;
  /** Every checked server in listing order (upstream definition order, primaries then backups). */
  peers: readonly CheckPeerStatus[];
  /** The proxy's counters for a server, or null when it has none. */
  traffic?: (p: CheckPeerStatus) => PeerTraffic | null;
  sync?: readonly SyncGauge[];
}

/** The `status=` filter. */
export type CheckStatusFilter = "up" | "down";

/** What the query string asks for; `bad` holds ignored values, in the module's order (format, then status). */
export interface CheckStatusArgs {
  format: CheckStatusFormat | null;
  status: CheckStatusFilter | null;
  bad: string[];
}

/** The module's error-log line for the 500 answer when no upstream has `check` (logged by the caller). */
export const NO_CHECK_SERVERS =
  "http upstream check module can not find any check server, make sure you've added the check servers";

/** The module's error-log line for an ignored `format=`/`status=` value. */
export function checkStatusBadArgument(value: string): string {
  return `http upstream check, bad argument: "${value}"`;
}

const FORMATS: readonly CheckStatusFormat[] = ["html", "csv", "json", "prometheus"];

/** Content-Type per format (spec §3: no charset). */
export const CHECK_STATUS_CONTENT_TYPES: Readonly<Record<CheckStatusFormat, string>> = {
  html: "text/html",
  csv: "text/plain",
  json: "application/json",
  prometheus: "text/plain; version=0.0.4",
};

const asciiLower = (s: string): string =>
  s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));

/**
 * ngx_http_arg(): the first `name=value` whose name matches ASCII case-insensitively at the start or after `&`;
 * the value runs to the next `&` and is not decoded. A bare `name` without `=` does not count.
 */
export function ngxArg(args: string | null, name: string): string | null {
  if (!args) return null;
  const want = asciiLower(name);
  for (const part of args.split("&")) {
    const eq = part.indexOf("=");
    if (eq >= 0 && asciiLower(part.slice(0, eq)) === want) return part.slice(eq + 1);
  }
  return null;
}

/** `format=` exact and case-sensitive, `status=` case-insensitive (spec §3); unknown values land in `bad`. */
export function parseCheckStatusArgs(args: string | null): CheckStatusArgs {
  const out: CheckStatusArgs = { format: null, status: null, bad: [] };
  const format = ngxArg(args, "format");
  if (format !== null) {
    if ((FORMATS as readonly string[]).includes(format)) out.format = format as CheckStatusFormat;
    else out.bad.push(format);
  }
  const status = ngxArg(args, "status");
  if (status !== null) {
    const s = asciiLower(status);
    if (s === "up" || s === "down") out.status = s;
    else out.bad.push(status);
  }
  return out;
}

const html = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"));

/** RFC 4180 quoting, only for a field that needs it (never for an address or a plain upstream name). */
const csv = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** ngx_http_upstream_check_status_html_format(), including its odd DOCTYPE and the 8 spaces before cellpadding. */
export function checkStatusHtml(peers: readonly CheckPeerStatus[], generation: number): string {
  let out =
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN\n' +
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n' +
    '<html xmlns="http://www.w3.org/1999/xhtml">\n' +
    "<head>\n" +
    "  <title>Nginx http upstream check status</title>\n" +
    "</head>\n" +
    "<body>\n" +
    "<h1>Nginx http upstream check status</h1>\n" +
    `<h2>Check upstream server number: ${peers.length}, generation: ${generation}</h2>\n` +
    '<table style="background-color:white" cellspacing="0"        cellpadding="3" border="1">\n' +
    '  <tr bgcolor="#C0C0C0">\n' +
    "    <th>Index</th>\n" +
    "    <th>Upstream</th>\n" +
    "    <th>Name</th>\n" +
    "    <th>Status</th>\n" +
    "    <th>Rise counts</th>\n" +
    "    <th>Fall counts</th>\n" +
    "    <th>Check type</th>\n" +
    "    <th>Check port</th>\n" +
    "  </tr>\n";
  for (const p of peers) {
    out +=
      `  <tr${p.up ? "" : ' bgcolor="#FF0000"'}>\n` +
      `    <td>${p.index}</td>\n` +
      `    <td>${html(p.upstream)}</td>\n` +
      `    <td>${html(p.name)}</td>\n` +
      `    <td>${p.up ? "up" : "down"}</td>\n` +
      `    <td>${p.rise}</td>\n` +
      `    <td>${p.fall}</td>\n` +
      `    <td>${p.type}</td>\n` +
      `    <td>${p.port}</td>\n` +
      "  </tr>\n";
  }
  return `${out}</table>\n</body>\n</html>\n`;
}

/** ngx_http_upstream_check_status_csv_format(): one line per peer, no header; none gives an empty body. */
export function checkStatusCsv(peers: readonly CheckPeerStatus[]): string {
  return peers
    .map(
      (p) =>
        `${p.index},${csv(p.upstream)},${csv(p.name)},${p.up ? "up" : "down"},${p.rise},${p.fall},${p.type},${p.port}\n`,
    )
    .join("");
}

/** ngx_http_upstream_check_status_json_format() with its spacing, minus the trailing-comma bug. */
export function checkStatusJson(peers: readonly CheckPeerStatus[], generation: number): string {
  const q = (s: string): string => JSON.stringify(s);
  const rows = peers.map(
    (p) =>
      `    {"index": ${p.index}, "upstream": ${q(p.upstream)}, "name": ${q(p.name)}, ` +
      `"status": "${p.up ? "up" : "down"}", "rise": ${p.rise}, "fall": ${p.fall}, ` +
      `"type": ${q(p.type)}, "port": ${p.port}}`,
  );
  const list = rows.length > 0 ? `${rows.join(",\n")}\n` : "";
  return `{"servers": {\n  "total": ${peers.length},\n  "generation": ${generation},\n  "server": [\n${list}  ]\n}}\n`;
}

/** The peers `status=` keeps, in listing order. */
export function filterCheckPeers(
  peers: readonly CheckPeerStatus[],
  status: CheckStatusFilter | null,
): CheckPeerStatus[] {
  return status === null ? [...peers] : peers.filter((p) => p.up === (status === "up"));
}

/**
 * The answer to `GET|HEAD /status[?format=...&status=...]` on a `check_status [format]` location. `format` is
 * the location's; a valid `?format=` overrides it. Other methods: 405; no checked server at all: 500 (the caller
 * logs NO_CHECK_SERVERS). Both with body null (nginx's error page). HEAD gets GET's headers and an empty body.
 */
export function renderCheckStatus(
  input: CheckStatusInput,
  format: CheckStatusFormat,
  req: ShowRequest,
): ShowResponse {
  if (req.method !== "GET" && req.method !== "HEAD") return { status: 405, headers: [], body: null };
  if (input.peers.length === 0) return { status: 500, headers: [], body: null };
  const args = parseCheckStatusArgs(req.args);
  const fmt = args.format ?? format;
  const peers = filterCheckPeers(input.peers, args.status);
  let body: string;
  if (fmt === "html") body = checkStatusHtml(peers, input.generation);
  else if (fmt === "csv") body = checkStatusCsv(peers);
  else if (fmt === "json") body = checkStatusJson(peers, input.generation);
  else body = renderCheckMetrics(input, peers);
  const headers = [
    "Content-Type",
    CHECK_STATUS_CONTENT_TYPES[fmt],
    "Content-Length",
    String(Buffer.byteLength(body)),
  ];
  return { status: 200, headers, body: req.method === "HEAD" ? "" : body };
}
