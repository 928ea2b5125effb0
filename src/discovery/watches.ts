/** The watch loop of each `upsync_type`. */
import type { UpsyncType } from "../config/types.js";
import { watchConsul } from "./consul-source.js";
import { watchEtcd2 } from "./etcd2-source.js";
import { watchEtcd3 } from "./etcd3-source.js";
import { watchFile } from "./file-source.js";
import type { Watch } from "./types.js";

export const WATCHES: Record<UpsyncType, Watch> = {
  consul: watchConsul,
  consul_services: watchConsul,
  consul_health: watchConsul,
  etcd: watchEtcd2,
  etcd3: watchEtcd3,
  file: watchFile,
};
