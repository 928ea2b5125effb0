/** Go's parsers for the query parameters Consul reads with them (`wait`, `passing`). */

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration (what Consul uses for `wait`), in ms; null when invalid. */
export function parseGoDuration(text: string): number | null {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return null;
    ms += Number(m[1]) * (UNITS[m[2] ?? ""] ?? 0);
    at = re.lastIndex;
  }
  return at === 0 ? null : ms;
}

/** Go's strconv.ParseBool (what Consul reads `?passing=` with); null when invalid. */
export function goBool(v: string): boolean | null {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  return null;
}
