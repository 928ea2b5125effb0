/** `syncgate -s stop|quit|reload|reopen`: signals the server whose pid is in the pid file, as nginx -s. */
import { readFileSync } from "node:fs";
import { errnoText, SyncgateError } from "../lib/errors.js";

/** nginx's signal names and the POSIX signals they send. */
export const SIGNALS: Record<string, NodeJS.Signals> = {
  stop: "SIGTERM",
  quit: "SIGQUIT",
  reload: "SIGHUP",
  reopen: "SIGUSR1",
};

/** Sends `name` to the process in `pidFile`; throws a SyncgateError in nginx's words. */
export function sendSignal(name: string, pidFile: string, kill = process.kill.bind(process)): void {
  const signal = SIGNALS[name];
  if (!signal) throw new SyncgateError("SG_ERR_USAGE", `invalid option: "-s ${name}"`);
  let text: string;
  try {
    text = readFileSync(pidFile, "utf8");
  } catch (err) {
    throw new SyncgateError("SG_ERR_SIGNAL", `open() "${pidFile}" failed ${errnoText(err)}`, "error");
  }
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) <= 0) {
    throw new SyncgateError("SG_ERR_SIGNAL", `invalid PID number "${trimmed}" in "${pidFile}"`, "error");
  }
  const pid = Number(trimmed);
  try {
    kill(pid, signal);
  } catch (err) {
    throw new SyncgateError(
      "SG_ERR_SIGNAL",
      `kill(${pid}, ${signalNumber(signal)}) failed ${errnoText(err)}`,
      "alert",
    );
  }
}

function signalNumber(s: NodeJS.Signals): number {
  return { SIGTERM: 15, SIGQUIT: 3, SIGHUP: 1, SIGUSR1: 10 }[s as string] ?? 0;
}
