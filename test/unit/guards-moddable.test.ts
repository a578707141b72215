// The Moddable build guards (src/bundle/guards-moddable.ts): each XS quirk in a small module
// fails with a precise message, what XS accepts passes, and the modules `linkguard build`
// writes today pass (so putting a quirk back in the source fails the build).
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkImports, checkFrozenBuffers, checkRegExps, exportedNames, guardModdable, formatGuardError } from "../../src/bundle/guards-moddable.js";
import { buildCommand } from "../../src/cli/build.js";

const core = (code: string) => ({ specifier: "linkguard/core", file: "modules/linkguard-core.js", code });
const main = (code: string) => ({ file: "modules/main.js", code });
const messages = (errs: { file: string; line: number; col: number; message: string }[]) => errs.map(formatGuardError);

describe("guard: every name main.js imports from our modules is exported", () => {
  test("a missing core export fails at the import, naming it and XS's error", () => {
    const errs = checkImports(main(`import { step, Diagnostics } from "linkguard/core";\nstep(); new Diagnostics();`),
      [core(`function step() {}\nexport { step };`)]);
    assert.equal(errs.length, 1);
    assert.match(messages(errs)[0], /^modules\/main\.js:1:16: imports `Diagnostics` from "linkguard\/core", which modules\/linkguard-core\.js does not export: .*import Diagnostics not found.*src\/platform\/moddable\/core\.ts/);
  });

  test("renamed exports, default imports and a per-platform module are all checked", () => {
    const led = (file: string, code: string) => ({ specifier: "linkguard/led", file, code });
    assert.deepEqual(checkImports(main(`import { a as b } from "linkguard/core"; import w from "linkguard/led"; import T from "timer";`),
      [core(`const x = 1; export { x as a };`), led("modules/led-digital.js", "export default function w() {}"), led("modules/led-none.js", "export default function w() {}")]), []);
    const errs = checkImports(main(`import w from "linkguard/led";`), [led("modules/led-digital.js", "export default function w() {}"), led("modules/led-none.js", "export function w() {}")]);
    assert.equal(errs.length, 1);
    assert.match(errs[0].message, /the default export from "linkguard\/led", which modules\/led-none\.js does not export/);
  });

  test("exportedNames reads declarations, lists and defaults", () => {
    assert.deepEqual(exportedNames(`export const a = 1, { b } = {}; export function f() {} export class C {} export { a as z }; export default 3;`).sort(),
      ["C", "a", "b", "default", "f", "z"]);
  });
});

describe("guard: no RegExp in a module written for Moddable", () => {
  test("a literal, RegExp() and new RegExp each fail where they are made", () => {
    const errs = checkRegExps(main(`const A = /^[ -~]*$/;\nfunction f(s) { return new RegExp("x").test(s) || RegExp("y").test(s); }\nexport { A, f };`));
    assert.deepEqual(errs.map((e) => e.line + ":" + e.col), ["1:11", "2:24", "2:51"]);
    assert.match(messages(errs)[0], /^modules\/main\.js:1:11: a RegExp: .*leaks its match data.*crash the engine.*xsre\.c fxAllocateRegExpData/);
  });

  test("text tested with a loop, and names or strings that merely say RegExp, pass", () => {
    assert.deepEqual(checkRegExps(main(`const s = "RegExp /x/";\nfunction ascii(t) { for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) > 0x7e) return false; return true; }\nconst o = { RegExp: 1 };\nexport { s, ascii, o };`)), []);
  });
});

describe("guard: no module-level mutable buffer in the preloaded core", () => {
  test("a scratch buffer written in a function fails, at the write", () => {
    const errs = checkFrozenBuffers(core(`const W = new Int32Array(64);\nfunction f(x) {\n  W[0] = x;\n  return W[0];\n}\nexport { f };`));
    assert.equal(errs.length, 1);
    assert.match(messages(errs)[0], /^modules\/linkguard-core\.js:3:3: module-level `W` \(Int32Array, 256 B\) is not only read here: an element is written\. .*read-only buffer/);
  });

  test("mutating methods, subarray, passing, storing and returning it fail too", () => {
    const uses = ["T.fill(0)", "T.set([1], 0)", "T.subarray(1)[0] = 1", "g(T)", "var o = { t: T }", "return T", "T[0]++", "var u = T"];
    for (const u of uses) {
      const errs = checkFrozenBuffers(core(`const T = new Uint8Array(4);\nfunction g() {}\nfunction f() { ${u}; }\nexport { f };`));
      assert.ok(errs.length >= 1, u);
      assert.match(errs[0].message, /`T` \(Uint8Array, 4 B\) is not only read here/, u);
    }
  });

  test("a buffer made by a helper is found by running the module, not by its syntax", () => {
    const errs = checkFrozenBuffers(core(`function fixed2(b) { const x = new Uint8Array(2); x[0] = b; return x; }\nconst PING = fixed2(0xc0);\nfunction send(out) { out.push(PING); }\nexport { send };`));
    assert.equal(errs.length, 1);
    assert.match(errs[0].message, /`PING` \(Uint8Array, 2 B\) .*passed to a function/);
  });

  test("a buffer inside a module-level object fails", () => {
    const errs = checkFrozenBuffers(core(`const S = { buf: new Uint8Array(8), n: 0 };\nexport { S };`));
    assert.equal(errs.length, 1);
    assert.match(errs[0].message, /S\.buf \(Uint8Array, 8 B\) is a buffer inside a module-level object/);
  });

  test("constant tables only indexed, measured or copied pass; so do empty ones and per-call buffers", () => {
    const ok = `const K = new Int32Array([1, 2, 3]);\nconst EMPTY = new Uint8Array(0);\nconst P = new Uint8Array([0xc0, 0]);\n` +
      `function f(i) { const w = new Int32Array(4); w[0] = K[i] + K.length; return { w: w, e: EMPTY, p: P.slice() }; }\nexport { f, EMPTY };`;
    assert.deepEqual(checkFrozenBuffers(core(ok)), []);
  });

  test("a core that imports or throws at load cannot be checked, and says so", () => {
    assert.match(checkFrozenBuffers(core(`import x from "y";\nexport { x };`))[0].message, /imports "y": the preloaded core must be self-contained/);
    assert.match(checkFrozenBuffers(core(`const a = undefinedThing.b;\nexport { a };`))[0].message, /top-level code throws/);
  });
});

describe("guards on what linkguard build writes", () => {
  const dir = mkdtempSync(join(tmpdir(), "linkguard-guards-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the modules built from this tree pass every guard", async () => {
    const cfg = join(dir, "device.json");
    writeFileSync(cfg, JSON.stringify({ host: "myhub.azure-devices.net", deviceId: "dev-7", auth: { symmetricKey: "c2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZGVm" } }));
    const log = console.log;
    console.log = () => {};
    let code: number;
    try { code = await buildCommand(["--target", "moddable", "--config", cfg, "--out", dir]); } finally { console.log = log; }
    assert.equal(code, 0);
    const files: { [k: string]: string } = {};
    for (const f of readdirSync(join(dir, "moddable", "modules"))) files[f] = readFileSync(join(dir, "moddable", "modules", f), "utf8");
    assert.deepEqual(messages(guardModdable(files)), []);
    // and each quirk put back into the built files fails
    const noExport = Object.assign({}, files, { "linkguard-core.js": files["linkguard-core.js"].replace(/(export \{[^}]*)\bDiagnostics, /, "$1") });
    assert.ok(noExport["linkguard-core.js"] !== files["linkguard-core.js"], "the core exports Diagnostics by that name");
    assert.match(messages(guardModdable(noExport)).join("\n"), /imports `Diagnostics` from "linkguard\/core"/);
    const scratch = Object.assign({}, files, { "linkguard-core.js": "const SCRATCH = new Uint8Array(64);\nfunction scratchFill() { SCRATCH.fill(1); }\n" + files["linkguard-core.js"] });
    assert.match(messages(guardModdable(scratch)).join("\n"), /module-level `SCRATCH` \(Uint8Array, 64 B\)/);
    const regexp = Object.assign({}, files, { "main.js": files["main.js"] + "\nconst PRINTABLE = /^[ -~]*$/;\n" });
    assert.match(messages(guardModdable(regexp)).join("\n"), /^modules\/main\.js:\d+:19: a RegExp/m);
  });
});
