// Size: minified and gzipped bytes of linkguard's device bundles beside mqtt-packet bundled
// for a browser-like platform and MQTT.js's own minified browser build.
//
// linkguard: the device targets built here, into a temporary directory, with the factories of
// rollup.config.mjs (the same builds `linkguard build` runs): Espruino's linkguard.min.js exactly
// as that build minifies it (terser, ecma 5); the Moddable modules (the preloaded core and the
// firmware's main) each minified with terser. Without rollup.config.mjs: dist/ if present, else
// the core's link entry bundled here. `linkguardCore` is the core alone (src/core/link.js and
// what it imports), bundled and minified here: the part every target shares.
//
// mqtt-packet: rollup's node-resolve/commonjs plugins are not installed, so a minimal
// browserify-style bundler below resolves its require() graph the way a browser bundler does:
// package.json "browser" fields honoured, Node built-ins mapped to their npm polyfills
// (buffer, events, process, readable-stream, string_decoder), every module wrapped in a function.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { pathToFileURL } from "node:url";
import { PACKAGE_ROOT } from "../host/files.js";

export interface SizeFigure { minBytes: number; gzipBytes: number; source: string }
export interface SizeReport { espruino: SizeFigure; moddable: SizeFigure; mqttPacket: SizeFigure; mqttjs: SizeFigure; linkguardCore: SizeFigure }

/** The package's root: rollup.config.mjs, build/src/core, dist/, node_modules/ (the peers). */
const ROOT = PACKAGE_ROOT;

let fastMinify = false;

async function minBytes(code: string, ecma: 5 | 2015 | 2020, module: boolean): Promise<{ min: string; minBytes: number; gzipBytes: number }> {
  const { minify } = await import("terser"); // rollup and terser load in ~0.4 s: only when sizes are measured, not at every CLI start
  const r = await minify(code, { ecma: ecma, module: module, compress: fastMinify ? false : { passes: 2 }, mangle: true, format: { comments: false } });
  const min = r.code || "";
  const buf = Buffer.from(min, "utf8");
  return { min: min, minBytes: buf.length, gzipBytes: gzipSync(buf, { level: 9 }).length };
}

function figure(m: { minBytes: number; gzipBytes: number }, source: string): SizeFigure {
  return { minBytes: m.minBytes, gzipBytes: m.gzipBytes, source: source };
}

function listJs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listJs(p));
    else if (name.endsWith(".js") || name.endsWith(".mjs")) out.push(p);
  }
  return out;
}

/** Bundles an ES module entry (compiled JS) with rollup into one ES module string. */
async function rollupEntry(entry: string): Promise<string> {
  const { rollup } = await import("rollup");
  const b = await rollup({ input: entry, onwarn: () => {} , treeshake: true });
  const o = await b.generate({ format: "es" });
  await b.close();
  return o.output.map((c) => (c.type === "chunk" ? c.code : "")).join("\n");
}

interface RollupConfig { espruinoBuild(dir: string): unknown; moddableBuilds(dir: string): unknown[]; runBuild(b: unknown): Promise<string[]> }

/** Builds the targets with rollup.config.mjs into a temporary directory; null without it. */
async function buildTargets(log: (s: string) => void): Promise<{ dir: string; espruino: string[]; moddable: string[] } | null> {
  const cfgFile = join(ROOT, "rollup.config.mjs");
  if (!existsSync(cfgFile)) return null;
  const cfg = (await import(pathToFileURL(cfgFile).href)) as RollupConfig;
  if (typeof cfg.espruinoBuild !== "function" || typeof cfg.moddableBuilds !== "function") return null;
  const dir = mkdtempSync(join(tmpdir(), "linkguard-size-"));
  log("size: building the Espruino and Moddable targets with rollup.config.mjs");
  const espruino = await cfg.runBuild(cfg.espruinoBuild(join(dir, "espruino")));
  const moddable: string[] = [];
  for (const b of cfg.moddableBuilds(join(dir, "moddable"))) moddable.push(...(await cfg.runBuild(b)));
  return { dir: dir, espruino: espruino, moddable: moddable };
}

function fileFigure(f: string, source: string): SizeFigure {
  const buf = readFileSync(f);
  return { minBytes: buf.length, gzipBytes: gzipSync(buf, { level: 9 }).length, source: source };
}

async function moddableFiles(files: string[], what: string): Promise<SizeFigure> {
  // each module minified on its own (a manifest lists them separately), sizes summed; gzip of all
  let min = 0;
  const mins: string[] = [];
  for (const f of files) {
    const m = await minBytes(readFileSync(f, "utf8"), 2020, true);
    min += m.minBytes;
    mins.push(m.min);
  }
  return { minBytes: min, gzipBytes: gzipSync(Buffer.from(mins.join("\n")), { level: 9 }).length, source: what + " (" + files.map((f) => f.split("/").pop()).join(" + ") + "), terser each, gzip of all" };
}

/** The core alone, bundled and minified here. */
async function core(): Promise<SizeFigure> {
  const code = await rollupEntry(join(ROOT, "build", "src", "core", "link.js"));
  return figure(await minBytes(code, 2020, true), "build/src/core/link.js and its imports, rollup + terser (ES2020)");
}

/** The Espruino runtime: dist/espruino/*.js if built, else the core's link entry. */
async function espruino(): Promise<SizeFigure> {
  const files = listJs(join(ROOT, "dist", "espruino")).filter((f) => f.endsWith(".min.js"));
  if (files.length > 0) {
    return fileFigure(files[0], relative(ROOT, files[0]) + " as built");
  }
  const code = await rollupEntry(join(ROOT, "build", "src", "core", "link.js"));
  return figure(await minBytes(code, 2020, true), "fallback: build/src/core/link.js bundled with rollup (core only, no shell), terser");
}

/** The Moddable modules: dist/moddable/**.js if built, else the same core bundle. */
async function moddable(): Promise<SizeFigure> {
  const files = listJs(join(ROOT, "dist", "moddable"));
  if (files.length > 0) return moddableFiles(files, "dist/moddable");
  const code = await rollupEntry(join(ROOT, "build", "src", "core", "link.js"));
  return figure(await minBytes(code, 2020, true), "fallback: build/src/core/link.js bundled with rollup (core only, no shell), terser");
}

// ---- a minimal CommonJS bundler for a browser-like platform --------------------------------

const BUILTINS: { [k: string]: string } = {
  buffer: "buffer/", events: "events/", process: "process/browser.js", stream: "readable-stream",
  string_decoder: "string_decoder/", util: "", "node:buffer": "buffer/", "node:events": "events/",
  "node:process": "process/browser.js", "node:stream": "readable-stream", "node:string_decoder": "string_decoder/",
};

/** Bundles a CommonJS entry and its require() graph into one script; returns it and the module count. */
export function bundleCjs(entry: string): { code: string; modules: number } {
  const ids = new Map<string, number>();
  const parts: string[] = [];
  const visit = (file: string): number => {
    const known = ids.get(file);
    if (known !== undefined) return known;
    const id = ids.size;
    ids.set(file, id);
    parts.push("");
    const req = createRequire(file);
    let src = readFileSync(file, "utf8");
    if (file.endsWith(".json")) src = "module.exports=" + src;
    const map: { [spec: string]: number } = {};
    src.replace(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g, (m, spec: string) => {
      if (map[spec] !== undefined) return m;
      const target = resolveBrowser(req, file, spec);
      map[spec] = target === null ? -1 : visit(target);
      return m;
    });
    parts[id] = "function(require,module,exports){var __m=" + JSON.stringify(map) + ";" +
      "require=(function(r){return function(s){return r(__m[s])}})(require);\n" + src + "\n}";
    return id;
  };
  visit(entry);
  const code = "(function(){var defs=[" + parts.join(",\n") + "],cache={},global=globalThis;" +
    "function req(i){if(i<0)return{};if(cache[i])return cache[i].exports;var m=cache[i]={exports:{}};defs[i].call(m.exports,req,m,m.exports);return m.exports}" +
    "globalThis.mqttPacket=req(0)})();";
  return { code: code, modules: ids.size };
}

/** Resolves `spec` from `file` the way a browser bundler does; null for a stubbed built-in. */
function resolveBrowser(req: NodeRequire, file: string, spec: string): string | null {
  let s = spec;
  if (Object.prototype.hasOwnProperty.call(BUILTINS, s)) {
    if (BUILTINS[s] === "") return null;
    s = BUILTINS[s];
  }
  let target: string;
  try { target = req.resolve(s); } catch { return null; }
  if (!target.startsWith("/")) return null; // a Node built-in left unmapped
  // the package's "browser" field, object form: replace or drop files
  const pkgDir = packageDir(target);
  if (pkgDir) {
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
    const b = pkg.browser;
    if (typeof b === "string" && target === req.resolve(pkgDir)) target = resolve(pkgDir, b);
    else if (b && typeof b === "object") {
      const rel = "./" + relative(pkgDir, target);
      for (const k of [rel, rel.replace(/\.js$/, ""), spec]) {
        if (Object.prototype.hasOwnProperty.call(b, k)) {
          if (b[k] === false) return null;
          target = resolve(pkgDir, b[k]);
          break;
        }
      }
    }
  }
  return target;
}

function packageDir(file: string): string | null {
  let d = dirname(file);
  while (d !== "/" && d.length > 1) {
    if (existsSync(join(d, "package.json"))) return d;
    d = dirname(d);
  }
  return null;
}

async function mqttPacket(): Promise<SizeFigure> {
  const entry = join(ROOT, "node_modules", "mqtt-packet", "mqtt.js");
  const b = bundleCjs(entry);
  return figure(await minBytes(b.code, 2015, false), "node_modules/mqtt-packet bundled for the browser by src/bench/size.ts (" + b.modules + " modules incl. buffer, events, process, readable-stream, bl, debug), terser");
}

async function mqttjs(): Promise<SizeFigure> {
  const f = join(ROOT, "node_modules", "mqtt", "dist", "mqtt.min.js");
  const buf = readFileSync(f);
  return { minBytes: buf.length, gzipBytes: gzipSync(buf, { level: 9 }).length, source: "node_modules/mqtt/dist/mqtt.min.js as shipped" };
}

/**
 * quick: no target builds (dist/ or the core bundle instead) and terser without compression —
 * the smoke version's figures, not the benchmark's.
 */
export async function runSize(log: (s: string) => void, quick?: boolean): Promise<SizeReport> {
  let e: SizeFigure, m: SizeFigure;
  fastMinify = quick === true;
  const built = quick ? null : await buildTargets(log);
  if (built) {
    try {
      const min = built.espruino.filter((f) => f.endsWith(".min.js"))[0];
      e = fileFigure(min, "rollup.config.mjs espruinoBuild: linkguard.min.js (firmware/espruino/main.ts: core + shell + firmware, ES5, terser)");
      m = await moddableFiles(built.moddable, "rollup.config.mjs moddableBuilds");
    } finally {
      rmSync(built.dir, { recursive: true, force: true });
    }
  } else {
    e = await espruino();
    m = await moddable();
  }
  log("size: espruino " + e.minBytes + " B");
  log("size: moddable " + m.minBytes + " B");
  const p = await mqttPacket();
  log("size: mqtt-packet " + p.minBytes + " B");
  const j = await mqttjs();
  const c = await core();
  return { espruino: e, moddable: m, mqttPacket: p, mqttjs: j, linkguardCore: c };
}
