/**
 * Log timestamps as nginx caches them in ngx_time_update() (src/core/ngx_times.c): local time, written with the
 * zone's offset, recomputed at most once per second.
 */

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Minutes east of UTC at an instant (nginx's `gmtoff`); the default reads the process time zone. */
export type OffsetOf = (ms: number) => number;

/** The three timestamp shapes nginx logs, for one time zone. */
export interface LogTimes {
  /** `$time_local`: "25/Nov/2026:12:00:00 +0000". */
  timeLocal(ms: number): string;
  /** `$time_iso8601`: "2026-11-25T12:00:00+00:00". */
  timeIso8601(ms: number): string;
  /** Error log prefix: "2026/11/25 12:00:00". */
  errorLogTime(ms: number): string;
}

/** The process time zone's offset, as localtime()'s tm_gmtoff gives it. */
export const localOffset: OffsetOf = (ms) => -new Date(ms).getTimezoneOffset();

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** Timestamp formatters with a one-second cache; `offsetOf` is injectable so tests pin the zone. */
export function logTimes(offsetOf: OffsetOf = localOffset): LogTimes {
  let sec = NaN;
  let local = "";
  let iso = "";
  let err = "";

  // nginx fills every cached string in one pass when the second changes; so do we.
  const update = (ms: number): void => {
    const s = Math.floor(ms / 1000);
    if (s === sec) return;
    const off = offsetOf(s * 1000);
    const d = new Date((s + off * 60) * 1000);
    const [y, mo, day] = [d.getUTCFullYear(), d.getUTCMonth(), pad2(d.getUTCDate())];
    const hms = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
    // C's truncating `/` and `%`, as ngx_abs(gmtoff / 60), ngx_abs(gmtoff % 60).
    const sign = off < 0 ? "-" : "+";
    const oh = pad2(Math.abs(Math.trunc(off / 60)));
    const om = pad2(Math.abs(off % 60));
    local = `${day}/${MONTHS[mo]!}/${y}:${hms} ${sign}${oh}${om}`;
    iso = `${y}-${pad2(mo + 1)}-${day}T${hms}${sign}${oh}:${om}`;
    err = `${y}/${pad2(mo + 1)}/${day} ${hms}`;
    sec = s;
  };

  return {
    timeLocal(ms) {
      update(ms);
      return local;
    },
    timeIso8601(ms) {
      update(ms);
      return iso;
    },
    errorLogTime(ms) {
      update(ms);
      return err;
    },
  };
}

const shared = logTimes();

/** `$time_local` in the process time zone. */
export const timeLocal = (ms: number): string => shared.timeLocal(ms);
/** `$time_iso8601` in the process time zone. */
export const timeIso8601 = (ms: number): string => shared.timeIso8601(ms);
/** The error log's timestamp in the process time zone. */
export const errorLogTime = (ms: number): string => shared.errorLogTime(ms);
