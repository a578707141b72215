// `linkguard build --target moddable|espruino` — validate a device configuration and write a
// firmware bundle for a target into dist/ (src/bundle/ makes them; docs/targets.md walks
// through flashing it).
import { readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { validateConfig, describeConfigError, isLoopbackHost } from "../core/config.js";
import { buildEspruino, buildModdable, InputError, loadBoard, pemToDer, readJson } from "../bundle/bundle.js";
import { PACKAGE_ROOT as ROOT } from "../host/files.js";

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

const DEFAULT_BOARD: { [target: string]: string } = { moddable: "esp32-devkitc", espruino: "espruino-esp32" };

interface Args { target?: string; manifest?: string; config?: string; board?: string; ca?: string; out: string; help: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { out: "dist", help: false };
  const takes = ["--target", "--manifest", "--config", "--board", "--ca", "--out"];
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === "--help" || f === "-h") { a.help = true; continue; }
    let name = f, value: string | undefined;
    const eq = f.indexOf("=");
    if (f.startsWith("--") && eq > 0) { name = f.slice(0, eq); value = f.slice(eq + 1); }
    if (takes.indexOf(name) < 0) throw new InputError(`unknown ${f.startsWith("-") ? "flag" : "argument"} ${f}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new InputError(`${name} needs a value`);
    }
    (a as any)[name.slice(2)] = value;
  }
  return a;
}

export async function buildCommand(argv: string[]): Promise<number> {
  let a: Args;
  try { a = parseArgs(argv); } catch (e) { console.error(`linkguard build: ${(e as Error).message}\n\n${HELP}`); return 2; }
  if (a.help) { console.log(HELP); return 0; }
  try {
    if (a.target !== "moddable" && a.target !== "espruino") throw new InputError(a.target === undefined ? "--target is required" : `unknown target "${a.target}" (moddable or espruino)`);
    const board = loadBoard(a.board || DEFAULT_BOARD[a.target]);
    if (board.engine !== a.target) throw new InputError(`board "${board.name}" is a ${board.engine} board, not ${a.target}`);
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
      if (source === undefined) throw new InputError(`${file} has no config.linkguard (or pass --config FILE)`);
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
      try { caPem = readFileSync(a.ca, "utf8"); } catch (e) { throw new InputError(`cannot read --ca ${a.ca}`); }
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
    if (e instanceof InputError) { console.error(`linkguard build: ${e.message}`); return 2; }
    console.error(`linkguard build: failed: ${(e as Error).message}`);
    return 1;
  }
}

