// `linkguard build` run as a user runs it: the command line (bin/linkguard.js) started from the
// user's own folder, not the package root. Relative --config, --out and --ca paths resolve against
// that folder; the package's files (hardware/, manifests/, the device sources) against the
// package. Files that hold the device key are written 0600, also over an existing wider file.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PACKAGE_ROOT, packageRootFrom, writePrivateFile } from "../../src/host/files.js";
import { makeCerts } from "../../src/sim/certs.js";

const BIN = join(PACKAGE_ROOT, "bin", "linkguard.js");
const KEY = "c2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZGVm";
const user = mkdtempSync(join(tmpdir(), "linkguard-user-"));
after(() => rmSync(user, { recursive: true, force: true }));

writeFileSync(join(user, "my-device.json"), JSON.stringify({ host: "127.0.0.1", port: 8883, deviceId: "dev-0001", auth: { symmetricKey: KEY } }));
writeFileSync(join(user, "hub-ca.pem"), makeCerts().caPem);

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: user, timeout: 120000 }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, out, err });
    });
  });
}

const modeOf = (f: string): number => statSync(f).mode & 0o777;
const POSIX = process.platform !== "win32";

describe("linkguard build from the user's own folder", () => {
  test("espruino: relative --config, --ca and --out are the user's; the three key files are 0600", async () => {
    // a file left by an earlier build, readable by everyone: it must end up owner-only too
    mkdirSync(join(user, "fw", "espruino"), { recursive: true });
    writeFileSync(join(user, "fw", "espruino", "linkguard.json"), "{}\n");
    chmodSync(join(user, "fw", "espruino", "linkguard.json"), 0o644);
    const r = await run(["build", "--target", "espruino", "--config", "my-device.json", "--ca", "hub-ca.pem", "--out", "fw"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /linkguard\.js, linkguard\.min\.js, linkguard\.json holds the device key: written 0600/);
    for (const f of ["linkguard.js", "linkguard.min.js", "linkguard.json"]) {
      const file = join(user, "fw", "espruino", f);
      assert.ok(existsSync(file), f + " is in the user's --out folder");
      if (POSIX) assert.equal(modeOf(file).toString(8), "600", f + " is owner-only");
    }
    const settings = JSON.parse(readFileSync(join(user, "fw", "espruino", "linkguard.json"), "utf8"));
    assert.equal(settings.config.deviceId, "dev-0001");
    // the Espruino settings carry the CA as base64 DER (Espruino cannot parse PEM)
    assert.equal(settings.ca, new X509Certificate(readFileSync(join(user, "hub-ca.pem"), "utf8")).raw.toString("base64"), "--ca read from the user's folder");
    assert.equal(settings.board.name, "espruino-esp32", "the board profile comes from the package's hardware/");
  });

  test("moddable: default --out is the user's dist/; manifest.json is 0600; the package's manifest and certs are used", async () => {
    const r = await run(["build", "--target", "moddable", "--config", "my-device.json"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /manifest\.json holds the device key: written 0600/);
    const dir = join(user, "dist", "moddable");
    if (POSIX) assert.equal(modeOf(join(dir, "manifest.json")).toString(8), "600");
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    assert.equal(m.config.linkguard.auth.symmetricKey, KEY);
    for (const f of ["modules/linkguard-core.js", "modules/main.js", "certs/DigiCertGlobalRootG2.der"]) assert.ok(existsSync(join(dir, f)), f);
  });

  test("the placeholder manifest (no --config) is the package's, found from any folder", async () => {
    const r = await run(["build", "--target", "espruino", "--out", "placeholder"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /placeholder configuration builds but will not connect/);
  });
});

describe("package files and private files", () => {
  test("the package root is found by its package.json, also under a folder named build/src", () => {
    assert.equal(packageRootFrom(join(PACKAGE_ROOT, "build", "src", "cli")), PACKAGE_ROOT);
    const fake = join(user, "build", "src", "work", "node_modules", "linkguard");
    mkdirSync(join(fake, "build", "src", "cli"), { recursive: true });
    writeFileSync(join(fake, "package.json"), JSON.stringify({ name: "linkguard" }));
    writeFileSync(join(user, "package.json"), JSON.stringify({ name: "users-project" }));
    assert.equal(packageRootFrom(join(fake, "build", "src", "cli")), fake);
  });

  test("writePrivateFile narrows an existing 0644 file before it writes", { skip: !POSIX && "POSIX modes only" }, () => {
    const f = join(user, "secret.json");
    writeFileSync(f, "old");
    chmodSync(f, 0o644);
    writePrivateFile(f, "new");
    assert.equal(readFileSync(f, "utf8"), "new");
    assert.equal(modeOf(f).toString(8), "600");
  });
});

/**
 * The package as `npm install linkguard` lays it out, without a registry: the files `npm pack`
 * would ship copied into APP/node_modules/linkguard, and only its "dependencies" beside it
 * (linked from this checkout's node_modules). A module the commands import from a
 * devDependency, a file missing from "files", or typings looked up inside the package (npm
 * hoists them out of it) fail here.
 */
describe("linkguard as installed by npm, run from the user's folder", () => {
  const app = join(user, "app");
  const pkg = join(app, "node_modules", "linkguard");

  function runInstalled(args: string[]): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [join(pkg, "bin", "linkguard.js"), ...args], { cwd: app, timeout: 120000 }, (e, out, err) => {
        resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, out, err });
      });
    });
  }

  test("npm pack's files and the dependencies alone build both targets and start the hub", async () => {
    const listed = await new Promise<string>((resolve, reject) => {
      execFile("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: PACKAGE_ROOT, shell: process.platform === "win32" }, (e, out) => (e ? reject(e) : resolve(out)));
    });
    const files = (JSON.parse(listed)[0].files as { path: string }[]).map((f) => f.path);
    for (const f of files) {
      mkdirSync(dirname(join(pkg, f)), { recursive: true });
      copyFileSync(join(PACKAGE_ROOT, f), join(pkg, f));
    }
    const deps = Object.keys(JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")).dependencies ?? {});
    for (const d of deps) {
      mkdirSync(dirname(join(app, "node_modules", d)), { recursive: true });
      symlinkSync(join(PACKAGE_ROOT, "node_modules", d), join(app, "node_modules", d), "dir");
    }
    writeFileSync(join(app, "my-device.json"), readFileSync(join(user, "my-device.json")));

    const e = await runInstalled(["build", "--target", "espruino", "--config", "my-device.json"]);
    assert.equal(e.code, 0, e.err);
    assert.ok(existsSync(join(app, "dist", "espruino", "linkguard.min.js")));
    const m = await runInstalled(["build", "--target", "moddable", "--config", "my-device.json"]);
    assert.equal(m.code, 0, m.err);
    assert.ok(existsSync(join(app, "dist", "moddable", "modules", "main.js")));
    const h = await runInstalled(["hub", "--help"]);
    assert.equal(h.code, 0, h.err);
    assert.match(h.out, /usage: linkguard hub/);
  });
});
