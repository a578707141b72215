// Where the Espruino bundle's bytes go: `node scripts/size-breakdown.mjs`.
//
// Prints (1) the runtime as `linkguard build --target espruino` minifies it, (2) the shared core
// alone, bundled and minified the same way (createLinkWith + step + deliver: what any device
// build carries before a line of its own shell or firmware), and (3) each module of the runtime
// minified on its own with the same options (the sum exceeds (1): across modules terser
// shares more). Uses rollup.config.mjs's espruinoBuild, so the figures follow the real build.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { rollup } from "rollup";
import { minify } from "terser";
import * as rc from "../rollup.config.mjs";

const tmp = mkdtempSync(join(tmpdir(), "linkguard-size-"));
const size = (s) => `${String(Buffer.byteLength(s)).padStart(6)} B minified, ${String(gzipSync(s, { level: 9 }).length).padStart(5)} B gzipped`;
const props = { builtins: true, regex: new RegExp("^(" + rc.ESPRUINO_MANGLED_PROPS.join("|") + ")$") };

try {
  const full = rc.espruinoBuild(join(tmp, "full"));
  await rc.runBuild(full);
  console.log(`runtime (firmware + shell + core): ${size(readFileSync(join(tmp, "full", "linkguard.min.js"), "utf8"))}   (goal 16384)`);

  // the core alone: an entry inside firmware/espruino so it compiles with the Espruino tsconfig
  const entry = join(rc.ROOT, "firmware", "espruino", ".size-core-only.ts");
  writeFileSync(entry, 'import { createLinkWith, step } from "../../src/core/link.js";\nimport { deliver } from "../../src/core/app.js";\nglobal.linkguardCore = [createLinkWith, step, deliver];\n');
  try {
    const core = rc.espruinoBuild(join(tmp, "core"));
    core.input.input = entry;
    await rc.runBuild(core);
  } finally {
    rmSync(entry, { force: true });
  }
  console.log(`the shared core alone:             ${size(readFileSync(join(tmp, "core", "linkguard.min.js"), "utf8"))}`);

  const bundle = await rollup(full.input);
  const { output } = await bundle.generate(full.outputs[0]);
  await bundle.close();
  const rows = [];
  for (const [id, m] of Object.entries(output[0].modules)) {
    const r = await minify(m.code, { ecma: 5, compress: { passes: 3, pure_getters: true, unused: false }, mangle: { toplevel: true, properties: props }, toplevel: false });
    rows.push([id.slice(rc.ROOT.length + 1), Buffer.byteLength(r.code)]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  console.log("\nper module, minified on its own:");
  for (const [id, n] of rows) console.log(`${String(n).padStart(7)}  ${id}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
