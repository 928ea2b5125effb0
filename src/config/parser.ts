/**
 * Statements and blocks from tokens, as ngx_conf_parse() reads them: a statement ends with ";" or opens a
 * block with "{"; "}" closes the block it is in. Every node keeps its file and line. `include` is kept as a
 * node and expanded by the adapter where it stands, so errors come in file order, as nginx reports them.
 */
import { configError } from "../lib/errors.js";
import { tokenize } from "./lexer.js";

/** One directive of the configuration, with its source position. */
export interface Directive {
  /** Directive name (first word). */
  name: string;
  /** Arguments after the name, unescaped. */
  args: string[];
  /** Whether each argument was quoted. */
  quoted: boolean[];
  /** File it came from; null for the `-g` command line. */
  file: string | null;
  /** Line of its terminating ";" or "{": where nginx reports errors in it (the current line when it is read). */
  line: number;
  /** Children of a block directive; null when the statement ended with ";". */
  block: Directive[] | null;
  /** Line of the "}" that closes a block directive (where nginx reports errors found at its end). */
  endLine?: number;
}

/** Parses configuration text; `file` null means the `-g` option (no blocks, nginx's messages for it). */
export function parseText(text: string, file: string | null): Directive[] {
  const { tokens, lastLine } = tokenize(text, file);
  let pos = 0;
  let closeLine = 0;

  const readBlock = (depth: number): Directive[] => {
    const out: Directive[] = [];
    let words: { value: string; line: number; quoted: boolean }[] = [];
    for (;;) {
      const t = tokens[pos++];
      if (t === undefined) {
        if (words.length > 0) {
          throw configError(
            file === null
              ? 'unexpected end of parameter, expecting ";"'
              : 'unexpected end of file, expecting ";" or "}"',
            { file, line: lastLine },
          );
        }
        if (depth > 0) throw configError('unexpected end of file, expecting "}"', { file, line: lastLine });
        return out;
      }
      if (t.kind === "word") {
        words.push(t);
        continue;
      }
      if (t.kind === "}") {
        if (words.length > 0 || depth === 0) throw configError('unexpected "}"', { file, line: t.line });
        closeLine = t.line;
        return out;
      }
      if (words.length === 0) throw configError(`unexpected "${t.kind}"`, { file, line: t.line });
      const first = words[0]!;
      const node: Directive = {
        name: first.value,
        args: words.slice(1).map((w) => w.value),
        quoted: words.slice(1).map((w) => w.quoted),
        file,
        line: t.line,
        block: null,
      };
      words = [];
      if (t.kind === "{") {
        if (file === null) {
          throw configError("block directives are not supported in -g option", { file, line: t.line });
        }
        node.block = readBlock(depth + 1);
        node.endLine = closeLine;
      }
      out.push(node);
    }
  };

  return readBlock(0);
}
