/** Health probes, one per check type (check spec §2): the pure protocol parts and the socket runner. */
export { PROBE_PROTOCOLS, probeParser, probeRequest } from "./registry.js";
export { MAX_ANSWER, probeAddress, probePort, runProbe } from "./run.js";
export type { ProbeParser, ProbeProtocol, ProbeResult, ProbeVerdict } from "./types.js";
