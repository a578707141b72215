// The Espruino signing port (src/platform/espruino/sign.ts: native SHA256 + atob/btoa) signs
// exactly as the core's portable one, run under the stand-in's crypto, E and atob/btoa.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import ts from "typescript";
import { makeStandin, Standin } from "./standin.js";
import { portableSign, sasTokenWith } from "../../src/core/hub/sas.js";
import { prng } from "../helpers/mqtt.js";

/** A stand-in with sign.ts loaded as ES5 (as `exports`), after `prelude`. */
function standinWithSign(prelude = ""): Standin {
  const src = readFileSync("src/platform/espruino/sign.ts", "utf8");
  const js = ts.transpileModule(src, { compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.CommonJS } }).outputText;
  const st = makeStandin();
  st.run(prelude + "\nvar exports = {};\n" + js);
  return st;
}

function loadNativeSign(): { sign: (k: string, d: string) => string | null; dispose: () => void } {
  const st = standinWithSign();
  const sign = st.run("exports.nativeSign()") as (k: string, d: string) => string | null;
  return { sign, dispose: () => st.dispose() };
}

function b64(bytes: Uint8Array): string { return Buffer.from(bytes).toString("base64"); }

test("nativeSign matches portableSign on 300 random keys (1..100 bytes) and messages", () => {
  const { sign, dispose } = loadNativeSign();
  try {
    const ref = portableSign();
    const r = prng(42);
    for (let i = 0; i < 300; i++) {
      const key = new Uint8Array(1 + Math.floor(r() * 100)); // past 64 bytes the key is hashed first
      for (let j = 0; j < key.length; j++) key[j] = Math.floor(r() * 256);
      let data = "";
      const n = Math.floor(r() * 200);
      for (let j = 0; j < n; j++) data += String.fromCharCode(32 + Math.floor(r() * 95));
      assert.equal(sign(b64(key), data), ref(b64(key), data), `key of ${key.length} bytes`);
    }
  } finally {
    dispose();
  }
});

test("nativeSign refuses what portableSign refuses: an empty key and a key that is not base64", () => {
  const { sign, dispose } = loadNativeSign();
  try {
    assert.equal(sign("", "x"), null);
    assert.equal(portableSign()("", "x"), null);
    assert.equal(sign("not base64!", "x"), null);
    assert.equal(portableSign()("not base64!", "x"), null);
    // and a whole token made with it is the core's token
    const key = "ZXNwcnVpbm8tZGV2aWNlLWtleS0wMTIzNDU2Nzg5YWI=";
    assert.equal(sasTokenWith(sign, "h.azure-devices.net", "d1", key, 1800000000), sasTokenWith(portableSign(), "h.azure-devices.net", "d1", key, 1800000000));
  } finally {
    dispose();
  }
});

test("without require(\"crypto\").SHA256 the port says so at once", () => {
  const st = standinWithSign("var realRequire = require; require = function (n) { if (n === 'crypto') throw new Error('Module \"crypto\" not found'); return realRequire(n); };");
  try {
    assert.throws(() => st.run("exports.nativeSign()"), /needs require\("crypto"\)\.SHA256/);
  } finally {
    st.dispose();
  }
});
