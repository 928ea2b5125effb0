/** The README documents what the code does: its reference is the one generated from the directive docs. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { directiveSpecs } from "../../src/config/adapt.js";
import { withReference } from "../../src/tools/reference.js";

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");

test("README's configuration reference is up to date (run `npm run docs`)", () => {
  assert.equal(readme, withReference(readme));
});

test("every directive is documented with syntax, default and text", () => {
  for (const [name, specs] of directiveSpecs()) {
    for (const s of specs) {
      assert.ok(s.doc.syntax.includes(name), `${name}: syntax names the directive`);
      assert.ok(s.doc.default.length > 0 && s.doc.text.length > 10, `${name}: doc`);
    }
  }
});

test("README shows the two commands and has a Chinese quick start", () => {
  assert.match(readme, /npm ci && npm test/);
  assert.match(readme, /## 中文快速上手/);
});
