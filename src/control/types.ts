/**
 * Control of upstream membership (issue 6): what `syncgate ctl` and the admin API share. A server's attributes in
 * the registry's own value format (upsync spec §2.4: the JSON nginx-upsync-module reads), so nginx + upsync and
 * syncgate can follow one registry during a migration.
 */

/** One server's attributes as a registry value holds them (`fail_timeout` in seconds, flags as 0/1). */
export interface ServerValue {
  weight: number;
  max_fails: number;
  fail_timeout: number;
  down: 0 | 1;
  backup: 0 | 1;
}

/** A server as a registry lists it. */
export interface RegistryServer {
  /** `ip:port` or `[v6]:port`, the key's last part. */
  address: string;
  value: ServerValue;
}

/** Where an upstream's membership is written; every call is bounded in time and rejects with a ControlError. */
export interface RegistryWriter {
  /** What it writes to, for messages: `consul 127.0.0.1:8500/v1/kv/upstreams/x/`, `file /etc/...`. */
  readonly source: string;
  /** The servers the registry lists now, in its order. */
  list(): Promise<RegistryServer[]>;
  /** Adds the server or replaces its value (the whole value: fields are replaced, not merged). */
  put(address: string, value: ServerValue): Promise<void>;
  /** Removes the server; removing one that is not there is not an error (as Consul's DELETE). */
  remove(address: string): Promise<void>;
}

/** A control failure with a stable code (the API's JSON `code`, `ctl`'s one-line reason). */
export class ControlError extends Error {
  override name = "ControlError";
  constructor(
    /** Stable code: `UpstreamNotFound`, `ServerNotFound`, `RegistryUnreachable`, `ReadOnlySource`, ... */
    readonly code: string,
    message: string,
    /** HTTP status the API answers with. */
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Registry defaults (upsync spec §2.4). */
export const DEFAULT_VALUE: ServerValue = { weight: 1, max_fails: 2, fail_timeout: 10, down: 0, backup: 0 };
