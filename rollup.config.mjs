// Rollup builds of linkguard's device targets. `linkguard build` and the XS / Espruino test
// suites import the factories below; `npx rollup -c` builds every target with defaults.
//
//   espruino   firmware/espruino/main.ts -> one ES5 script (iife), plus a terser (ecma 5) .min.js
//   moddable   src/platform/moddable/core.ts -> "linkguard/core" (ES2020 module, preloaded)
//              firmware/moddable/main.ts     -> "main" (imports the core by that name)
//              firmware/moddable/led-*.ts    -> "linkguard/led", board IO (the manifest picks one per platform)
//   xs         the same core entry as one ES2020 script defining globalThis.linkguard (xsnap tests)
import { readFileSync } from "node:fs";
import { dirname, join, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import typescript from "@rollup/plugin-typescript";
import terser from "@rollup/plugin-terser";

export const ROOT = dirname(fileURLToPath(import.meta.url));
const CORE_DIR = join(ROOT, "src", "core") + "/";
/** The runner every shell shares: on Moddable it ships in the preloaded core (flash), not in main.js. */
const RUNNER = join(ROOT, "src", "platform", "runner");

/** Module specifiers the Moddable SDK provides (never bundled). */
export const MODDABLE_EXTERNALS = [
  "timer", "socket", "securesocket", "preference", "sntp", "mc/config", "Resource", "pins/digital", "time", "net", "instrumentation", "debug",
  "embedded:io/socket/tcp", "embedded:io/socket/tcp/tls",
];

/**
 * The declaration files a tsconfig includes from node_modules, as `types` names too: in a user's
 * install npm hoists @moddable/typings out of the package, where the tsconfig's paths miss it,
 * and a `types` name is looked up in every node_modules above.
 */
function typingsOf(tsconfig) {
  const c = JSON.parse(readFileSync(join(ROOT, tsconfig), "utf8"));
  return (c.include || []).filter((p) => p.startsWith("node_modules/") && p.endsWith(".d.ts")).map((p) => p.slice("node_modules/".length, -".d.ts".length));
}

export function ts(tsconfig, target, extra) {
  return typescript({
    tsconfig: join(ROOT, tsconfig),
    compilerOptions: Object.assign({ target: target, module: "ESNext", noEmit: false, declaration: false, sourceMap: false, outDir: undefined, rootDir: undefined, types: typingsOf(tsconfig) }, extra || {}),
    include: ["src/**/*.ts", "firmware/**/*.ts", "node_modules/@moddable/typings/**/*.d.ts"],
    // the patterns above are the package's, wherever `linkguard build` runs (default: process.cwd())
    filterRoot: ROOT,
    noEmitOnError: true,
  });
}

/**
 * Property names the Espruino minifier shortens (terser mangle.properties): the link's private
 * state and setup, and MQTT packet fields. Each is read and written only with dotted access
 * inside the one-file bundle, never through a computed key, never as a key of JSON the device
 * reads or writes (settings, Storage) and never by an Espruino API. test/espruino/bundle.test.ts
 * checks the first two, and the stand-in tests run the shortened bundle end to end. A name
 * missing here merely stays long; a wrong one breaks the device, so add only such fields.
 * (Configuration keys such as keepaliveSec stay long: they are JSON the device reads.)
 */
export const ESPRUINO_MANGLED_PROPS = [
  // LinkState (src/core/link.ts) beyond what Status and Persisted share with it
  "setup", "timers", "rng", "prevHiMs", "lastCloseMs", "connectedAtMs", "lastRxMs", "quickRemote", "authFailures",
  "openedEpochSec", "tokenRenewAtMs", "dec", "nextPacketId", "subId", "inflight", "queue", "lingerUntilMs", "graceful", "keep",
  // LinkSetup and the Espruino shell's options
  "c2dFilter", "sign", "alloc", "cfg",
  // MQTT packets (src/core/mqtt/packet.ts) and a backoff Delay
  "returnCode", "sessionPresent", "packetId", "granted", "subscriptions", "cleanSession", "will", "retain", "dup", "hiMs",
  "type", "payload", "qos", "topic", "username", "password", "clientId",
  // decoder results and state (src/core/mqtt/decode.ts)
  "ok", "at", "packet", "next", "packets", "buf", "filled", "offset", "mark",
  // events and commands between the link and the shell (src/core/link.ts), and Step
  "kind", "commands", "bytes", "epochSec", "cause", "detail", "seed", "msg", "ms", "status", "why", "id", "properties",
  // the application's callbacks (src/core/ports.ts) and the shell's options
  "onStatus", "onLog", "onAcked", "onDropped", "onMessage", "stateFile",
  // the runner (src/platform/runner.ts), its options and the ports (src/core/ports.ts); not "start",
  // "write", "close" or "data": the console API and Espruino's sockets use those names
  "transport", "clock", "storage", "app", "onCommand", "onFault", "post",
  "opened", "closed", "closeFailed", "fired", "handle", "cancel", "load", "save", "open", "nowMs", "current", "nextId",
  // the Espruino ports' own state (src/platform/espruino/shell.ts); "owner" is set on the socket
  "sock", "owner", "report", "seen", "ids", "saved",
  // the status LED (src/platform/espruino/led.ts)
  "show", "profile", "timer", "pattern", "lit",
];

/**
 * The Espruino bundle: ES5, no tslib (noEmitHelpers: a helper that slips in fails the
 * bundle scan instead of calling Array.prototype.slice.call on the device).
 * Returns { input, outputs } for rollup's JS API.
 */
export function espruinoBuild(outDir) {
  return {
    input: {
      input: join(ROOT, "firmware/espruino/main.ts"),
      plugins: [ts("tsconfig.espruino.json", "ES5", { noEmitHelpers: true, importHelpers: false })],
      treeshake: { moduleSideEffects: false, propertyReadSideEffects: false },
      onwarn: strictWarn,
    },
    outputs: [
      { file: join(outDir, "linkguard.js"), format: "iife", strict: false, indent: "  " },
      {
        file: join(outDir, "linkguard.min.js"), format: "iife", strict: false,
        plugins: [terser({
          ecma: 5, compress: { passes: 3, ecma: 5, pure_getters: true, unsafe_arrows: false, lhs_constants: false }, format: { ecma: 5, comments: false },
          // lhs_constants: false keeps `x === "lit"` as written: Espruino 2v29 reads a string literal
          // that starts a case clause as empty (src/bundle/guards-espruino.ts checks the output)
          // builtins: names such as "type" or "kind" are DOM properties, which terser otherwise
          // never shortens; the list above is explicit, so nothing else is touched
          // pure_getters: no getters anywhere in the bundle, so an unused property read may go
          mangle: { toplevel: true, properties: { builtins: true, regex: new RegExp("^(" + ESPRUINO_MANGLED_PROPS.join("|") + ")$") } },
        }), terser({
          // then every var first in its function (hoist_vars, and nothing else): Espruino declares a
          // var only when its statement runs, so a var in a branch not taken left the name to the
          // outer scope, and an assignment then overwrote a module-level variable (the minifier
          // reuses short names; src/bundle/guards-espruino.ts checks the output, and catches the one
          // case terser leaves: a function with a single var, which the source then declares first). A pass of its own:
          // in the first, hoisting would stop terser inlining module-level constants (CONNECT = 1,
          // ...), and each would stay a variable, JsVars at rest on the device.
          ecma: 5, compress: { defaults: false, hoist_vars: true }, mangle: false, format: { ecma: 5, comments: false },
        })],
      },
    ],
  };
}

/** Imports of src/core (and the runner) from the Moddable firmware become imports of the preloaded "linkguard/core". */
function coreAsModule() {
  return {
    name: "linkguard-core-external",
    async resolveId(source, importer) {
      if (!importer || !source.startsWith(".")) return null;
      const abs = resolvePath(dirname(importer), source);
      if (abs.startsWith(CORE_DIR) || abs.replace(/\.[jt]s$/, "") === RUNNER) return { id: "linkguard/core", external: true };
      return null;
    },
  };
}

/** The Moddable modules: the core as one module, and the firmware (shell + main) as another. */
export function moddableBuilds(outDir) {
  return [
    {
      input: {
        input: join(ROOT, "src/platform/moddable/core.ts"),
        plugins: [ts("tsconfig.moddable.json", "ES2020")],
        onwarn: strictWarn,
      },
      outputs: [{ file: join(outDir, "linkguard-core.js"), format: "es" }],
    },
    {
      input: {
        input: join(ROOT, "firmware/moddable/main.ts"),
        external: MODDABLE_EXTERNALS.concat(["linkguard/core", "linkguard/led"]),
        plugins: [coreAsModule(), ts("tsconfig.moddable.json", "ES2020")],
        onwarn: strictWarn,
      },
      outputs: [{ file: join(outDir, "main.js"), format: "es" }],
    },
  ].concat(["led-digital", "led-none"].map((name) => ({
    input: {
      input: join(ROOT, "firmware/moddable/" + name + ".ts"),
      external: MODDABLE_EXTERNALS,
      plugins: [ts("tsconfig.moddable.json", "ES2020")],
      onwarn: strictWarn,
    },
    outputs: [{ file: join(outDir, name + ".js"), format: "es" }],
  })));
}

/** The core exactly as built for Moddable, as one script for xsnap (defines globalThis.linkguard). */
export function xsCoreBuild(outDir) {
  return {
    input: {
      input: join(ROOT, "src/platform/moddable/core.ts"),
      plugins: [ts("tsconfig.moddable.json", "ES2020")],
      onwarn: strictWarn,
    },
    outputs: [{ file: join(outDir, "linkguard-core.xs.js"), format: "iife", name: "linkguard" }],
  };
}

function strictWarn(w, warn) {
  if (w.code === "CIRCULAR_DEPENDENCY" || w.code === "EMPTY_BUNDLE") throw new Error(w.message);
  warn(w);
}

/** Build one { input, outputs } with rollup's JS API; returns the written file paths. */
export async function runBuild(b) {
  const { rollup } = await import("rollup");
  const bundle = await rollup(b.input);
  const files = [];
  try {
    for (const o of b.outputs) {
      await bundle.write(o);
      files.push(o.file);
    }
  } finally {
    await bundle.close();
  }
  return files;
}

const DIST = join(ROOT, "dist");
const toConfig = (b) => Object.assign({}, b.input, { output: b.outputs });
export default [
  toConfig(espruinoBuild(join(DIST, "espruino"))),
  ...moddableBuilds(join(DIST, "moddable", "modules")).map(toConfig),
];
