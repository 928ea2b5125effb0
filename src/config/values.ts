/**
 * Value syntaxes of nginx's configuration (src/core/ngx_parse.c): times such as "1h 30m", "500ms", "75"
 * (seconds), sizes such as "1m", "8k", "4096" (bytes). Every parser returns null for an invalid value.
 */

const TIME_ORDER = ["y", "M", "w", "d", "h", "m", "s", "ms"] as const;
const TIME_SCALE: Record<string, number> = {
  y: 365 * 24 * 3600_000,
  M: 30 * 24 * 3600_000,
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

/**
 * Parses an nginx time into milliseconds. Units y M w d h m s ms must come in decreasing order, a bare number
 * means seconds, blanks may separate parts. With `seconds` true (nginx's "sec" directives) "ms" is refused;
 * without it "y" and "M" are refused, as ngx_parse_time() does (its millisecond mode starts at st_month).
 */
export function parseTime(text: string, seconds = false): number | null {
  const s = text.trim();
  if (s === "") return null;
  const re = /(\d+)(ms|[yMwdhms])?\s*/y;
  let total = 0;
  let lastRank = -1;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return null;
    const unit = m[2] ?? "s";
    const rank = TIME_ORDER.indexOf(unit as (typeof TIME_ORDER)[number]);
    if (rank <= lastRank || (seconds && unit === "ms") || (!seconds && (unit === "y" || unit === "M")))
      return null;
    lastRank = rank;
    total += Number(m[1]) * TIME_SCALE[unit]!;
    pos = re.lastIndex;
    if (m[2] === undefined && pos < s.length) return null;
  }
  return Number.isSafeInteger(total) && total <= 0x7fffffff * 1000 ? total : null;
}

/** Parses an nginx size ("512", "8k", "1m", "1g") into bytes. */
export function parseSize(text: string): number | null {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text);
  if (!m) return null;
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()] ?? 1;
  const n = Number(m[1]) * scale;
  return Number.isSafeInteger(n) ? n : null;
}

/** Parses a non-negative decimal integer, as ngx_atoi() does. */
export function parseNumber(text: string): number | null {
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n <= 0x7fffffff ? n : null;
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate within two edits (or one for short words), or null. */
export function closest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = word.length <= 4 ? 1 : 2;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d <= bestDistance && (best === null || d < bestDistance)) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
