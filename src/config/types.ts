/**
 * The typed configuration every other part of syncgate reads. It is plain data (JSON-serialisable), built once
 * by the adapter from nginx-syntax text with nginx's defaults filled in; durations are milliseconds, sizes bytes,
 * paths absolute (resolved against the prefix) unless they contain variables.
 */
import type { LogLevel } from "../lib/errors.js";

/** Where a node came from. */
export interface Origin {
  file: string | null;
  line: number;
}

/** The whole configuration. */
export interface Config {
  /** Main configuration file (absolute). */
  file: string;
  /** Prefix that relative paths resolve against. */
  prefix: string;
  main: MainConf;
  events: EventsConf;
  /** null when the file has no `http` block. */
  http: HttpConf | null;
}

/** One `error_log` target. */
export interface ErrorLogConf {
  /** Absolute path, or "stderr". */
  path: string;
  level: LogLevel;
}

/** Main (top-level) context. */
export interface MainConf {
  user: { user: string; group: string } | null;
  /** A count, or "auto" (one per core). */
  workerProcesses: number | "auto";
  errorLog: ErrorLogConf[];
  pid: string;
  daemon: boolean;
  workerRlimitNofile: number | null;
  workerShutdownTimeout: number | null;
}

/** `events {}` block. */
export interface EventsConf {
  workerConnections: number;
  use: string | null;
  multiAccept: boolean;
}

/** A log format: the text with `$variables`, and its escaping. */
export interface LogFormatConf {
  escape: "default" | "json" | "none";
  format: string;
}

/** One `access_log` target. */
export interface AccessLogConf {
  /** Absolute path (or as written when it contains variables). */
  path: string;
  format: string;
  buffer: number | null;
  flush: number | null;
  /** `if=` condition, a variable expression; null when absent. */
  if: string | null;
}

/** `http {}` block. */
export interface HttpConf {
  /** Effective http-level settings (what servers inherit). */
  settings: HttpSettings;
  logFormats: Record<string, LogFormatConf>;
  upstreams: UpstreamConf[];
  servers: ServerConf[];
}

/** One `server` line of an upstream: what the config (or later a registry) says, never runtime state. */
export interface ServerSpec {
  /** host:port as written (host may be a name until resolved). */
  address: string;
  host: string;
  port: number;
  weight: number;
  maxFails: number;
  failTimeout: number;
  maxConns: number;
  backup: boolean;
  down: boolean;
  slowStart: number;
  origin: Origin;
}

/** Load-balancing method of an upstream. */
export type BalancerConf =
  | { method: "round_robin" }
  | { method: "least_conn" }
  | { method: "ip_hash" }
  | { method: "hash"; key: string; consistent: boolean }
  | { method: "random"; two: boolean; twoMethod: "least_conn" | null };

/** `upstream NAME {}` block. */
export interface UpstreamConf {
  name: string;
  origin: Origin;
  servers: ServerSpec[];
  balancer: BalancerConf;
  /** Idle keep-alive connections kept per worker; null = syncgate's default pool. */
  keepalive: number | null;
  keepaliveTimeout: number;
  keepaliveRequests: number;
  zone: { name: string; size: number | null } | null;
  /** Registry sync (`upsync`); null when the upstream's servers come only from the config. */
  upsync: UpsyncConf | null;
  /**
   * Dump file of a synced upstream (`upsync_dump_path`, absolute; `/tmp/servers_NAME.conf` by default, as
   * nginx-upsync-module); null without `upsync`.
   */
  dumpPath: string | null;
  /** Active health checks (`check` and the `check_*` lines); null when the upstream has no `check`. */
  check: CheckConf | null;
}

/** Probe types of `check type=` (nginx_upstream_check_module's names). */
export type CheckType = "tcp" | "http" | "ssl_hello" | "mysql" | "ajp" | "fastcgi";

/** Status classes of `check_http_expect_alive`. */
export type CheckStatusClass = "http_2xx" | "http_3xx" | "http_4xx" | "http_5xx";

/** Active health checks of one upstream (check spec §1). Times in ms. */
export interface CheckConf {
  type: CheckType;
  /** `interval=`: probe period. */
  interval: number;
  /** `fall=`: consecutive failures that mark an up server down. */
  fall: number;
  /** `rise=`: consecutive successes that mark a down server up. */
  rise: number;
  /** `timeout=`: one probe's connect + send + receive. */
  timeout: number;
  /** `default_down=`: the state of a server with no history. */
  defaultDown: boolean;
  /** `port=`: probe this port of the server's address; 0 = the server's own port. */
  port: number;
  /** `check_http_send`: the bytes sent (latin1), escapes already turned into bytes; null = the type's default. */
  send: string | null;
  /** `check_http_expect_alive`: classes that count as alive; null = the type's default (http: 2xx 3xx). */
  expectAlive: CheckStatusClass[] | null;
  /** `check_keepalive_requests` (default 1). */
  keepaliveRequests: number;
  /** `check_fastcgi_param` pairs in order; empty = the module's defaults. */
  fastcgiParams: [string, string][];
  origin: Origin;
}

/** Formats of `check_status`. */
export type CheckStatusFormat = "html" | "csv" | "json" | "prometheus";

/** Registry kinds of `upsync_type=`: the module's four, plus etcd's v3 API and a watched file. */
export type UpsyncType = "consul" | "consul_services" | "consul_health" | "etcd" | "etcd3" | "file";

/** Values of `upsync_lb` (nginx-upsync-module's names); they do not choose the balancer. */
export type UpsyncLb = "roundrobin" | "ip_hash" | "least_conn" | "hash_modula" | "hash_ketama";

/** One registry address of `upsync` (host is a name or an address, IPv6 without brackets). */
export interface UpsyncAddress {
  host: string;
  port: number;
}

/** `upsync` of an upstream: where its servers come from and how often to ask. */
export interface UpsyncConf {
  type: UpsyncType;
  /** Scheme of the registry addresses ("http" when none is written); null for `upsync_type=file`. */
  scheme: "http" | "https" | null;
  /** Registry addresses, tried in turn; empty for `upsync_type=file`. */
  addresses: UpsyncAddress[];
  /**
   * What to read: the request path with its query as written (consul*, etcd), the key prefix as written
   * (etcd3), or the absolute path of the watched file (file).
   */
  path: string;
  /** `upsync_interval`, ms: the pause between plain polls and before retries. */
  interval: number;
  /** `upsync_timeout`, ms: the longest one registry request may take. */
  timeout: number;
  /** `strong_dependency=on`: start-up waits for a first successful sync. */
  strongDependency: boolean;
  /** Absolute path of the credentials file (a Consul ACL token, or etcd `user:password`); never read here. */
  tokenFile: string | null;
  /** `upsync_lb`, kept for compatibility; null when absent. */
  lb: UpsyncLb | null;
  origin: Origin;
}

/** One `listen` of a server. */
export interface ListenConf {
  /** Address to bind: an IPv4/IPv6 literal, a host name, or "*" (all IPv4) / "[::]". */
  host: string;
  port: number;
  ipv6: boolean;
  defaultServer: boolean;
  ipv6only: boolean;
  backlog: number | null;
  reuseport: boolean;
  origin: Origin;
}

/** One `server_name` entry. */
export type ServerNameConf =
  | { kind: "exact"; name: string }
  | { kind: "wildcard_prefix"; name: string }
  | { kind: "wildcard_suffix"; name: string }
  | { kind: "regex"; name: string; pattern: string };

/** Settings that are inherited http → server → location (→ nested location), as nginx merges them. */
export interface HttpSettings {
  defaultType: string;
  charset: string | null;
  types: Record<string, string>;
  accessLog: AccessLogConf[] | null;
  errorLog: ErrorLogConf[] | null;
  tcpNodelay: boolean;
  keepaliveTimeout: number;
  keepaliveHeaderTimeout: number | null;
  keepaliveRequests: number;
  clientMaxBodySize: number;
  clientHeaderTimeout: number;
  clientBodyTimeout: number;
  sendTimeout: number;
  serverTokens: "on" | "off" | "build";
  clientHeaderBufferSize: number;
  largeClientHeaderBuffers: { number: number; size: number };
  proxySetHeaders: [string, string][];
  proxyHttpVersion: "1.0" | "1.1";
  proxyNextUpstream: string[];
  proxyNextUpstreamTries: number;
  proxyNextUpstreamTimeout: number;
  proxyConnectTimeout: number;
  proxyReadTimeout: number;
  proxySendTimeout: number;
  /** "off", or rules in order; "default" stands for nginx's `proxy_redirect default`. */
  proxyRedirect: "off" | ProxyRedirectRule[];
  access: AccessRule[];
  authBasic: string | null;
  authBasicUserFile: string | null;
}

/** One `proxy_redirect` rule. */
export type ProxyRedirectRule = "default" | { from: string; to: string };

/** One `allow`/`deny` rule; `cidr` null means `all`. */
export interface AccessRule {
  action: "allow" | "deny";
  cidr: string | null;
}

/** `proxy_pass` target. */
export interface ProxyPassConf {
  url: string;
  scheme: "http";
  /** Host part as written (an upstream name, a host name or an address). */
  host: string;
  /** Explicit port, or null. */
  port: number | null;
  /** URI part (with the leading "/"), or null when the URL has none. */
  uri: string | null;
  /** Name of the upstream it targets, when the host names one and no port is given. */
  upstream: string | null;
  /** True when the URL contains variables (the target is chosen per request). */
  variables: boolean;
}

/** `return` of a server or location. */
export interface ReturnConf {
  code: number;
  /** Body text or redirect URL, possibly with variables; null when absent. */
  text: string | null;
}

/** Location matching types, as nginx names them. */
export type LocationMatch = "exact" | "prefix" | "prefix_no_regex" | "regex" | "regex_caseless" | "named";

/**
 * A location's own content handler other than `proxy_pass`: a status page or the admin API. `kind` is the
 * directive's name; `check_status` answers the health-check status page, `api` the NGINX Plus-shaped API
 * (changes only with `write`).
 */
export type LocationHandlerConf =
  | { kind: "upstream_show" }
  | { kind: "upsync_status" }
  | { kind: "check_status"; format: CheckStatusFormat }
  | { kind: "api"; write: boolean };

/** A `location` block, with the effective (merged) settings. */
export interface LocationConf {
  match: LocationMatch;
  path: string;
  origin: Origin;
  locations: LocationConf[];
  proxyPass: ProxyPassConf | null;
  return: ReturnConf | null;
  /** A status page answered here instead of proxying; null for none (not inherited by nested locations). */
  handler: LocationHandlerConf | null;
  settings: HttpSettings;
}

/** A `server` block. */
export interface ServerConf {
  origin: Origin;
  listen: ListenConf[];
  serverNames: ServerNameConf[];
  return: ReturnConf | null;
  locations: LocationConf[];
  /** Effective server-level settings (used when no location matches). */
  settings: HttpSettings;
}
