/** Tokenizer and parser tables: nginx's ngx_conf_read_token() rules, word for word. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseText } from "../../src/config/parser.js";
import { tokenize } from "../../src/config/lexer.js";
import { SyncgateError } from "../../src/lib/errors.js";

const words = (text: string): string[] =>
  tokenize(text, "/t.conf").tokens.map((t) => (t.kind === "word" ? t.value : t.kind));

test("words, terminators and blanks", () => {
  assert.deepEqual(words("a b;\n c {\td; }"), ["a", "b", ";", "c", "{", "d", ";", "}"]);
  assert.deepEqual(words("a\r\nb;"), ["a", "b", ";"]);
});

test("quotes and escapes as nginx unescapes them", () => {
  assert.deepEqual(words(`a "b c" 'd e';`), ["a", "b c", "d e", ";"]);
  assert.deepEqual(words(`a "x\\"y" 'p\\'q' "t\\tn\\nr\\r" "s\\\\";`), [
    "a",
    'x"y',
    "p'q",
    "t\tn\nr\r",
    "s\\",
    ";",
  ]);
  // Backslash pairs nginx does not know are kept as written (regexes need them).
  assert.deepEqual(words(`a ~^/x\\.y\\d;`), ["a", "~^/x\\.y\\d", ";"]);
  // An escaped blank keeps the word together; nginx keeps the backslash too.
  assert.deepEqual(words(`a b\\ c;`), ["a", "b\\ c", ";"]);
  assert.deepEqual(words(`a "multi\nline";`), ["a", "multi\nline", ";"]);
  // A ")" right after a closing quote is allowed and starts the next word (nginx's need_space state).
  assert.deepEqual(words(`a "b")c;`), ["a", "b", ")c", ";"]);
});

test("comments only at the start of a word", () => {
  assert.deepEqual(words("a b#c; # comment ; {\nd;"), ["a", "b#c", ";", "d", ";"]);
  assert.deepEqual(words(`a "#not";`), ["a", "#not", ";"]);
});

test("${var} inside a word does not open a block; } inside a word is part of it", () => {
  assert.deepEqual(words("a ${host}x b}c;"), ["a", "${host}x", "b}c", ";"]);
  assert.deepEqual(words("a $x{"), ["a", "$x", "{"]);
});

test("lines are counted across quoted strings and comments", () => {
  const t = tokenize('a "x\ny";\n# c\nb;', "/t.conf").tokens;
  assert.deepEqual(
    t.map((x) => x.line),
    [1, 1, 2, 4, 4],
  );
});

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SyncgateError);
    return err.message;
  }
  assert.fail("no error");
}

test("lexical and structural errors in nginx's words", () => {
  assert.equal(
    errorOf(() => parseText('a "b"c;', "/t.conf")),
    'unexpected "c" in /t.conf:1',
  );
  assert.equal(
    errorOf(() => parseText("a;\n}", "/t.conf")),
    'unexpected "}" in /t.conf:2',
  );
  assert.equal(
    errorOf(() => parseText("a {\n b c }", "/t.conf")),
    'unexpected "}" in /t.conf:2',
  );
  assert.equal(
    errorOf(() => parseText("a;\n;", "/t.conf")),
    'unexpected ";" in /t.conf:2',
  );
  assert.equal(
    errorOf(() => parseText("{", "/t.conf")),
    'unexpected "{" in /t.conf:1',
  );
  assert.equal(
    errorOf(() => parseText("a {\n b;\n", "/t.conf")),
    'unexpected end of file, expecting "}" in /t.conf:3',
  );
  assert.equal(
    errorOf(() => parseText("a b", "/t.conf")),
    'unexpected end of file, expecting ";" or "}" in /t.conf:1',
  );
  assert.equal(
    errorOf(() => parseText('a "b\n', "/t.conf")),
    'unexpected end of file, expecting ";" or "}" in /t.conf:2',
  );
  assert.equal(
    errorOf(() => parseText("daemon off", null)),
    'unexpected end of parameter, expecting ";" in command line',
  );
  assert.equal(
    errorOf(() => parseText("events {}", null)),
    "block directives are not supported in -g option in command line",
  );
});

test('a directive\'s line is where its ";" or "{" stands, as nginx reports errors', () => {
  const tree = parseText("a b\n  c;\nd\n{\n}\n", "/t.conf");
  assert.deepEqual(
    tree.map((d) => [d.name, d.line, d.endLine]),
    [
      ["a", 2, undefined],
      ["d", 4, 5],
    ],
  );
});

test("the tree keeps names, arguments, quoting, lines and blocks", () => {
  const tree = parseText('http {\n  server {\n    listen "80";\n  }\n}\n', "/t.conf");
  assert.deepEqual(tree, [
    {
      name: "http",
      args: [],
      quoted: [],
      file: "/t.conf",
      line: 1,
      block: [
        {
          name: "server",
          args: [],
          quoted: [],
          file: "/t.conf",
          line: 2,
          block: [{ name: "listen", args: ["80"], quoted: [true], file: "/t.conf", line: 3, block: null }],
          endLine: 4,
        },
      ],
      endLine: 5,
    },
  ]);
});
