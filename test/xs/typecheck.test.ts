// The device code type-checks against its engine: Moddable code against @moddable/typings
// (tsconfig.moddable.json), Espruino code against ES5 + ES2015 core and Espruino's globals
// only (tsconfig.espruino.json: Map, Set, Symbol and Promise do not type-check there).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

function tsc(project: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [resolve("node_modules/typescript/bin/tsc"), "-p", project, "--noEmit", "--pretty", "false"], { encoding: "utf8" });
  return { status: r.status, out: (r.stdout || "") + (r.stderr || "") };
}

test("Moddable code type-checks against @moddable/typings with zero errors", () => {
  const r = tsc("tsconfig.moddable.json");
  assert.equal(r.out.trim(), "");
  assert.equal(r.status, 0);
});

test("Espruino code type-checks against ES5 and Espruino's globals with zero errors", () => {
  const r = tsc("tsconfig.espruino.json");
  assert.equal(r.out.trim(), "");
  assert.equal(r.status, 0);
});
