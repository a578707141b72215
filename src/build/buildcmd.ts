// `linkguard build --target moddable|espruino` — validate a device configuration and write a
// firmware bundle for a target into dist/ (docs/targets.md walks through flashing it).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { X509Certificate } from "node:crypto";
import { validateConfig, describeConfigError, isLoopbackHost, DeviceConfig } from "../core/config.js";
import { PACKAGE_ROOT, writePrivateFile } from "../cli/files.js";
import { espruinoGuards, describeGuards } from "./guards-espruino.js";
import { guardModdable, formatGuardError } from "./guards-moddable.js";

const HELP = `usage: linkguard build --target moddable|espruino [--manifest FILE] [--config FILE] [--board NAME] [--ca FILE] [--out DIR]

Validates the device configuration and writes the firmware for a target:
  espruino  DIR/espruino/linkguard.js       readable ES5 bundle, settings first
            DIR/espruino/linkguard.min.js   the same, minified: upload this one
            DIR/espruino/linkguard.json     the settings alone (for Storage, with an unprefixed bundle)
  moddable  DIR/moddable/manifest.json      the manifest with the validated configuration
            DIR/moddable/modules/           linkguard-core.js (preloaded) and main.js
            DIR/moddable/certs/             the hub's root CAs as DER resources
  The files that hold the device key (linkguard.js, linkguard.min.js, linkguard.json,
  manifest.json) are written owner-only (0600).

  --target T      moddable or espruino (required)
  --manifest FILE a Moddable manifest whose config.linkguard is the device configuration;
                  default manifests/manifest.json (its placeholder hub and key build, but do not connect)
  --config FILE   a device configuration JSON instead of the manifest's config.linkguard
  --board NAME    a hardware profile from hardware/ (default esp32-devkitc for moddable,
                  espruino-esp32 for espruino); pins and LED patterns
  --ca FILE       PEM of the CA that signs the hub's certificate (default: DigiCert Global
                  Root G2, Azure IoT Hub's root; use the emulator's CA for linkguard hub)
  --out DIR       default dist; FILE and DIR paths are relative to the current folder

Exit codes: 0 built, 1 the configuration is invalid or the build failed, 2 usage errors.`;

/** The package's own files (hardware/, manifests/, rollup.config.mjs); the user's paths resolve against the cwd. */
const ROOT = PACKAGE_ROOT;
/** What the command says of each file that holds the device key (written by writePrivateFile). */
const PRIVATE_NOTE = "holds the device key: written 0600 (owner only)";

const DEFAULT_BOARD: { [target: string]: string } = { moddable: "esp32-devkitc", espruino: "espruino-esp32" };
const CERTS = ["DigiCertGlobalRootG2", "BaltimoreCyberTrustRoot"];

interface Args { target?: string; manifest?: string; config?: string; board?: string; ca?: string; out: string; help: boolean }

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const a: Args = { out: "dist", help: false };
  const takes = ["--target", "--manifest", "--config", "--board", "--ca", "--out"];
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === "--help" || f === "-h") { a.help = true; continue; }
    let name = f, value: string | undefined;
    const eq = f.indexOf("=");
    if (f.startsWith("--") && eq > 0) { name = f.slice(0, eq); value = f.slice(eq + 1); }
    if (takes.indexOf(name) < 0) throw new UsageError(`unknown ${f.startsWith("-") ? "flag" : "argument"} ${f}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`${name} needs a value`);
    }
    (a as any)[name.slice(2)] = value;
  }
  return a;
}

function readJson(file: string, what: string): any {
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (e) { throw new UsageError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`); }
  try { return JSON.parse(text); } catch { throw new UsageError(`${what} ${file} is not valid JSON`); }
}

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
  if (!/^[a-z0-9-]+$/.test(name) || boardNames().indexOf(name) < 0) throw new UsageError(`unknown board "${name}" (one of: ${boardNames().join(", ")})`);
  return readJson(join(ROOT, "hardware", name + ".json"), "board profile");
}

/** PEM -> DER (the first certificate in the text). */
export function pemToDer(pem: string): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new UsageError("no PEM certificate found");
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

function sizes(text: string): { bytes: number; gzip: number } {
  return { bytes: Buffer.byteLength(text), gzip: gzipSync(text, { level: 9 }).length };
}

async function rollupConfig(): Promise<any> {
  return import(pathToFileURL(join(ROOT, "rollup.config.mjs")).href);
}

async function buildEspruino(cfg: DeviceConfig, board: Board, caPem: string | undefined, out: string, log: (s: string) => void): Promise<void> {
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
      try { new X509Certificate(der); } catch (e) { throw new UsageError(`the CA certificate does not parse (${(e as Error).message}): the device could never use it`); }
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

async function buildModdable(cfg: DeviceConfig, board: Board, manifest: any, caPem: string | undefined, out: string, log: (s: string) => void): Promise<void> {
  const rc = await rollupConfig();
  const dir = join(out, "moddable");
  rmSync(join(dir, "modules"), { recursive: true, force: true });
  mkdirSync(join(dir, "certs"), { recursive: true });
  for (const b of rc.moddableBuilds(join(dir, "modules"))) await rc.runBuild(b);
  // XS quirks that pass on Node and fail on the device (src/build/guards-moddable.ts)
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

export async function buildCommand(argv: string[]): Promise<number> {
  let a: Args;
  try { a = parseArgs(argv); } catch (e) { console.error(`linkguard build: ${(e as Error).message}\n\n${HELP}`); return 2; }
  if (a.help) { console.log(HELP); return 0; }
  try {
    if (a.target !== "moddable" && a.target !== "espruino") throw new UsageError(a.target === undefined ? "--target is required" : `unknown target "${a.target}" (moddable or espruino)`);
    const board = loadBoard(a.board || DEFAULT_BOARD[a.target]);
    if (board.engine !== a.target) throw new UsageError(`board "${board.name}" is a ${board.engine} board, not ${a.target}`);
    const manifestFile = resolve(a.manifest || join(ROOT, "manifests", "manifest.json"));
    const manifest = readJson(manifestFile, "manifest");
    let source: unknown, file: string, prefix: string;
    if (a.config) {
      file = a.config;
      source = readJson(a.config, "configuration");
      prefix = "$";
    } else {
      file = manifestFile;
      source = manifest && manifest.config ? manifest.config.linkguard : undefined;
      prefix = "$.config.linkguard";
      if (source === undefined) throw new UsageError(`${file} has no config.linkguard (or pass --config FILE)`);
    }
    const r = validateConfig(source);
    if (!r.ok) {
      for (const e of r.errors) console.error(`${file}: ${describeConfigError({ path: prefix + e.path.slice(1), rule: e.rule, message: e.message })}`);
      console.error(`${file}: ${r.errors.length} error${r.errors.length === 1 ? "" : "s"}; nothing built`);
      return 1;
    }
    const cfg = r.config;
    let caPem: string | undefined;
    if (a.ca) {
      try { caPem = readFileSync(a.ca, "utf8"); } catch (e) { throw new UsageError(`cannot read --ca ${a.ca}`); }
      pemToDer(caPem);
    } else if (a.target === "espruino" && cfg.tls && !isLoopbackHost(cfg.host)) {
      caPem = readFileSync(join(ROOT, "manifests", "certs", "DigiCertGlobalRootG2.pem"), "utf8");
    }
    if (cfg.host === "your-hub.azure-devices.net") console.error("linkguard build: note: the placeholder configuration builds but will not connect; pass --config FILE or edit the manifest");
    const out = isAbsolute(a.out) ? a.out : resolve(a.out);
    const log = (s: string) => console.log(s);
    if (a.target === "espruino") await buildEspruino(cfg, board, caPem, out, log);
    else await buildModdable(cfg, board, manifest, caPem, out, log);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) { console.error(`linkguard build: ${e.message}`); return 2; }
    console.error(`linkguard build: failed: ${(e as Error).message}`);
    return 1;
  }
}

