/**
 * The churn runs' load: wrk as bench/load.ts runs it, but keeping wrk's socket errors by kind (a reload that
 * closes keep-alive connections shows as read errors); autocannon, which has no breakdown, through runLoad.
 */
import { runLoad, runWrkDetailed, type LoadResult, type LoadSpec, type SocketErrorKinds } from "../load.js";
import type { Tools } from "../system.js";

/** A load run with the socket errors by kind (null with autocannon). */
export interface DetailedLoad extends LoadResult {
  socketErrorKinds: SocketErrorKinds | null;
}

/** One load run of `spec`, with wrk when there is one. */
export async function runDetailedLoad(
  tools: Tools,
  wrkScript: string,
  spec: LoadSpec,
): Promise<DetailedLoad> {
  if (tools.wrk === null) return { ...(await runLoad(tools, wrkScript, spec)), socketErrorKinds: null };
  const { load, kinds } = await runWrkDetailed(tools.wrk, wrkScript, spec);
  return { ...load, socketErrorKinds: kinds };
}
