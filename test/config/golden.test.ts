/**
 * Golden tests of the configuration: each `cases/NAME.conf` is loaded; `NAME.json` holds the expected adapted
 * value (the part named by the file's first line `# select: PATH`, the whole Config otherwise) and the
 * notices/warnings, `NAME.err` the exact lines `syncgate -t` prints and exit status 1.
 * The cases folder is the prefix; it is written `<prefix>` in expected files.
 * Set SYNCGATE_UPDATE_GOLDEN=1 to rewrite expected files after a deliberate change (then review the diff).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/adapt.js";
import { runCli } from "../support/cli.js";
import { testEnv } from "../support/env.js";

const CASES = fileURLToPath(new URL("../../../test/config/cases/", import.meta.url)).replace(/\/$/, "");
const UPDATE = process.env["SYNCGATE_UPDATE_GOLDEN"] === "1";

const names = readdirSync(CASES)
  .filter((f) => f.endsWith(".conf"))
  .map((f) => f.slice(0, -5))
  .sort();

const hide = (text: string): string => text.split(CASES).join("<prefix>");

function select(value: unknown, path: string): unknown {
  let v = value;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") throw new Error(`select: no "${part}" in ${path}`);
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

test("there are at least 40 golden cases", () => {
  assert.ok(names.length >= 40, `only ${names.length} cases`);
});

for (const name of names) {
  const confPath = join(CASES, `${name}.conf`);
  const jsonPath = join(CASES, `${name}.json`);
  const errPath = join(CASES, `${name}.err`);
  test(`golden: ${name}`, async () => {
    const text = readFileSync(confPath, "utf8");
    const sel = /^# select: (\S+)/.exec(text)?.[1];
    const globals = /^# -g: (.+)$/m.exec(text)?.[1];
    const root = !/^# not root$/m.test(text);
    if (existsSync(errPath) || (UPDATE && !existsSync(jsonPath) && /^# error$/m.test(text))) {
      const argv = ["-t", "-c", confPath, ...(globals ? ["-g", globals] : [])];
      const r = await runCli(argv, { env: testEnv(root) });
      const actual = hide(r.stderr);
      if (UPDATE) writeFileSync(errPath, actual);
      assert.equal(r.status, 1, `exit status; stderr:\n${r.stderr}`);
      assert.equal(actual, readFileSync(errPath, "utf8"));
      return;
    }
    const loaded = loadConfig(confPath, { env: testEnv(root), ...(globals ? { globals } : {}) });
    const value = sel ? select(loaded.config, sel) : loaded.config;
    const actual = hide(JSON.stringify({ messages: loaded.messages, value }, null, 2)) + "\n";
    if (UPDATE) writeFileSync(jsonPath, actual);
    assert.equal(actual, readFileSync(jsonPath, "utf8"));
  });
}
