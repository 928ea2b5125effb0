/**
 * Consul catalog modes (upsync spec §3.1–3.2): `consul_services` reads `GET /v1/catalog/service/<name>`,
 * `consul_health` reads `GET /v1/health/service/<name>`; attributes come from the service tags
 * (`weight=N`, `max_fails=N`, `fail_timeout=T`, `down`, `backup`) with the KV defaults.
 */
import {
  type ServerAddress,
  SnapshotBuilder,
  catalogAddress,
  isObject,
  member,
  parseBody,
  parseTags,
} from "./server-entry.js";
import type { Snapshot, TranslateContext, TranslateError } from "./types.js";

/** One service instance, whichever endpoint listed it. */
interface Instance {
  key: string;
  address: unknown;
  nodeAddress: unknown;
  port: unknown;
  tags: unknown;
  /** Whether every health check passes (always true for the catalog endpoint, which has none). */
  passing: boolean;
}

const text = (v: unknown): string => (typeof v === "string" ? v : "");

/** The instance's name in log lines: `node/service-id` (a service ID repeats across nodes). */
function instanceKey(node: unknown, id: unknown, i: number): string {
  const n = text(node);
  const s = text(id);
  return n || s ? `${n}/${s}` : `#${i}`;
}

function translate(
  body: unknown,
  ctx: TranslateContext,
  read: (entry: Record<string, unknown>, i: number) => Instance,
): Snapshot | TranslateError {
  const parsed = parseBody(body);
  if ("error" in parsed) return parsed;
  const out = new SnapshotBuilder(ctx.index, ctx);
  const root = parsed.json;
  if (root === null) return out.finish();
  if (!Array.isArray(root)) return { error: "upsync_parse_json: root is not an array of services" };
  root.forEach((entry: unknown, i: number) => {
    if (!isObject(entry)) {
      out.ignore(`#${i}`, `upsync_parse_json: element ${i} is not an object`);
      return;
    }
    const inst = read(entry, i);
    // The service address when set, else the node's (spec §3.1); missing both → skipped.
    const host = text(inst.address) || text(inst.nodeAddress);
    if (host === "") {
      out.ignore(inst.key, `upsync_parse_json: ${inst.key} has no address`);
      return;
    }
    const addr: ServerAddress | { reason: string } = catalogAddress(host, inst.port);
    if ("reason" in addr) {
      out.ignore(inst.key, addr.reason);
      return;
    }
    const value = parseTags(inst.tags);
    if (!inst.passing) value.attrs.down = true;
    out.add(inst.key, addr, value);
  });
  return out.finish();
}

/** `consul_services`: the catalog answer → Snapshot; health is not considered in this mode (spec §3.1). */
export function translateConsulServices(body: unknown, ctx: TranslateContext): Snapshot | TranslateError {
  return translate(body, ctx, (e, i) => ({
    key: instanceKey(member(e, "Node"), member(e, "ServiceID"), i),
    address: member(e, "ServiceAddress"),
    nodeAddress: member(e, "Address"),
    port: member(e, "ServicePort"),
    tags: member(e, "ServiceTags"),
    passing: true,
  }));
}

/**
 * A health answer's checks pass when every `Status` starts with `passing` (spec §3.2: `warning` and `critical`,
 * node checks such as `serfHealth` included, mark the server down). An entry without `Checks` counts as passing
 * (issue 4; the module dereferenced NULL and crashed).
 */
export function checksPass(checks: unknown): boolean {
  if (!Array.isArray(checks)) return true;
  return checks.every((c: unknown) => isObject(c) && text(member(c, "Status")).startsWith("passing"));
}

/** `consul_health`: the health answer → Snapshot; a server with a non-passing check is down, it stays listed. */
export function translateConsulHealth(body: unknown, ctx: TranslateContext): Snapshot | TranslateError {
  return translate(body, ctx, (e, i) => {
    const node = member(e, "Node");
    const service = member(e, "Service");
    const n = isObject(node) ? node : {};
    const s = isObject(service) ? service : {};
    return {
      key: instanceKey(member(n, "Node"), member(s, "ID"), i),
      address: member(s, "Address"),
      nodeAddress: member(n, "Address"),
      port: member(s, "Port"),
      tags: member(s, "Tags"),
      passing: checksPass(member(e, "Checks")),
    };
  });
}
