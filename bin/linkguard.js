#!/usr/bin/env node
// The linkguard command line. The TypeScript sources are compiled to build/ by `npm run build`
// (npm start and npm test do it first; a packed linkguard ships them compiled).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "build", "src", "cli", "main.js");
if (!existsSync(entry)) {
  console.error("linkguard: not built yet — run `npm run build` (or `npm start` / `npm test`, which build first)");
  process.exit(2);
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
// The command has finished. A library may leave a handle open after a failure (rollup's
// TypeScript plugin keeps its file watchers when a type error ends the build): end anyway,
// after a moment for output still being written.
setTimeout(() => process.exit(), 1000).unref();
