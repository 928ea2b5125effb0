/** nginx "complex values": text with `$name` / `${name}` references, split once and rendered per request. */

/** A literal piece or a variable reference. */
export type TemplatePart = string | { name: string };

/** Splits `text` into literal and variable parts (the adapter already refused unknown or unclosed names). */
export function splitTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  const re = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push({ name: m[1] ?? m[2]! });
    last = re.lastIndex;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** A compiled template: renders with a variable getter (missing variables render as ""). */
export type Template<C> = (ctx: C) => string;

/** Compiles `text` against a getter; a text without variables renders as a constant. */
export function compileTemplate<C>(text: string, get: (ctx: C, name: string) => string | null): Template<C> {
  const parts = splitTemplate(text);
  if (parts.every((p) => typeof p === "string")) return () => text;
  if (parts.length === 1) {
    const name = (parts[0] as { name: string }).name;
    return (ctx) => get(ctx, name) ?? "";
  }
  return (ctx) => {
    let out = "";
    for (const p of parts) out += typeof p === "string" ? p : (get(ctx, p.name) ?? "");
    return out;
  };
}
