/** Every module of directives, in the order their `finish` steps build the Config. */
import type { ConfigModule } from "../engine.js";
import { access } from "./access.js";
import { api } from "./api.js";
import { check } from "./check.js";
import { core } from "./core.js";
import { http } from "./http.js";
import { log } from "./log.js";
import { proxy } from "./proxy.js";
import { server } from "./server.js";
import { upstream } from "./upstream.js";
import { upsync } from "./upsync.js";
import { vars } from "./vars.js";

/**
 * Modules in finish order: `api` checks merged location settings, so after `server` and `access`; the variable
 * check runs last, once every regex capture is known.
 */
export const MODULES: readonly ConfigModule[] = [
  core,
  http,
  log,
  upstream,
  upsync,
  check,
  server,
  proxy,
  access,
  api,
  vars,
];
