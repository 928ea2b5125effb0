/**
 * nginx configuration tokenizer. It follows ngx_conf_read_token() in nginx's src/core/ngx_conf_file.c:
 * words are split on blanks, `;`, `{`; a `}` only ends a statement at the start of a word; `#` starts a comment
 * only at the start of a word; quotes make one word that must be followed by a blank, `;`, `{` or `)`;
 * `\"`, `\'`, `\\`, `\t`, `\r`, `\n` are unescaped and any other backslash pair is kept as written;
 * `${` inside a word does not open a block.
 */
import { configError } from "../lib/errors.js";

/** One token of the configuration text. */
export type Token =
  { kind: "word"; value: string; line: number; quoted: boolean } | { kind: ";" | "{" | "}"; line: number };

/** Tokens plus the line the text ended on (for "unexpected end of file" messages). */
export interface Tokens {
  tokens: Token[];
  lastLine: number;
}

const isBlank = (c: string): boolean => c === " " || c === "\t" || c === "\r" || c === "\n";

/** Splits configuration text into tokens; throws an `[emerg]` naming file:line on a lexical error. */
export function tokenize(text: string, file: string | null): Tokens {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  const fail = (message: string): never => {
    throw configError(message, { file, line });
  };

  while (i < n) {
    const c = text[i]!;
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (isBlank(c)) {
      i++;
      continue;
    }
    if (c === ";" || c === "{" || c === "}") {
      tokens.push({ kind: c, line });
      i++;
      continue;
    }
    if (c === "#") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }

    const startLine = line;
    if (c === '"' || c === "'") {
      // Quoted word: runs to the matching quote, may span lines, backslash escapes the next character.
      let j = i + 1;
      let raw = "";
      let closed = false;
      while (j < n) {
        const ch = text[j]!;
        if (ch === "\n") line++;
        if (ch === "\\" && j + 1 < n) {
          if (text[j + 1] === "\n") line++;
          raw += ch + text[j + 1]!;
          j += 2;
          continue;
        }
        if (ch === c) {
          closed = true;
          j++;
          break;
        }
        raw += ch;
        j++;
      }
      if (!closed) fail('unexpected end of file, expecting ";" or "}"');
      tokens.push({ kind: "word", value: unescape(raw), line: startLine, quoted: true });
      i = j;
      // After a closing quote nginx needs a blank, ";", "{" or ")"; a ")" is not skipped: it starts the next
      // word, as in ngx_conf_read_token().
      if (i < n) {
        const next = text[i]!;
        if (next !== ")" && !isBlank(next) && next !== ";" && next !== "{") {
          fail(`unexpected "${next}"`);
        }
      }
      continue;
    }

    // Unquoted word.
    let j = i;
    let raw = "";
    let variable = false;
    while (j < n) {
      const ch = text[j]!;
      if (ch === "{" && variable) {
        raw += ch;
        j++;
        variable = false;
        continue;
      }
      variable = false;
      if (ch === "\\" && j + 1 < n) {
        if (text[j + 1] === "\n") line++;
        raw += ch + text[j + 1]!;
        j += 2;
        continue;
      }
      if (ch === "$") {
        variable = true;
        raw += ch;
        j++;
        continue;
      }
      if (isBlank(ch) || ch === ";" || ch === "{") break;
      raw += ch;
      j++;
    }
    tokens.push({ kind: "word", value: unescape(raw), line: startLine, quoted: false });
    i = j;
  }
  return { tokens, lastLine: line };
}

/** nginx's unescaping of a word: `\"`, `\'`, `\\` give the character, `\t`, `\r`, `\n` the control. */
function unescape(raw: string): string {
  if (!raw.includes("\\")) return raw;
  let out = "";
  for (let k = 0; k < raw.length; k++) {
    const ch = raw[k]!;
    if (ch === "\\" && k + 1 < raw.length) {
      const nx = raw[k + 1]!;
      if (nx === '"' || nx === "'" || nx === "\\") {
        out += nx;
        k++;
        continue;
      }
      if (nx === "t" || nx === "r" || nx === "n") {
        out += nx === "t" ? "\t" : nx === "r" ? "\r" : "\n";
        k++;
        continue;
      }
    }
    out += ch;
  }
  return out;
}
