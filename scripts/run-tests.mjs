#!/usr/bin/env node
// Runs every compiled test file (build/test/**/*.test.js) with node's test runner.
// Usage: node scripts/run-tests.mjs [substring ...]  — only files whose path contains a substring.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { spawnSync } from "node:child_process";

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk("build/test", []).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error("run-tests: no test files matched under build/test");
  process.exit(1);
}
// Say before and after the run which suites the machine cannot run here, and how to enable them
// (test/helpers/needs.ts); under CI=true those suites fail instead of skipping.
const { need, inCi } = await import(pathToFileURL(join(process.cwd(), "build/test/helpers/needs.js")).href);
const absent = ["espruino", "moddable", "mosquitto"].map(need).filter((n) => n.path === null);
function sayAbsent() {
  for (const n of absent) {
    console.error(`run-tests: ${inCi() ? "FAIL (CI=true)" : "skipped"}: the ${n.name} suites: ${n.missing}; to run them: ${n.how}`);
  }
}
sayAbsent();
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...files], { stdio: "inherit" });
sayAbsent();
process.exit(r.status ?? 1);
