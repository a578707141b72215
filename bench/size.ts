// Size: minified and gzipped bytes of linkguard's device bundles beside mqtt-packet bundled
// for a browser-like platform and MQTT.js's own minified browser build.
//
// linkguard: the firmware bundles that `linkguard build` writes into dist/ (rollup.config.mjs)
// when they exist; otherwise the core's link entry (build/src/core/link.js, with everything it
// imports) bundled here with rollup. Either way the bytes are re-minified with terser under the
// same options as the peers, so the rows compare like with like.
//
// mqtt-packet: rollup's node-resolve/commonjs plugins are not installed, so a minimal
// browserify-style bundler below resolves its require() graph the way a browser bundler does:
// package.json "browser" fields honoured, Node built-ins mapped to their npm polyfills
// (buffer, events, process, readable-stream, string_decoder), every module wrapped in a function.

import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { minify } from "terser";
import { rollup } from "rollup";

export interface SizeFigure { minBytes: number; gzipBytes: number; source: string }
export interface SizeReport { espruino: SizeFigure; moddable: SizeFigure; mqttPacket: SizeFigure; mqttjs: SizeFigure }

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

async function minBytes(code: string, ecma: 5 | 2015 | 2020, module: boolean): Promise<{ min: string; minBytes: number; gzipBytes: number }> {
  const r = await minify(code, { ecma: ecma, module: module, compress: { passes: 2 }, mangle: true, format: { comments: false } });
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
  const b = await rollup({ input: entry, onwarn: () => {} , treeshake: true });
  const o = await b.generate({ format: "es" });
  await b.close();
  return o.output.map((c) => (c.type === "chunk" ? c.code : "")).join("\n");
}

/** The Espruino runtime: dist/espruino/*.js if built, else the core's link entry. */
async function espruino(): Promise<SizeFigure> {
  const files = listJs(join(ROOT, "dist", "espruino"));
  if (files.length > 0) {
    const code = files.map((f) => readFileSync(f, "utf8")).join("\n");
    return figure(await minBytes(code, 5, false), "dist/espruino (" + files.map((f) => relative(ROOT, f)).join(", ") + "), terser ecma 5");
  }
  const code = await rollupEntry(join(ROOT, "build", "src", "core", "link.js"));
  return figure(await minBytes(code, 2020, true), "fallback: build/src/core/link.js bundled with rollup (core only, no shell), terser");
}

/** The Moddable modules: dist/moddable/**.js if built, else the same core bundle. */
async function moddable(): Promise<SizeFigure> {
  const files = listJs(join(ROOT, "dist", "moddable"));
  if (files.length > 0) {
    // each module minified on its own (a manifest lists them separately), sizes summed;
    // gzip over their concatenation
    let min = 0;
    const mins: string[] = [];
    for (const f of files) {
      const m = await minBytes(readFileSync(f, "utf8"), 2020, true);
      min += m.minBytes;
      mins.push(m.min);
    }
    return { minBytes: min, gzipBytes: gzipSync(Buffer.from(mins.join("\n")), { level: 9 }).length, source: "dist/moddable (" + files.length + " modules), terser each, gzip of all" };
  }
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
  return figure(await minBytes(b.code, 2015, false), "node_modules/mqtt-packet bundled for the browser by bench/size.ts (" + b.modules + " modules incl. buffer, events, process, readable-stream, bl, debug), terser");
}

async function mqttjs(): Promise<SizeFigure> {
  const f = join(ROOT, "node_modules", "mqtt", "dist", "mqtt.min.js");
  const buf = readFileSync(f);
  return { minBytes: buf.length, gzipBytes: gzipSync(buf, { level: 9 }).length, source: "node_modules/mqtt/dist/mqtt.min.js as shipped" };
}

export async function runSize(log: (s: string) => void): Promise<SizeReport> {
  const e = await espruino();
  log("size: espruino " + e.minBytes + " B");
  const m = await moddable();
  log("size: moddable " + m.minBytes + " B");
  const p = await mqttPacket();
  log("size: mqtt-packet " + p.minBytes + " B");
  const j = await mqttjs();
  return { espruino: e, moddable: m, mqttPacket: p, mqttjs: j };
}
