/** Health probes, one per check type (check spec §2): the pure protocol parts and the socket runner. */
export { ProbeConnection } from "./kept.js";
export { PROBE_PROTOCOLS, probeParser, probeRequest } from "./registry.js";
export { MAX_ANSWER, probeAddress, probePort, runProbe, startProbe } from "./run.js";
export type {
  AnswerReader,
  AnswerVerdict,
  ProbeParser,
  ProbeProtocol,
  ProbeResult,
  ProbeVerdict,
} from "./types.js";
