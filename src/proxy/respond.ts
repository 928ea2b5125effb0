/** Responses syncgate writes itself: nginx's error pages, `return`, and the Date/Server headers. */
import { VERSION } from "../version.js";

/** Reason phrases for the statuses syncgate answers with (RFC 9110, nginx's texts for its own pages). */
export const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Moved Temporarily",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  410: "Gone",
  412: "Precondition Failed",
  415: "Unsupported Media Type",
  416: "Requested Range Not Satisfiable",
  421: "Misdirected Request",
  422: "Unprocessable Entity",
  408: "Request Time-out",
  411: "Length Required",
  413: "Request Entity Too Large",
  414: "Request-URI Too Large",
  429: "Too Many Requests",
  494: "Request Header Or Cookie Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Temporarily Unavailable",
  504: "Gateway Time-out",
  505: "HTTP Version Not Supported",
};

let dateSecond = -1;
let dateText = "";

/** The Date header value, computed once per second. */
export function httpDate(now = Date.now()): string {
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

/** The Server header value for `server_tokens`. */
export function serverHeader(tokens: "on" | "off" | "build"): string {
  return tokens === "off" ? "syncgate" : `syncgate/${VERSION}`;
}

/** nginx's HTML error page for `status` (its title line uses the status and reason). */
export function errorPage(status: number, tokens: "on" | "off" | "build", title = REASONS[status]): string {
  const head = `${status} ${title ?? ""}`.trim();
  return (
    `<html>\r\n<head><title>${head}</title></head>\r\n<body>\r\n<center><h1>${head}</h1></center>\r\n` +
    `<hr><center>${serverHeader(tokens)}</center>\r\n</body>\r\n</html>\r\n`
  );
}

/** A complete response head; `headers` is a flat [name, value, ...] list. */
export function responseHead(
  status: number,
  headers: readonly string[],
  reason = REASONS[status] ?? "",
): string {
  let out = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (let i = 0; i < headers.length; i += 2) out += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  return out + "\r\n";
}
