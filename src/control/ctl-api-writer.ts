/**
 * Membership of an upstream with no registry, written through a running syncgate's API (which applies it in
 * memory and to the upstream's dump file): the same RegistryWriter surface as the registries, so every `ctl`
 * command treats both alike.
 */
import { type ApiClient, type ApiServer, apiSeconds } from "./ctl-api.js";
import { DEFAULT_VALUE, type RegistryServer, type RegistryWriter, type ServerValue } from "./types.js";

/** The API's server → the registry value shape (missing fields take the registry defaults). */
export function valueOfApiServer(s: ApiServer): ServerValue {
  return {
    weight: s.weight ?? DEFAULT_VALUE.weight,
    max_fails: s.max_fails ?? DEFAULT_VALUE.max_fails,
    fail_timeout: apiSeconds(s.fail_timeout) ?? DEFAULT_VALUE.fail_timeout,
    down: s.down ? 1 : 0,
    backup: s.backup ? 1 : 0,
  };
}

/** The registry value → the attributes the API takes (`fail_timeout` as NGINX Plus's time text). */
export function apiAttributes(v: ServerValue): Omit<ApiServer, "id" | "server"> {
  return {
    weight: v.weight,
    max_fails: v.max_fails,
    fail_timeout: `${v.fail_timeout}s`,
    backup: v.backup === 1,
    down: v.down === 1,
  };
}

/** A RegistryWriter over the API for `upstream`. */
export function apiWriter(api: ApiClient, upstream: string): RegistryWriter {
  return {
    source: `api ${api.base}`,
    async list(): Promise<RegistryServer[]> {
      return (await api.servers(upstream)).map((s) => ({ address: s.server, value: valueOfApiServer(s) }));
    },
    async put(address: string, value: ServerValue): Promise<void> {
      const existing = (await api.servers(upstream)).find((s) => s.server === address);
      if (existing) await api.patch(upstream, existing.id, apiAttributes(value));
      else await api.add(upstream, address, apiAttributes(value));
    },
    async remove(address: string): Promise<void> {
      const existing = (await api.servers(upstream)).find((s) => s.server === address);
      if (existing) await api.remove(upstream, existing.id);
    },
  };
}
