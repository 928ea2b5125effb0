/** Decoding `PUT /v1/catalog/register` and `/deregister` bodies as Go's encoding/json would. */
import type { Registration } from "./catalog-types.js";

/** A JSON body Go's decoder refuses (a field of the wrong type): Consul's 400 "Request decode failed". */
export class DecodeError extends Error {}

export function asObject(v: unknown): Record<string, unknown> {
  if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new DecodeError("json: cannot unmarshal into an object");
}

/** A member as Go's encoding/json finds it: the exact name, else one that differs only in case. */
function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  const k = Object.keys(o).find((x) => x.toLowerCase() === lower);
  return k === undefined ? undefined : o[k];
}

export function str(o: Record<string, unknown>, name: string): string {
  const v = field(o, name);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string")
    throw new DecodeError(`json: cannot unmarshal into field ${name} of type string`);
  return v;
}

function strMap(v: unknown, name: string): Record<string, string> | null {
  if (v === undefined || v === null) return null;
  const o = asObject(v);
  for (const x of Object.values(o))
    if (typeof x !== "string")
      throw new DecodeError(`json: cannot unmarshal into field ${name} of type string`);
  return o as Record<string, string>;
}

/** `PUT /v1/catalog/register`'s body (Consul's RegisterRequest): Check and Checks are one list. */
export function registration(o: Record<string, unknown>): Registration {
  const node = str(o, "Node");
  const raw = field(o, "Service");
  let service: Registration["service"] = null;
  if (raw !== undefined && raw !== null) {
    const svc = asObject(raw);
    const name = str(svc, "Service");
    const port = field(svc, "Port") ?? 0;
    const tags = field(svc, "Tags") ?? null;
    if (typeof port !== "number" || !Number.isInteger(port))
      throw new DecodeError("json: cannot unmarshal into field Service.Port of type int");
    if (tags !== null && !(Array.isArray(tags) && tags.every((t) => typeof t === "string")))
      throw new DecodeError("json: cannot unmarshal into field Service.Tags of type []string");
    service = {
      id: str(svc, "ID") || name, // Consul: the ID defaults to the name
      service: name,
      tags,
      address: str(svc, "Address"),
      port,
      meta: strMap(field(svc, "Meta"), "Service.Meta") ?? {},
    };
  }
  const list = field(o, "Checks") ?? [];
  if (!Array.isArray(list)) throw new DecodeError("json: cannot unmarshal into field Checks of type []");
  const one = field(o, "Check");
  const checks = [...(one === undefined || one === null ? [] : [one]), ...(list as unknown[])].map((v) => {
    const c = asObject(v);
    const name = str(c, "Name");
    return {
      node: str(c, "Node") || node,
      checkId: str(c, "CheckID") || name, // Consul: the ID defaults to the name
      name,
      status: str(c, "Status"),
      notes: str(c, "Notes"),
      output: str(c, "Output"),
      serviceId: str(c, "ServiceID"),
    };
  });
  return {
    node,
    address: str(o, "Address"),
    id: str(o, "ID"),
    taggedAddresses: strMap(field(o, "TaggedAddresses"), "TaggedAddresses"),
    meta: strMap(field(o, "NodeMeta"), "NodeMeta") ?? {},
    skipNodeUpdate: field(o, "SkipNodeUpdate") === true,
    service,
    checks,
  };
}
