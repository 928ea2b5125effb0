/** The watch loop of each `upsync_type`. */
import type { UpsyncType } from "../config/types.js";
import { watchConsul } from "./consul-source.js";
import { watchFile } from "./file-source.js";
import type { Watch } from "./types.js";

export const WATCHES: Record<UpsyncType, Watch> = {
  consul: watchConsul,
  consul_services: watchConsul,
  consul_health: watchConsul,
  etcd: watchConsul,
  etcd3: watchConsul,
  file: watchFile,
};
