/** `npm run docs`: rewrites the configuration reference inside README.md. */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withReference } from "./reference.js";

const path = fileURLToPath(new URL("../../../README.md", import.meta.url));
writeFileSync(path, withReference(readFileSync(path, "utf8")));
