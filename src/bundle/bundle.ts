// The firmware bundles for each target, from a validated configuration and a board profile:
// rollup.config.mjs builds them, the guards check them, and the files that hold the device key
// are written owner-only. `linkguard build` (src/cli/build.ts) runs it; docs/targets.md
// walks through flashing the result.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { X509Certificate } from "node:crypto";
import { DeviceConfig } from "../core/config.js";
import { PACKAGE_ROOT, writePrivateFile } from "../host/files.js";
import { espruinoGuards, describeGuards } from "./guards-espruino.js";
import { guardModdable, formatGuardError } from "./guards-moddable.js";


/** The package's own files (hardware/, manifests/, rollup.config.mjs); the user's paths resolve against the cwd. */
const ROOT = PACKAGE_ROOT;
/** What the command says of each file that holds the device key (written by writePrivateFile). */
const PRIVATE_NOTE = "holds the device key: written 0600 (owner only)";

const CERTS = ["DigiCertGlobalRootG2", "BaltimoreCyberTrustRoot"];

/** A JSON file's value; an InputError names the file when it cannot be read or parsed. */
export function readJson(file: string, what: string): any {
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (e) { throw new InputError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`); }
  try { return JSON.parse(text); } catch { throw new InputError(`${what} ${file} is not valid JSON`); }
}

/** A mistake in what the user passed (a board, a CA, a file): the command exits 2 on it. */
export class InputError extends Error {}

export interface Board {
  name: string; engine: string; target: string;
  statusLed: { pin: number | string; activeLow: boolean } | null;
  button: { pin: number | string; activeLow: boolean } | null;
  patterns: { [state: string]: [number, number] };
}

export function boardNames(): string[] {
  return readdirSync(join(ROOT, "hardware")).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)).sort();
}

export function loadBoard(name: string): Board {
  if (!/^[a-z0-9-]+$/.test(name) || boardNames().indexOf(name) < 0) throw new InputError(`unknown board "${name}" (one of: ${boardNames().join(", ")})`);
  return readJson(join(ROOT, "hardware", name + ".json"), "board profile");
}

/** PEM -> DER (the first certificate in the text). */
export function pemToDer(pem: string): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new InputError("no PEM certificate found");
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

function sizes(text: string): { bytes: number; gzip: number } {
  return { bytes: Buffer.byteLength(text), gzip: gzipSync(text, { level: 9 }).length };
}

async function rollupConfig(): Promise<any> {
  return import(pathToFileURL(join(ROOT, "rollup.config.mjs")).href);
}

/** Writes DIR/espruino/: the readable and minified bundles with the settings first, and the settings alone. */
export async function buildEspruino(cfg: DeviceConfig, board: Board, caPem: string | undefined, out: string, log: (s: string) => void): Promise<void> {
  const rc = await rollupConfig();
  const tmp = mkdtempSync(join(tmpdir(), "linkguard-build-"));
  try {
    await rc.runBuild(rc.espruinoBuild(tmp));
    const code = readFileSync(join(tmp, "linkguard.js"), "utf8");
    const min = readFileSync(join(tmp, "linkguard.min.js"), "utf8");
    const found = espruinoGuards(min);
    if (found.length > 0) throw new Error(`the minified bundle trips Espruino quirks (ENGINES.md):\n${describeGuards("linkguard.min.js", found)}`);
    const settings: { [k: string]: unknown } = { config: cfg, board: { name: board.name, statusLed: board.statusLed, button: board.button, patterns: board.patterns }, telemetryMs: 60000 };
    // Espruino's mbedTLS parses no PEM: the CA travels as base64 of its DER, decoded on the device
    if (cfg.tls && caPem) {
      const der = pemToDer(caPem);
      try { new X509Certificate(der); } catch (e) { throw new InputError(`the CA certificate does not parse (${(e as Error).message}): the device could never use it`); }
      settings.ca = Buffer.from(der).toString("base64");
    }
    const dir = join(out, "espruino");
    mkdirSync(dir, { recursive: true });
    const prelude = "var LINKGUARD_SETTINGS = " + JSON.stringify(settings) + ";\n";
    writePrivateFile(join(dir, "linkguard.js"), "// linkguard for Espruino — settings (they hold the device key: keep this file private), then the runtime\n" + prelude + code);
    writePrivateFile(join(dir, "linkguard.min.js"), prelude + min);
    writePrivateFile(join(dir, "linkguard.json"), JSON.stringify(settings) + "\n");
    const rt = sizes(min);
    log(`espruino: ${join(dir, "linkguard.min.js")}`);
    log(`  each of linkguard.js, linkguard.min.js, linkguard.json ${PRIVATE_NOTE}`);
    log(`  runtime ${rt.bytes} bytes minified, ${rt.gzip} gzipped (the budget is memory, not bytes: docs/targets.md); settings ${Buffer.byteLength(prelude)} bytes; readable ${Buffer.byteLength(code)} bytes`);
    if (cfg.tls) log("  TLS: Espruino checks no certificate (its mbedTLS runs with MBEDTLS_SSL_VERIFY_NONE): the link is encrypted, but the hub is not authenticated; the CA is passed, not verified");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes DIR/moddable/: the manifest with the configuration, the preloaded modules, the CAs as DER. */
export async function buildModdable(cfg: DeviceConfig, board: Board, manifest: any, caPem: string | undefined, out: string, log: (s: string) => void): Promise<void> {
  const rc = await rollupConfig();
  const dir = join(out, "moddable");
  rmSync(join(dir, "modules"), { recursive: true, force: true });
  mkdirSync(join(dir, "certs"), { recursive: true });
  for (const b of rc.moddableBuilds(join(dir, "modules"))) await rc.runBuild(b);
  // XS quirks that pass on Node and fail on the device (src/bundle/guards-moddable.ts)
  const modules: { [name: string]: string } = {};
  for (const f of readdirSync(join(dir, "modules"))) modules[f] = readFileSync(join(dir, "modules", f), "utf8");
  const problems = guardModdable(modules);
  if (problems.length > 0) {
    rmSync(join(dir, "modules"), { recursive: true, force: true });
    for (const p of problems) console.error("linkguard build: " + formatGuardError(p));
    throw new Error(`${problems.length} problem${problems.length === 1 ? "" : "s"} the device would hit (above); nothing built`);
  }
  for (const c of CERTS) writeFileSync(join(dir, "certs", c + ".der"), pemToDer(readFileSync(join(ROOT, "manifests", "certs", c + ".pem"), "utf8")));
  const m = JSON.parse(JSON.stringify(manifest));
  m.config = Object.assign({}, m.config || {}, {
    linkguard: cfg,
    board: { name: board.name, statusLed: board.statusLed, button: board.button, patterns: board.patterns },
  });
  if (caPem) {
    writeFileSync(join(dir, "certs", "LinkguardCa.der"), pemToDer(caPem));
    m.resources = { "*": ["./certs/LinkguardCa"].concat(CERTS.map((c) => "./certs/" + c)) };
    m.config.ca = "LinkguardCa.der";
  }
  delete m.$comment;
  writePrivateFile(join(dir, "manifest.json"), JSON.stringify(m, null, 2) + "\n");
  log(`moddable: ${join(dir, "manifest.json")} (build with: cd ${dir} && mcconfig -d -m -p ${board.target} ssid=... password=...; on the desktop: mcconfig -m -i -p lin -t build)`);
  log(`  manifest.json ${PRIVATE_NOTE}`);
  for (const f of ["linkguard-core.js", "main.js"]) {
    const s = sizes(readFileSync(join(dir, "modules", f), "utf8"));
    log(`  modules/${f} ${s.bytes} bytes, ${s.gzip} gzipped`);
  }
  log(`  TLS (SecureSocket, TLS 1.2): the hub's chain is verified against the one CA ${m.config.ca || "DigiCertGlobalRootG2.der"}, the host name ` +
    `against its subjectAltName, and the validity dates (seen on the SDK's lin build: docs/targets.md); a failed check is tls.failed, retried with backoff`);
}
