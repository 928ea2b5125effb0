/**
 * The catalog and health endpoints (https://developer.hashicorp.com/consul/api-docs/catalog, .../health):
 * `GET /v1/catalog/service/:service`, `GET /v1/health/service/:service`, `PUT /v1/catalog/register` and
 * `PUT /v1/catalog/deregister`.
 */
import type { ServerResponse } from "node:http";
import type { BlockingQueries } from "./blocking.js";
import type { CatalogTables } from "./catalog.js";
import { asObject, DecodeError, registration, str } from "./catalog-decode.js";
import { catalogEntry, healthEntry, onlyPassing } from "./catalog-entries.js";
import { ConsulWriteError } from "./catalog-types.js";
import { goBool } from "./go-parse.js";
import { consulHead, json, text } from "./http.js";

/**
 * `GET /v1/catalog/service/:service` and `GET /v1/health/service/:service`: every instance (a tag filter
 * `?tag=` per tag, ANDed, case-insensitive; health's `?passing` drops instances with a non-passing check), an
 * unknown service is 200 `[]`; X-Consul-Index is serviceIndex(). A held query wakes only for writes to its
 * service (Consul may also return early on unrelated writes — allowed by its blocking contract — the double
 * never does, so tests stay exact).
 */
export function readService(
  catalog: CatalogTables,
  blocking: BlockingQueries,
  kind: "catalog" | "health",
  name: string,
  q: URLSearchParams,
  res: ServerResponse,
): void {
  const params = blocking.params(q, res);
  if (!params) return;
  const passingText = q.get("passing");
  const passing = kind === "health" && passingText !== null && goBool(passingText || "true");
  if (passing === null) return text(res, 400, "Invalid value for ?passing");
  if (name === "") return text(res, 400, "Missing service name");
  const lower = name.toLowerCase();
  const tags = q.getAll("tag").map((t) => t.toLowerCase());
  const indexNow = (): number => catalog.serviceIndex(lower, kind === "health");
  const answer = (): void => {
    const rows = catalog
      .instances(lower)
      .filter((s) => tags.every((t) => (s.tags ?? []).some((x) => x.toLowerCase() === t)));
    const head = consulHead(indexNow());
    if (kind === "catalog")
      return json(
        res,
        200,
        rows.map((s) => catalogEntry(catalog.nodeOf(s), s)),
        head,
      );
    let entries = rows.map((s) => ({ s, checks: catalog.checksOf(s) }));
    if (passing) entries = onlyPassing(entries);
    const body = entries.map(({ s, checks }) => healthEntry(catalog.nodeOf(s), s, checks));
    json(res, 200, body, head);
  };
  const concerns = (table: string, k: string): boolean => table === "service" && k === lower;
  blocking.hold(params, res, concerns, indexNow, answer);
}

/** `PUT /v1/catalog/register` and `PUT /v1/catalog/deregister`: `true`, 400 for bad JSON, 500 when refused. */
export function catalogWrite(
  catalog: CatalogTables,
  register: boolean,
  body: Buffer,
  res: ServerResponse,
): void {
  let root: unknown;
  try {
    root = JSON.parse(body.toString("utf8"));
  } catch (err) {
    return text(res, 400, `Request decode failed: ${String(err)}`);
  }
  try {
    const o = asObject(root);
    if (register) catalog.register(registration(o));
    else catalog.deregister(str(o, "Node"), str(o, "ServiceID"), str(o, "CheckID"));
  } catch (err) {
    if (err instanceof DecodeError) return text(res, 400, `Request decode failed: ${err.message}`);
    if (err instanceof ConsulWriteError) return text(res, 500, err.message);
    throw err;
  }
  json(res, 200, true);
}
