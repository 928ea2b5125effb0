/**
 * Where `ctl` and the admin API write an upstream's membership (issue 6): the registry its `upsync` line follows,
 * in that registry's own format (upsync spec §2–3), so nginx + upsync and syncgate can share it. One writer per
 * `upsync_type`; the Consul catalog types are read-only — services register themselves.
 */
import type { UpsyncConf } from "../config/types.js";
import type { DumpFs } from "../discovery/dump.js";
import { consulStore } from "./registry-consul.js";
import { etcd2Store } from "./registry-etcd2.js";
import { etcd3Store } from "./registry-etcd3.js";
import { fileWriter } from "./registry-file.js";
import { folderWriter } from "./registry-folder.js";
import { CONTROL_TIMEOUT } from "./registry-send.js";
import { ControlError, type RegistryWriter } from "./types.js";

export { CONTROL_TIMEOUT } from "./registry-send.js";
export { parseAddress, toValue, valueJson } from "./value.js";

/** Options of registryWriter. */
export interface RegistryWriterOptions {
  /** The upstream's name, for messages. */
  upstream?: string;
  /** The longest one registry request may take, ms: min(upsync_timeout, CONTROL_TIMEOUT) by default. */
  timeout?: number;
  /** Ends the call's requests at once (an API client that went away). */
  signal?: AbortSignal;
  /** The file operations of the file writer's atomic rewrite (tests). */
  fs?: DumpFs;
}

/**
 * The writer of the registry `upsync` names. `token` is the content of `upsync_token_file` (a Consul ACL token, or
 * etcd `user:password`); it goes in headers only, never in a message. Throws ControlError `ReadOnlySource` (409)
 * for `consul_services` and `consul_health`.
 */
export function registryWriter(
  upsync: UpsyncConf,
  token: string | null,
  opts: RegistryWriterOptions = {},
): RegistryWriter {
  const timeout = opts.timeout ?? Math.min(upsync.timeout, CONTROL_TIMEOUT);
  const bounded = { timeout, ...(opts.signal ? { signal: opts.signal } : {}) };
  switch (upsync.type) {
    case "consul":
      return folderWriter(consulStore(upsync, token, bounded));
    case "etcd":
      return folderWriter(etcd2Store(upsync, token, bounded));
    case "etcd3":
      return folderWriter(etcd3Store(upsync, token, bounded));
    case "file":
      return fileWriter(upsync, opts.fs ? { fs: opts.fs } : {});
    case "consul_services":
    case "consul_health": {
      const who = opts.upstream === undefined ? "this upstream" : `upstream "${opts.upstream}"`;
      throw new ControlError(
        "ReadOnlySource",
        `${who} follows the Consul catalog (${upsync.type}): change the service registration instead`,
        409,
      );
    }
  }
}
