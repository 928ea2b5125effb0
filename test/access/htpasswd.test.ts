/**
 * htpasswd files (auth_basic_user_file): every hash scheme against files made by Apache's htpasswd and openssl
 * (see test/fixtures/htpasswd/README.md), nginx's line rules, the mtime reload and nginx's error words.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { authFailureMessage, HtpasswdStore, parseHtpasswd } from "../../src/access/htpasswd.js";
import { tempDir } from "../support/tmp.js";

const FIX = fileURLToPath(new URL("../../../test/fixtures/htpasswd/", import.meta.url));
const fixture = (name: string): string => join(FIX, name);

const OK = { ok: true };
const MISMATCH = { ok: false, reason: "mismatch" };
const NO_USER = { ok: false, reason: "no-user" };
const UNSUPPORTED = { ok: false, reason: "unsupported-hash" };

/** file → [user, password] of every user it holds. */
const USERS: Record<string, [string, string][]> = {
  "apr1.htpasswd": [
    ["root", "123456"],
    ["jürgen", "pässwörd"],
  ],
  "bcrypt.htpasswd": [
    ["root", "123456"],
    ["alice", "correct horse"],
    ["bob", "s3cr3t:with:colons"],
    ["erin", "erin-pass"],
    ["frank", "frank-pass"],
    ["jürgen", "pässwörd"],
  ],
  "sha.htpasswd": [
    ["root", "123456"],
    ["carol", "sha-pass"],
    ["jürgen", "pässwörd"],
  ],
  "ssha.htpasswd": [
    ["root", "123456"],
    ["grace", "salted!"],
    ["jürgen", "pässwörd"],
  ],
  "plain.htpasswd": [
    ["root", "123456"],
    ["dave", "plain text"],
    ["jürgen", "pässwörd"],
  ],
  "md5crypt.htpasswd": [
    ["root", "123456"],
    ["ivan", "md5-crypt"],
  ],
  "multi.htpasswd": [
    ["root", "123456"],
    ["alice", "correct horse"],
    ["carol", "sha-pass"],
    ["dave", "plain text"],
    ["grace", "salted!"],
    ["ivan", "md5-crypt"],
  ],
};

for (const [file, users] of Object.entries(USERS)) {
  test(`${file}: right passwords pass, wrong ones and other users' do not`, async () => {
    const store = new HtpasswdStore();
    const path = fixture(file);
    for (const [user, password] of users) {
      assert.deepEqual(await store.verify(path, user, password), OK, `${user} / ${password}`);
      const wrong = [
        "",
        `${password}x`,
        password.slice(0, -1),
        password.toUpperCase(),
        ` ${password}`,
        ...users.filter(([u]) => u !== user).map(([, p]) => p),
      ].filter((w) => w !== password);
      for (const w of wrong) assert.deepEqual(await store.verify(path, user, w), MISMATCH, `${user} / ${w}`);
    }
    for (const stranger of ["nobody", "ROOT", "Alice", "", "root "]) {
      if (users.some(([u]) => u === stranger)) continue;
      assert.deepEqual(await store.verify(path, stranger, "123456"), NO_USER, stranger);
    }
  });
}

test("nginx's line rules: comments, blank lines, CRLF, first line wins, extra fields, no final newline", async () => {
  const store = new HtpasswdStore();
  const path = fixture("messy.htpasswd");
  assert.deepEqual(await store.verify(path, "root", "123456"), OK);
  assert.deepEqual(await store.verify(path, "root", "shadowed"), MISMATCH);
  assert.deepEqual(await store.verify(path, "alice", "correct horse"), OK);
  assert.deepEqual(await store.verify(path, "alice", "extra field"), MISMATCH);
  assert.deepEqual(await store.verify(path, "carol", "sha-pass"), NO_USER);
  assert.deepEqual(await store.verify(path, "#carol", "sha-pass"), NO_USER);
  assert.deepEqual(await store.verify(path, "dave", "plain text"), OK);
  assert.deepEqual(await store.verify(path, "  # indented", "x"), UNSUPPORTED);
  assert.deepEqual(await store.verify(path, "", ""), NO_USER);
});

test("the parsed table of a small file, exactly", () => {
  const text = "a:{PLAIN}1:x\r\n#b:{PLAIN}2\n\r\n\nc:{PLAIN}3\r\na:{PLAIN}4\nnocolon\nd:\ne:{PLAIN}5";
  assert.deepEqual(
    [...parseHtpasswd(text)],
    [
      ["a", { scheme: "plain", hash: "{PLAIN}1" }],
      ["c", { scheme: "plain", hash: "{PLAIN}3" }],
      ["d", { scheme: "unsupported", why: "empty hash" }],
      ["e", { scheme: "plain", hash: "{PLAIN}5" }],
    ],
  );
});

test("unknown hash formats never match and are reported once per file load", async () => {
  const warnings: string[] = [];
  const store = new HtpasswdStore({ warn: (m) => warnings.push(m) });
  const path = fixture("unsupported.htpasswd");
  const tries: [string, string][] = [
    ["dessy", "des-pass"],
    ["sha256", "x"],
    ["sha512", "x"],
    ["rawplain", "letmein"],
    ["empty", ""],
  ];
  for (const [user, password] of tries)
    assert.deepEqual(await store.verify(path, user, password), UNSUPPORTED, user);
  assert.deepEqual(await store.verify(path, "nobody", "x"), NO_USER);
  assert.deepEqual(warnings, [
    `unsupported password hash in "${path}": user "dessy" (DES crypt), user "sha256" (SHA-256 crypt), ` +
      `user "sha512" (SHA-512 crypt), user "rawplain" (unknown hash format), user "empty" (empty hash); ` +
      `these users can never log in`,
  ]);
  assert.deepEqual(
    await new HtpasswdStore().verify(fixture("multi.htpasswd"), "dessy", "des-pass"),
    UNSUPPORTED,
  );
});

test("malformed hashes of known schemes are unsupported, not mismatches", () => {
  const text = [
    "b:$2y$05$short",
    "c:$2y$32$C0T8bRW8xxzYkJIRS8BvmO9LOgn56PyZetkZfDRus6kV/Q/aXuqWK",
    "a:$apr1$toolongsalt$V1Er0yyVLDUpJihpR4brb.",
    "s:{SHA}notbase64",
    "ss:{SSHA}YWJj",
    "y:$y$j9T$salt$hash",
  ].join("\n");
  assert.deepEqual(
    [...parseHtpasswd(text)].map(([u, e]) => [u, e.scheme === "unsupported" ? e.why : e.scheme]),
    [
      ["b", "malformed bcrypt hash"],
      ["c", "malformed bcrypt hash"],
      ["a", "malformed MD5 hash"],
      ["s", "malformed SHA-1 hash"],
      ["ss", "malformed SHA-1 hash"],
      ["y", "yescrypt"],
    ],
  );
});

test("an {SSHA} value too short to hold a digest never matches", async () => {
  const store = new HtpasswdStore({
    readFile: () => Promise.resolve({ text: "u:{SSHA}YWJj\n", mtimeMs: 1 }),
  });
  assert.deepEqual(await store.verify("/f", "u", "abc"), UNSUPPORTED);
});

test("the file is re-read when its mtime changes, and only then", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, ".htpasswd");
  const store = new HtpasswdStore();
  writeFileSync(path, "root:{PLAIN}old\n");
  utimesSync(path, 1_000_000, 1_000_000);
  assert.deepEqual(await store.verify(path, "root", "old"), OK);

  // Same mtime: the cached file is used (nginx would see the change; we trade that for one stat per request).
  writeFileSync(path, "root:{PLAIN}new\n");
  utimesSync(path, 1_000_000, 1_000_000);
  assert.deepEqual(await store.verify(path, "root", "new"), MISMATCH);

  utimesSync(path, 1_000_010, 1_000_010);
  assert.deepEqual(await store.verify(path, "root", "new"), OK);
  assert.deepEqual(await store.verify(path, "root", "old"), MISMATCH);

  // Back to an apr1 file with an older mtime: any change of mtime reloads.
  writeFileSync(path, "root:$apr1$TFxDSKpp$V1Er0yyVLDUpJihpR4brb.\n");
  utimesSync(path, 999_000, 999_000);
  assert.deepEqual(await store.verify(path, "root", "123456"), OK);
  assert.deepEqual(await store.verify(path, "root", "new"), MISMATCH);
});

test("an injected reader is called per request and its text parsed once per mtime", async () => {
  const reads: string[] = [];
  const warnings: string[] = [];
  let file = { text: "u:{PLAIN}one\nbad:xyz\n", mtimeMs: 5 };
  const store = new HtpasswdStore({
    readFile: (p) => (reads.push(p), Promise.resolve(file)),
    warn: (m) => warnings.push(m),
  });
  assert.deepEqual(await store.verify("/h", "u", "one"), OK);
  file = { text: "u:{PLAIN}two\nbad:xyz\n", mtimeMs: 5 };
  assert.deepEqual(await store.verify("/h", "u", "two"), MISMATCH);
  file = { text: "u:{PLAIN}two\nbad:xyz\n", mtimeMs: 6 };
  assert.deepEqual(await store.verify("/h", "u", "two"), OK);
  assert.deepEqual(reads, ["/h", "/h", "/h"]);
  const w = `unsupported password hash in "/h": user "bad" (unknown hash format); these users can never log in`;
  assert.deepEqual(warnings, [w, w]);
});

test("files are cached per path", async () => {
  const store = new HtpasswdStore();
  assert.deepEqual(await store.verify(fixture("apr1.htpasswd"), "root", "123456"), OK);
  assert.deepEqual(await store.verify(fixture("bcrypt.htpasswd"), "alice", "correct horse"), OK);
  assert.deepEqual(await store.verify(fixture("apr1.htpasswd"), "alice", "correct horse"), NO_USER);
  assert.deepEqual(await store.verify(fixture("sha.htpasswd"), "carol", "sha-pass"), OK);
  assert.deepEqual(await store.verify(fixture("bcrypt.htpasswd"), "carol", "sha-pass"), NO_USER);
});

test("a missing file: nginx's open() words, 403 at level error; never a success", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "missing");
  const store = new HtpasswdStore();
  assert.deepEqual(await store.verify(path, "root", "123456"), {
    error: `open() "${path}" failed (2: No such file or directory)`,
    status: 403,
    level: "error",
  });
  // Errors are not cached: the file is read once it exists.
  writeFileSync(path, "root:{PLAIN}123456\n");
  assert.deepEqual(await store.verify(path, "root", "123456"), OK);
  // A file that disappears is an error again, not the cached copy.
  rmSync(path);
  assert.deepEqual(await store.verify(path, "root", "123456"), {
    error: `open() "${path}" failed (2: No such file or directory)`,
    status: 403,
    level: "error",
  });
});

test("a directory: nginx opens it and its pread() fails, 500 at level crit", async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, "htpasswd.d"));
  const path = join(dir, "htpasswd.d");
  assert.deepEqual(await new HtpasswdStore().verify(path, "root", "123456"), {
    error: `pread() "${path}" failed (21: Is a directory)`,
    status: 500,
    level: "crit",
  });
});

test("a path through a file, and a reader that is refused: open() words, 500 at level crit", async (t) => {
  const dir = tempDir(t, { plain: "root:{PLAIN}x\n" });
  const path = join(dir, "plain", "htpasswd");
  assert.deepEqual(await new HtpasswdStore().verify(path, "root", "x"), {
    error: `open() "${path}" failed (20: Not a directory)`,
    status: 500,
    level: "crit",
  });
  const denied = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES", syscall: "open" });
  const store = new HtpasswdStore({ readFile: () => Promise.reject(denied) });
  assert.deepEqual(await store.verify("/etc/secret", "root", "x"), {
    error: `open() "/etc/secret" failed (13: Permission denied)`,
    status: 500,
    level: "crit",
  });
});

test("concurrent requests share one read, so a change is parsed and reported once", async () => {
  let reads = 0;
  const warnings: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const store = new HtpasswdStore({
    readFile: async () => {
      reads++;
      await gate;
      return { text: "u:{PLAIN}pw\nbad:?\n", mtimeMs: 1 };
    },
    warn: (m) => warnings.push(m),
  });
  const results = Promise.all([
    store.verify("/h", "u", "pw"),
    store.verify("/h", "u", "no"),
    store.verify("/h", "x", ""),
  ]);
  release();
  assert.deepEqual(await results, [OK, MISMATCH, NO_USER]);
  assert.equal(reads, 1);
  assert.equal(warnings.length, 1);
  assert.deepEqual(await store.verify("/h", "u", "pw"), OK);
  assert.equal(reads, 2);
});

test("failure log lines in nginx's words", () => {
  assert.equal(
    authFailureMessage("/etc/sg/.htpasswd", "bob", "no-user"),
    'user "bob" was not found in "/etc/sg/.htpasswd"',
  );
  assert.equal(authFailureMessage("/etc/sg/.htpasswd", "bob", "mismatch"), 'user "bob": password mismatch');
  assert.equal(
    authFailureMessage("/etc/sg/.htpasswd", "bob", "unsupported-hash"),
    'user "bob": unsupported password hash in "/etc/sg/.htpasswd"',
  );
});
