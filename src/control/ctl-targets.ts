/**
 * Where `syncgate ctl` reads and writes each upstream: its `upsync` line in the configuration (Consul KV, etcd v2
 * or v3, a watched file; the Consul catalog is read-only), else a running syncgate's API — the first `api`
 * location of the configuration, reached on its server's first `listen`. Explicit targets override both:
 * `--consul`/`--etcd`/`--etcd-v2` put every upstream in the folder `upstreams/NAME/` of that registry, as the
 * seed walkthrough lays Consul out; `--api` names the API.
 */
import type {
  Config,
  ListenConf,
  LocationConf,
  ServerSpec,
  UpsyncConf,
  UpsyncType,
} from "../config/types.js";
import { closest } from "../config/values.js";
import { ApiClient } from "./ctl-api.js";
import { apiWriter } from "./ctl-api-writer.js";
import { apiAuth, readSecretFile } from "./ctl-secrets.js";
import { catalogReader, type RegistryReader } from "./ctl-catalog.js";
import { CONTROL_TIMEOUT, registryWriter } from "./registry-writer.js";
import { ControlError, type RegistryWriter } from "./types.js";

/** Target options of the command line. */
export interface TargetFlags {
  consul?: string;
  etcd?: string;
  etcdV2?: string;
  tokenFile?: string;
  api?: string;
  authFile?: string;
}

/** What ctl knows about one upstream. */
export interface UpstreamTarget {
  name: string;
  /** Where its membership is read and written: a registry, or the API for an upstream with no registry. */
  writer: RegistryWriter | null;
  /** Where its membership is read: the writer, or the Consul catalog (read-only); null for neither. */
  reader: RegistryReader | null;
  /** Why its membership cannot be written (catalog-sourced, or no registry and no API); null when it can. */
  readOnly: string | null;
  /** The servers its configuration block lists (empty without a configuration). */
  configServers: ServerSpec[];
}

/** The targets of one ctl run. */
export interface CtlTargets {
  /** Upstream names the configuration declares, in order; null without a configuration. */
  names: string[] | null;
  /** The running syncgate's API, or null when neither the configuration nor --api names one. */
  api: ApiClient | null;
  /** The target of `name`; UpstreamNotFound when nothing knows it. */
  target(name: string): UpstreamTarget;
}

/** Bound on one API request, ms. */
const API_TIMEOUT_MS = 5000;
/** Bound on one registry request of an explicit target, ms. */
const REGISTRY_TIMEOUT_MS = 5000;

/** The key folder of an explicit registry target, per kind (documented in `syncgate ctl --help`). */
export function explicitPath(type: "consul" | "etcd" | "etcd3", upstream: string): string {
  if (type === "consul") return `/v1/kv/upstreams/${upstream}/`;
  if (type === "etcd") return `/v2/keys/upstreams/${upstream}`;
  return `/upstreams/${upstream}/`;
}

/** Upstream names usable as a registry folder (no `/`, `?`, `%`...). */
const NAME = /^[A-Za-z0-9_.:-]+$/;

/** Resolves the targets from the loaded configuration (or null) and the command line. */
export function resolveTargets(
  config: Config | null,
  flags: TargetFlags,
  env: Record<string, string | undefined>,
): CtlTargets {
  const explicit = explicitRegistry(flags);
  const apiBase = flags.api !== undefined ? checkUrl(flags.api, "--api", true) : apiBaseOf(config);
  let auth: string | null | undefined;
  const api =
    apiBase === null
      ? null
      : new ApiClient(apiBase, {
          auth: () => (auth ??= apiAuth(flags.authFile, env)),
          timeoutMs: API_TIMEOUT_MS,
        });
  const upstreams = config?.http?.upstreams ?? [];
  const names = config === null ? null : upstreams.map((u) => u.name);
  let token: string | null | undefined;
  const explicitToken = (): string | null =>
    (token ??= flags.tokenFile !== undefined ? readSecretFile(flags.tokenFile, "--token-file") : null);

  return {
    names,
    api,
    target(name: string): UpstreamTarget {
      const conf = upstreams.find((u) => u.name === name);
      const configServers = conf?.servers ?? [];
      if (explicit) {
        if (!NAME.test(name)) throw new ControlError("InvalidUpstream", `invalid upstream name "${name}"`);
        const upsync = explicitUpsync(explicit, explicitPath(explicit.type, name));
        const writer = registryWriter(upsync, explicitToken(), { upstream: name });
        return { name, writer, reader: writer, readOnly: null, configServers };
      }
      if (!conf && names !== null) throw unknownUpstream(name, names);
      const upsync = conf?.upsync ?? null;
      if (upsync) {
        const tok = flags.tokenFile !== undefined ? explicitToken() : configToken(upsync);
        try {
          const writer = registryWriter(upsync, tok, { upstream: name });
          return { name, writer, reader: writer, readOnly: null, configServers };
        } catch (err) {
          // The Consul catalog: services register themselves; the reason says so.
          if (!(err instanceof ControlError) || err.code !== "ReadOnlySource") throw err;
          const reader = catalogReader(upsync, tok, Math.min(upsync.timeout, CONTROL_TIMEOUT));
          return { name, writer: null, reader, readOnly: err.message, configServers };
        }
      }
      if (api) {
        const writer = apiWriter(api, name);
        return { name, writer, reader: writer, readOnly: null, configServers };
      }
      const readOnly =
        `upstream "${name}" has no registry (no "upsync") and no running syncgate's API is known: ` +
        `add an "api write=on;" location to the configuration or give --api URL`;
      return { name, writer: null, reader: null, readOnly, configServers };
    },
  };
}

function unknownUpstream(name: string, names: string[]): ControlError {
  const hint = closest(name, names);
  return new ControlError(
    "UpstreamNotFound",
    `unknown upstream "${name}"${hint !== null ? ` (did you mean "${hint}"?)` : ""}`,
    404,
  );
}

function configToken(u: UpsyncConf): string | null {
  return u.tokenFile === null ? null : readSecretFile(u.tokenFile, "upsync_token_file");
}

interface Explicit {
  type: "consul" | "etcd" | "etcd3";
  url: URL;
}

function explicitRegistry(flags: TargetFlags): Explicit | null {
  const given: [string, string | undefined, Explicit["type"]][] = [
    ["--consul", flags.consul, "consul"],
    ["--etcd", flags.etcd, "etcd3"],
    ["--etcd-v2", flags.etcdV2, "etcd"],
  ];
  const set = given.filter(([, v]) => v !== undefined);
  if (set.length > 1) {
    throw new ControlError("Usage", `give one registry at most (${set.map(([f]) => f).join(" and ")} given)`);
  }
  const [flag, value, type] = set[0] ?? [];
  if (flag === undefined || value === undefined || type === undefined) return null;
  const url = new URL(checkUrl(value, flag, false));
  return { type, url };
}

/** Checks a URL option: http(s), no credentials in it (they would show in `ps`); a bare `host:port` is http. */
function checkUrl(text: string, flag: string, withPath: boolean): string {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new ControlError("Usage", `${flag} "${text}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ControlError("Usage", `${flag} must be an http:// or https:// URL`);
  }
  if (url.username !== "" || url.password !== "") {
    const where = flag === "--api" ? "--auth-file FILE or SYNCGATE_API_AUTH" : "--token-file FILE";
    throw new ControlError("Usage", `${flag} must not carry credentials (visible in ps): use ${where}`);
  }
  if (!withPath && url.pathname !== "/") {
    throw new ControlError("Usage", `${flag} takes no path: the key folder is upstreams/UPSTREAM/`);
  }
  url.search = "";
  url.hash = "";
  return url.href;
}

function explicitUpsync(e: Explicit, path: string): UpsyncConf {
  const https = e.url.protocol === "https:";
  const type: UpsyncType = e.type;
  return {
    type,
    scheme: https ? "https" : "http",
    addresses: [
      { host: e.url.hostname.replace(/^\[|\]$/g, ""), port: Number(e.url.port || (https ? 443 : 80)) },
    ],
    path,
    interval: 1000,
    timeout: REGISTRY_TIMEOUT_MS,
    strongDependency: false,
    tokenFile: null,
    lb: null,
    origin: { file: null, line: 0 },
  };
}

/** The base URL of the configuration's first `api` location, on its server's first `listen`; null for none. */
export function apiBaseOf(config: Config | null): string | null {
  for (const server of config?.http?.servers ?? []) {
    const loc = findApi(server.locations);
    const listen = server.listen[0];
    if (loc && listen) return `http://${hostOf(listen)}:${listen.port}${loc.path}`;
  }
  return null;
}

function findApi(locations: LocationConf[]): LocationConf | null {
  for (const l of locations) {
    if (
      l.handler?.kind === "api" &&
      (l.match === "prefix" || l.match === "prefix_no_regex" || l.match === "exact")
    )
      return l;
    const inner = findApi(l.locations);
    if (inner) return inner;
  }
  return null;
}

/** Where a client reaches a listen address: loopback for the wildcards. */
function hostOf(l: ListenConf): string {
  if (l.host === "*" || l.host === "0.0.0.0") return "127.0.0.1";
  if (l.host === "[::]" || l.host === "::") return "[::1]";
  if (l.host.includes(":") && !l.host.startsWith("[")) return `[${l.host}]`;
  return l.host;
}
