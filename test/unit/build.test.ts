// `linkguard build`: both targets into a temp dir, path-precise validation errors, usage errors.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import * as acorn from "acorn";
import { buildCommand } from "../../src/cli/build.js";
import { loadBoard, boardNames } from "../../src/bundle/bundle.js";
import { validateConfig } from "../../src/core/config.js";
import { validateText } from "../../src/cli/validate.js";

const dir = mkdtempSync(join(tmpdir(), "linkguard-buildtest-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command with console output captured. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => { out.push(a.join(" ")); };
  console.error = (...a: unknown[]) => { err.push(a.join(" ")); };
  try {
    const code = await buildCommand(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const CONFIG = join(dir, "device.json");
writeFileSync(CONFIG, JSON.stringify({ host: "myhub.azure-devices.net", deviceId: "dev-7", auth: { symmetricKey: "c2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZGVm" } }));

describe("linkguard build --target espruino", () => {
  test("writes the bundle, the minified bundle and the settings, and prints sizes", async () => {
    const r = await run(["--target", "espruino", "--config", CONFIG, "--out", dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /runtime \d+ bytes minified, \d+ gzipped/);
    const min = readFileSync(join(dir, "espruino", "linkguard.min.js"), "utf8");
    acorn.parse(min, { ecmaVersion: 5, sourceType: "script" });
    acorn.parse(readFileSync(join(dir, "espruino", "linkguard.js"), "utf8"), { ecmaVersion: 5, sourceType: "script" });
    const settings = JSON.parse(readFileSync(join(dir, "espruino", "linkguard.json"), "utf8"));
    assert.equal(settings.config.deviceId, "dev-7");
    assert.equal(settings.config.port, 8883, "defaults are filled in: the device does not validate");
    assert.ok(validateConfig(settings.config).ok);
    assert.equal(settings.board.name, "espruino-esp32");
    // the hub's root CA for a real hub, as base64 of its DER (Espruino's mbedTLS parses no PEM)
    assert.match(settings.ca, /^MI[A-Za-z0-9+/]+=*$/, "the hub's root CA for a real hub, as DER");
    assert.match(r.out, /Espruino checks no certificate/);
  });

  test("rejects a Moddable board (exit 2)", async () => {
    const r = await run(["--target", "espruino", "--config", CONFIG, "--board", "m5stack-core", "--out", dir]);
    assert.equal(r.code, 2);
    assert.match(r.err, /moddable board/);
  });
});

describe("linkguard build --target moddable", () => {
  test("writes manifest.json with the validated configuration, both modules and the CA resources", async () => {
    const r = await run(["--target", "moddable", "--config", CONFIG, "--board", "esp32s3-devkitc", "--out", dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /mcconfig -d -m -p esp32\/esp32s3/);
    const m = JSON.parse(readFileSync(join(dir, "moddable", "manifest.json"), "utf8"));
    assert.deepEqual(m.preload, ["linkguard/core"]);
    assert.equal(m.config.linkguard.deviceId, "dev-7");
    assert.equal(m.config.linkguard.backoff.floorMs, 2000);
    assert.equal(m.config.board.statusLed.pin, 2);
    assert.ok(validateText(JSON.stringify(m.config.linkguard)).result.ok);
    const core = readFileSync(join(dir, "moddable", "modules", "linkguard-core.js"), "utf8");
    const main = readFileSync(join(dir, "moddable", "modules", "main.js"), "utf8");
    acorn.parse(core, { ecmaVersion: 2020, sourceType: "module" });
    acorn.parse(main, { ecmaVersion: 2020, sourceType: "module" });
    assert.match(main, /from 'linkguard\/core'/);
    assert.doesNotMatch(main, /from '\.\.?\//, "no relative imports: Moddable resolves modules by manifest name");
    for (const c of ["DigiCertGlobalRootG2", "BaltimoreCyberTrustRoot"]) {
      const x = new X509Certificate(readFileSync(join(dir, "moddable", "certs", c + ".der")));
      assert.match(x.subject, /CN=(DigiCert Global Root G2|Baltimore CyberTrust Root)/);
    }
  });

  test("builds from the shipped manifest's placeholder configuration (a fresh clone builds)", async () => {
    const r = await run(["--target", "moddable", "--out", dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /placeholder/);
  });

  test("an emulator CA (--ca) becomes the trusted resource", async () => {
    const ca = readFileSync(join("manifests", "certs", "DigiCertGlobalRootG2.pem"), "utf8");
    writeFileSync(join(dir, "ca.pem"), ca);
    const r = await run(["--target", "moddable", "--config", CONFIG, "--ca", join(dir, "ca.pem"), "--out", dir]);
    assert.equal(r.code, 0, r.err);
    const m = JSON.parse(readFileSync(join(dir, "moddable", "manifest.json"), "utf8"));
    assert.equal(m.config.ca, "LinkguardCa.der");
    assert.ok(existsSync(join(dir, "moddable", "certs", "LinkguardCa.der")));
  });
});

describe("linkguard build: errors", () => {
  test("an invalid configuration: every error with its path, exit 1, nothing built", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ host: "h.example", deviceId: "d", auth: {}, keepaliveSec: 5000, backoff: { floorMs: -1 } }));
    const r = await run(["--target", "espruino", "--config", bad, "--out", join(dir, "never")]);
    assert.equal(r.code, 1);
    assert.match(r.err, /\$\.auth: /);
    assert.match(r.err, /\$\.keepaliveSec: /);
    assert.match(r.err, /\$\.backoff\.floorMs: /);
    assert.ok(!existsSync(join(dir, "never")));
  });

  test("errors in a manifest name the path inside it", async () => {
    const man = JSON.parse(readFileSync(join("manifests", "manifest.json"), "utf8"));
    man.config.linkguard.port = 0;
    const f = join(dir, "manifest.json");
    writeFileSync(f, JSON.stringify(man));
    const r = await run(["--target", "moddable", "--manifest", f, "--out", dir]);
    assert.equal(r.code, 1);
    assert.match(r.err, /\$\.config\.linkguard\.port: /);
  });

  test("usage errors exit 2; --help exits 0", async () => {
    assert.equal((await run([])).code, 2);
    assert.equal((await run(["--target"])).code, 2);
    assert.equal((await run(["--target", "arduino"])).code, 2);
    assert.equal((await run(["--target", "espruino", "--bogus"])).code, 2);
    assert.equal((await run(["--target", "espruino", "--board", "nope"])).code, 2);
    assert.equal((await run(["--target", "espruino", "--config", join(dir, "missing.json")])).code, 2);
    const h = await run(["--help"]);
    assert.equal(h.code, 0);
    assert.match(h.out, /--target moddable\|espruino/);
  });
});

describe("hardware profiles", () => {
  test("every profile names its engine, target, pins and a pattern for every link state", () => {
    assert.deepEqual(boardNames(), ["esp32-devkitc", "esp32s3-devkitc", "espruino-esp32", "m5stack-core"]);
    for (const n of boardNames()) {
      const b = loadBoard(n);
      assert.equal(b.name, n);
      assert.ok(b.engine === "moddable" || b.engine === "espruino");
      assert.ok(typeof b.target === "string" && b.target.length > 0);
      for (const s of ["idle", "connecting", "handshaking", "connected", "closing", "waiting", "halted"]) {
        const p = b.patterns[s];
        assert.ok(Array.isArray(p) && p.length === 2 && p[0] >= 0 && p[1] >= 0, `${n}: pattern for ${s}`);
      }
    }
  });
});

test("linkguard validate accepts the shipped Moddable manifest", () => {
  const r = validateText(readFileSync(join("manifests", "manifest.json"), "utf8"));
  assert.ok(r.result.ok, JSON.stringify(!r.result.ok && r.result.errors.slice(0, 2)));
});
