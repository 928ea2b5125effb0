/** host[:port] parsing shared by `listen`, upstream `server` and `proxy_pass` (nginx's ngx_parse_url rules). */

/** A parsed address; `host` keeps IPv6 without brackets. */
export interface HostPort {
  host: string;
  port: number | null;
  ipv6: boolean;
}

/** Parses "host", "host:port", "[v6]", "[v6]:port"; returns an nginx-style error word on failure. */
export function parseHostPort(text: string): HostPort | { error: string } {
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return { error: "invalid host" };
    const host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (!isIPv6(host)) return { error: "invalid host" };
    if (rest === "") return { host, port: null, ipv6: true };
    if (!rest.startsWith(":")) return { error: "invalid host" };
    const port = parsePort(rest.slice(1));
    return port === null ? { error: "invalid port" } : { host, port, ipv6: true };
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) {
    if (text === "") return { error: "no host" };
    return validHost(text) ? { host: text, port: null, ipv6: false } : { error: "invalid host" };
  }
  const host = text.slice(0, colon);
  const port = parsePort(text.slice(colon + 1));
  if (port === null) return { error: "invalid port" };
  if (host === "") return { error: "no host" };
  if (!validHost(host)) return { error: "invalid host" };
  return { host, port, ipv6: false };
}

/** A TCP port 1..65535 written in decimal, or null. */
export function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

function validHost(host: string): boolean {
  return /^[A-Za-z0-9._*-]+$/.test(host) || /\$/.test(host);
}

function isIPv6(host: string): boolean {
  return /^[0-9A-Fa-f:.]+$/.test(host) && host.includes(":");
}
