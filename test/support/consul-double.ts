/**
 * A Consul agent double for tests (DESIGN §5): the KV, catalog and health parts of Consul's documented HTTP API, on
 * 127.0.0.1, port 0.
 * KV follows https://developer.hashicorp.com/consul/api-docs/kv and .../features/blocking: keys sorted, base64 `Value`
 * (null when empty), 404 with `X-Consul-Index` when nothing matches, `?recurse`, `?keys` (+ `separator`), `?raw`,
 * blocking queries (`index`, `wait` up to 10 min, default 5 min, plus up to wait/16 of jitter), one raft-like index
 * raised by every write, tombstones for deleted keys (so a list's index never drops until they are reaped), and
 * ACL tokens (`X-Consul-Token`, `Authorization: Bearer`, `?token=`).
 * The catalog follows .../api-docs/catalog and .../api-docs/health: `GET /v1/catalog/service/:service` and
 * `GET /v1/health/service/:service` (`?tag=`, `?passing`, blocking, 200 `[]` for an unknown service, Consul's
 * per-service index — see serviceIndex()), `PUT /v1/catalog/register` and `PUT /v1/catalog/deregister`, and the
 * same writes in-process: registerService(), deregisterService(), deregisterNode(), setCheck(), deregisterCheck().
 * Test controls: stop()/start() on the same port, setIndex() and reapTombstones() to move the index backwards,
 * respondWith() to inject faults.
 * The parts live in ./consul/ (server and controls, blocking queries, faults, KV, catalog, Go parsing); this
 * entry is what tests and the benchmark import. Production code must never import any of it.
 */
export { ConsulWriteError } from "./consul/catalog-types.js";
export type { CheckRegistration, CheckStatus, ServiceRegistration } from "./consul/catalog-types.js";
export { ConsulDouble, type ConsulDoubleOptions, startConsulDouble } from "./consul/double.js";
export type { Injected } from "./consul/faults.js";
export { parseGoDuration } from "./consul/go-parse.js";
export type { SeenRequest } from "./consul/http.js";
export type { KvEntry } from "./consul/kv.js";
