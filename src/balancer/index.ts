/** The balancers, registered by method name (STYLE habit 1): the one place that maps config to a policy. */
import type { BalancerConf } from "../config/types.js";
import { closest } from "../config/values.js";
import { SyncgateError } from "../lib/errors.js";
import { ConsistentHashBalancer, HashBalancer } from "./hash.js";
import { IpHashBalancer } from "./ip-hash.js";
import { LeastConnBalancer } from "./least-conn.js";
import { RandomBalancer, type RandomSource } from "./random.js";
import { RoundRobinBalancer } from "./round-robin.js";
import type { Balancer } from "./types.js";

export type { Balancer, PickRequest } from "./types.js";

/** Options for createBalancer: injected sources of randomness. */
export interface BalancerOptions {
  random?: RandomSource;
}

type Factories = {
  [M in BalancerConf["method"]]: (
    conf: Extract<BalancerConf, { method: M }>,
    opts: BalancerOptions,
  ) => Balancer;
};

const FACTORIES: Factories = {
  round_robin: () => new RoundRobinBalancer(),
  least_conn: () => new LeastConnBalancer(),
  ip_hash: () => new IpHashBalancer(),
  hash: (conf) => (conf.consistent ? new ConsistentHashBalancer() : new HashBalancer()),
  random: (conf, opts) => new RandomBalancer(conf.two, opts.random),
};

/** Method names createBalancer knows. */
export const BALANCER_METHODS = Object.keys(FACTORIES) as BalancerConf["method"][];

/** Builds the balancer for an upstream's method; an unknown method name throws SG_ERR_CONFIG. */
export function createBalancer(conf: BalancerConf, opts: BalancerOptions = {}): Balancer {
  const method: string = conf.method;
  if (!Object.hasOwn(FACTORIES, method)) {
    const err = new SyncgateError("SG_ERR_CONFIG", `unknown balancer "${method}"`);
    const hint = closest(method, BALANCER_METHODS);
    if (hint) err.hint = `did you mean ${hint}?`;
    throw err;
  }
  const make = FACTORIES[conf.method] as (conf: BalancerConf, opts: BalancerOptions) => Balancer;
  return make(conf, opts);
}
