// Builds the Espruino bundle once per test process (rollup, as `linkguard build` does) and
// scans a parsed bundle for what Espruino lacks (ENGINES.md).
import { resolve, join } from "node:path";
import { pathToFileURL } from "node:url";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as acorn from "acorn";

export interface Bundle { dir: string; code: string; min: string }

/** The property names the minifier shortens (rollup.config.mjs). */
export async function mangledProps(): Promise<string[]> {
  const cfg = await import(pathToFileURL(resolve("rollup.config.mjs")).href);
  return cfg.ESPRUINO_MANGLED_PROPS;
}

/** Calls `visit` on every node of a parsed ES5 script. */
function eachNode(code: string, visit: (n: any) => void): void {
  const walk = (n: any): void => {
    if (!n || typeof n !== "object") return;
    visit(n);
    for (const k of Object.keys(n)) {
      const v = n[k];
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object" && typeof v.type === "string") walk(v);
    }
  };
  walk(acorn.parse(code, { ecmaVersion: 5, sourceType: "script" }));
}

/** Every string literal in a parsed ES5 script: keys, computed members, arguments alike. */
export function stringLiterals(code: string): Set<string> {
  const out = new Set<string>();
  eachNode(code, (n) => { if (n.type === "Literal" && typeof n.value === "string") out.add(n.value); });
  return out;
}

let built: Promise<Bundle> | null = null;

export function espruinoBundle(): Promise<Bundle> {
  if (!built) {
    built = (async () => {
      const cfg = await import(pathToFileURL(resolve("rollup.config.mjs")).href);
      const dir = mkdtempSync(join(tmpdir(), "linkguard-espruino-"));
      await cfg.runBuild(cfg.espruinoBuild(dir));
      return { dir, code: readFileSync(join(dir, "linkguard.js"), "utf8"), min: readFileSync(join(dir, "linkguard.min.js"), "utf8") };
    })();
  }
  return built;
}

/** Globals ENGINES.md lists as missing on Espruino. */
export const MISSING_GLOBALS = ["Map", "Set", "WeakMap", "WeakSet", "Symbol", "BigInt", "TextEncoder", "TextDecoder", "queueMicrotask", "setImmediate", "Proxy", "Reflect", "WeakRef", "globalThis"];
/** Members ENGINES.md lists as missing. */
export const MISSING_MEMBERS = ["Array.from", "Uint8Array.from", "ArrayBuffer.isView", "Number.isInteger", "Number.MAX_SAFE_INTEGER", "Math.imul", "Promise.race", "Promise.allSettled", "Promise.any", "Object.isFrozen"];

type Node = acorn.Node & { [k: string]: any };

function dotted(n: Node): string | null {
  if (n.type === "Identifier") return n.name;
  if (n.type === "MemberExpression" && !n.computed) {
    const o = dotted(n.object);
    return o === null ? null : o + "." + n.property.name;
  }
  return null;
}

/** Parses at ES5 (throws on anything newer) and lists every use of something Espruino lacks. */
export function scan(code: string): string[] {
  const ast = acorn.parse(code, { ecmaVersion: 5, sourceType: "script", locations: true }) as Node;
  const found: string[] = [];
  const declared = new Set<string>();
  const at = (n: Node) => `${n.loc!.start.line}:${n.loc!.start.column}`;
  function walk(n: Node, parent: Node | null, key: string): void {
    if (!n || typeof n.type !== "string") return;
    switch (n.type) {
      case "Identifier":
        if (MISSING_GLOBALS.indexOf(n.name) >= 0 && !declared.has(n.name)) {
          const isProp = parent && parent.type === "MemberExpression" && key === "property" && !parent.computed;
          const isKey = parent && parent.type === "Property" && key === "key";
          if (!isProp && !isKey) found.push(`${at(n)} uses ${n.name}`);
        }
        break;
      case "MemberExpression": {
        const d = dotted(n);
        if (d !== null) {
          if (MISSING_MEMBERS.indexOf(d) >= 0) found.push(`${at(n)} uses ${d}`);
          if (/^(Array|String|Function|Object|ArrayBuffer)\.prototype\.[A-Za-z]+$/.test(d)) found.push(`${at(n)} reads ${d} (undefined on Espruino)`);
          if (d === "Object.freeze") {
            const guarded = parent && ((parent.type === "LogicalExpression" && parent.left === n) || parent.type === "UnaryExpression" || (parent.type === "ConditionalExpression" && parent.test === n));
            if (!guarded) found.push(`${at(n)} calls Object.freeze unguarded`);
          }
        }
        if (!n.computed && n.property.name === "slice" && n.object.type === "MemberExpression" && !n.object.computed && n.object.property.name === "buffer")
          found.push(`${at(n)} slices an ArrayBuffer (ArrayBuffer.prototype.slice is missing)`);
        break;
      }
      case "LabeledStatement":
        found.push(`${at(n)} uses a label`);
        break;
      case "VariableDeclarator":
      case "FunctionDeclaration":
        if (n.id && n.id.type === "Identifier") declared.add(n.id.name);
        break;
    }
    for (const k of Object.keys(n)) {
      if (k === "loc" || k === "start" || k === "end") continue;
      const v = n[k];
      if (Array.isArray(v)) for (const c of v) walk(c, n, k);
      else if (v && typeof v === "object" && typeof v.type === "string") walk(v, n, k);
    }
  }
  walk(ast, null, "");
  return found;
}

/**
 * `var` declarations that come after an unconditional `return` in the same statement list (terser
 * writes them there when it inlines a function into a returned expression). JavaScript hoists
 * them; Espruino never executes them, so the assignments above them reach whatever outer binding
 * has the name (seen: the device's config overwrote the core's writeUtf8).
 */
export function varsAfterReturn(code: string): string[] {
  const out: string[] = [];
  eachNode(code, (n) => {
    const list: any[] | null = n.type === "BlockStatement" || n.type === "Program" ? n.body : n.type === "SwitchCase" ? n.consequent : null;
    let returned = false;
    for (const st of list || []) {
      if (returned && st.type === "VariableDeclaration") out.push(code.slice(st.start, Math.min(st.end, st.start + 60)) + " @" + st.start);
      if (st.type === "ReturnStatement" || st.type === "ThrowStatement") returned = true;
    }
  });
  return out;
}
