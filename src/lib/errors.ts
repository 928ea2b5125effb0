/** Stable error codes: each maps to one exit status and, for request errors, one HTTP status. */
export type ErrorCode = "SG_ERR_CONFIG" | "SG_ERR_USAGE" | "SG_ERR_SIGNAL" | "SG_ERR_IO";

/** Exit status for each code, in one place (nginx exits 1 on every configuration failure). */
export const EXIT_STATUS: Record<ErrorCode, number> = {
  SG_ERR_CONFIG: 1,
  SG_ERR_USAGE: 1,
  SG_ERR_SIGNAL: 1,
  SG_ERR_IO: 1,
};

/** nginx log levels, most severe first (the order nginx's `error_log` uses). */
export const LOG_LEVELS = ["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"] as const;
/** One nginx log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** An error with a stable code; `message` is already in nginx's words (without the "syncgate: [level]" prefix). */
export class SyncgateError extends Error {
  /** Stable code for programs. */
  readonly code: ErrorCode;
  /** nginx log level the message is printed at. */
  readonly level: LogLevel;
  /** A hint printed on its own line after the error (e.g. "did you mean ..."). */
  hint?: string;

  constructor(code: ErrorCode, message: string, level: LogLevel = "emerg") {
    super(message);
    this.name = "SyncgateError";
    this.code = code;
    this.level = level;
  }
}

/** Where a configuration node came from; `file` is null for the `-g` command line. */
export interface SourcePos {
  file: string | null;
  line: number;
}

/** Appends nginx's " in FILE:LINE" (or " in command line") to a configuration message. */
export function at(message: string, pos: SourcePos): string {
  return pos.file === null ? `${message} in command line` : `${message} in ${pos.file}:${pos.line}`;
}

/** A configuration error naming file:line, printed as `syncgate: [emerg] MESSAGE in FILE:LINE`. */
export function configError(message: string, pos: SourcePos | null): SyncgateError {
  return new SyncgateError("SG_ERR_CONFIG", pos ? at(message, pos) : message);
}

/** Formats a system error the way nginx does: `(2: No such file or directory)`. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? "";
  const known = ERRNO[code];
  if (known) return `(${known[0]}: ${known[1]})`;
  return `(${code || "error"}: ${e.message ?? String(err)})`;
}

const ERRNO: Record<string, [number, string]> = {
  ENOENT: [2, "No such file or directory"],
  EACCES: [13, "Permission denied"],
  EISDIR: [21, "Is a directory"],
  ENOTDIR: [20, "Not a directory"],
  ESRCH: [3, "No such process"],
  EPERM: [1, "Operation not permitted"],
  EEXIST: [17, "File exists"],
  EADDRINUSE: [98, "Address already in use"],
  EADDRNOTAVAIL: [99, "Cannot assign requested address"],
  ELOOP: [40, "Too many levels of symbolic links"],
  EMFILE: [24, "Too many open files"],
  ENOSPC: [28, "No space left on device"],
  ECONNREFUSED: [111, "Connection refused"],
  ECONNRESET: [104, "Connection reset by peer"],
  ETIMEDOUT: [110, "Connection timed out"],
  EPIPE: [32, "Broken pipe"],
  EHOSTUNREACH: [113, "No route to host"],
  ENETUNREACH: [101, "Network is unreachable"],
  ECONNABORTED: [103, "Software caused connection abort"],
  EROFS: [30, "Read-only file system"],
};
