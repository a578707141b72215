// Build-time guards for the Moddable modules (`linkguard build --target moddable` runs them on
// what rollup wrote, before anything reaches a device). Each one is a quirk of XS that passed on
// Node and failed on the real engine (ENGINES.md):
//
// 1. Imports are linked at load: `import { x } from "linkguard/core"` aborts the whole app with
//    `SyntaxError: import x not found` when the core module does not export x. So every name a
//    module imports from one of our own modules must be exported by it.
// 2. A preloaded module's module-level objects are frozen into flash, typed arrays included:
//    writing into a module-level scratch buffer throws `read-only buffer`. So a module-level
//    typed array (or ArrayBuffer, DataView) in the preloaded core may only be read: indexed
//    (`T[i]` not assigned), measured (`.length`, `.byteLength`) or copied (`.slice()`). Any other
//    use (a write, a mutating method, `.subarray()`, passing it anywhere, storing it) fails the
//    build: what it flows into cannot be followed reliably. An empty one is fine (nothing to
//    write); a non-empty one nested in a module-level object fails too.
// 3. A RegExp in a preloaded module (SDK 8.2.3): each exec of it allocates its match data with
//    malloc and never frees it (xs/sources/xsre.c fxAllocateRegExpData takes a chunk, then
//    overwrites it with c_malloc), and keeps that pointer in a stack slot the collector treats
//    as a chunk: a collection during the exec rewrites it to garbage and the engine crashes
//    (fx_RegExp_prototype_exec; a segmentation fault in mcsim, two devices, 4 runs of 4). So no
//    RegExp literal, RegExp() or new RegExp in any module linkguard writes for Moddable.
//
// Which module-level bindings hold typed arrays is learnt by running the core's top-level code
// (in a separate context, on Node: the core is pure and imports nothing), not guessed from the
// source, so one made by a helper (`const PING = fixed2(0xc0)`) is found as well.
import * as acorn from "acorn";
import { runInNewContext } from "node:vm";

/** One finding: `file:line:col: message`. */
export interface GuardError { file: string; line: number; col: number; message: string }

export function formatGuardError(e: GuardError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.message}`;
}

type Node = acorn.Node & { [k: string]: any };

function parseModule(code: string): Node {
  return acorn.parse(code, { ecmaVersion: "latest", sourceType: "module", locations: true }) as Node;
}

function at(file: string, n: Node, message: string): GuardError {
  return { file, line: n.loc!.start.line, col: n.loc!.start.column + 1, message };
}

function nameOf(n: Node): string {
  return n.type === "Identifier" ? n.name : String(n.value); // `export { x as "y" }` names are strings
}

/** Every name a module exports ("default" for a default export). */
export function exportedNames(code: string): string[] {
  const names: string[] = [];
  for (const s of parseModule(code).body as Node[]) {
    if (s.type === "ExportDefaultDeclaration") names.push("default");
    else if (s.type === "ExportNamedDeclaration") {
      if (s.declaration) {
        if (s.declaration.type === "VariableDeclaration") for (const d of s.declaration.declarations) names.push(...patternNames(d.id));
        else names.push(s.declaration.id.name);
      }
      for (const sp of s.specifiers || []) names.push(nameOf(sp.exported));
    } else if (s.type === "ExportAllDeclaration" && s.exported) names.push(nameOf(s.exported));
  }
  return names;
}

/** The identifiers a binding pattern declares. */
function patternNames(p: Node): string[] {
  switch (p.type) {
    case "Identifier": return [p.name];
    case "ObjectPattern": return p.properties.flatMap((q: Node) => patternNames(q.type === "RestElement" ? q.argument : q.value));
    case "ArrayPattern": return p.elements.filter(Boolean).flatMap((q: Node) => patternNames(q.type === "RestElement" ? q.argument : q));
    case "AssignmentPattern": return patternNames(p.left);
    default: return [];
  }
}

/**
 * Guard 1. `importer` imports from our own modules, `providers` maps each module specifier
 * (e.g. "linkguard/core") to the file that implements it and its code. A module the manifest
 * maps per platform (e.g. "linkguard/led") is given once per implementation.
 */
export function checkImports(importer: { file: string; code: string }, providers: { specifier: string; file: string; code: string }[]): GuardError[] {
  const errors: GuardError[] = [];
  const exportsOf = new Map<string, string[]>();
  for (const p of providers) exportsOf.set(p.file, exportedNames(p.code));
  for (const s of parseModule(importer.code).body as Node[]) {
    if (s.type !== "ImportDeclaration" && !(s.type === "ExportNamedDeclaration" && s.source) && s.type !== "ExportAllDeclaration") continue;
    const from = providers.filter((p) => p.specifier === s.source.value);
    if (from.length === 0) continue; // the SDK's modules: the manifest's includes provide them
    for (const sp of s.specifiers || []) {
      if (sp.type === "ImportNamespaceSpecifier") continue;
      const name = sp.type === "ImportDefaultSpecifier" ? "default" : nameOf(sp.type === "ExportSpecifier" ? sp.local : sp.imported);
      for (const p of from) {
        if (exportsOf.get(p.file)!.indexOf(name) >= 0) continue;
        errors.push(at(importer.file, sp, `imports ${name === "default" ? "the default export" : "`" + name + "`"} from "${p.specifier}", which ${p.file} does not export: ` +
          `XS links imports at load and aborts the app (SyntaxError: import ${name} not found)` +
          (p.specifier === "linkguard/core" ? "; export it from src/platform/moddable/core.ts" : "")));
      }
    }
  }
  return errors;
}

/** Top-level variable bindings: name -> its declarator. */
function topLevelBindings(program: Node): Map<string, Node> {
  const out = new Map<string, Node>();
  for (const s of program.body as Node[]) {
    const d = s.type === "VariableDeclaration" ? s : s.type === "ExportNamedDeclaration" && s.declaration && s.declaration.type === "VariableDeclaration" ? s.declaration : null;
    if (!d) continue;
    for (const v of d.declarations) for (const name of patternNames(v.id)) out.set(name, v);
  }
  return out;
}

/**
 * Runs the module's top-level code in a fresh context and returns the value of every top-level
 * variable. `export` keywords are blanked (same offsets, so nothing moves); a module that
 * imports anything cannot be run alone and is reported instead.
 */
function topLevelValues(program: Node, code: string, names: string[]): { values?: { [k: string]: unknown }; error?: string } {
  const chars = code.split("");
  const blank = (from: number, to: number) => { for (let i = from; i < to; i++) if (chars[i] !== "\n") chars[i] = " "; };
  for (const s of program.body as Node[]) {
    if (s.type === "ImportDeclaration") return { error: "imports " + JSON.stringify(s.source.value) + ": the preloaded core must be self-contained" };
    if (s.type === "ExportNamedDeclaration") {
      if (s.declaration) blank(s.start, s.declaration.start);
      else blank(s.start, s.end);
    } else if (s.type === "ExportAllDeclaration") blank(s.start, s.end);
    else if (s.type === "ExportDefaultDeclaration") {
      if (s.declaration.id) blank(s.start, s.declaration.start);
      else { const kw = "export default"; for (let i = 0; i < kw.length; i++) chars[s.start + i] = " "; chars[s.start] = "0"; chars[s.start + 1] = ","; }
    }
  }
  const body = chars.join("");
  const ret = "\nreturn {" + names.map((n) => JSON.stringify(n) + ": " + n).join(", ") + "};";
  try {
    return { values: runInNewContext("(function () {\n\"use strict\";\n" + body + ret + "\n})()", {}, { timeout: 5000 }) as { [k: string]: unknown } };
  } catch (e) {
    return { error: "its top-level code throws on Node: " + String(e) };
  }
}

function bufferKind(v: unknown): { kind: string; size: number } | null {
  if (v === null || typeof v !== "object") return null;
  const tag = Object.prototype.toString.call(v).slice(8, -1);
  if (tag === "ArrayBuffer") return { kind: tag, size: (v as ArrayBuffer).byteLength };
  if (ArrayBuffer.isView(v)) return { kind: tag, size: (v as ArrayBufferView).byteLength };
  return null;
}

/** Non-empty buffers nested (two levels) in a module-level object or array: "key" paths. */
function nestedBuffers(v: unknown, path: string, depth: number, out: string[]): void {
  if (depth > 2 || v === null || typeof v !== "object" || bufferKind(v)) return;
  for (const k of Object.keys(v as object)) {
    const x = (v as { [k: string]: unknown })[k];
    const b = bufferKind(x);
    if (b && b.size > 0) out.push(path + "." + k + " (" + b.kind + ", " + b.size + " B)");
    else nestedBuffers(x, path + "." + k, depth + 1, out);
  }
}

/** Walks every node with its parent and grandparent. */
function walk(n: Node, parent: Node | null, grand: Node | null, visit: (n: Node, parent: Node | null, grand: Node | null) => void): void {
  visit(n, parent, grand);
  for (const k of Object.keys(n)) {
    if (k === "loc" || k === "start" || k === "end") continue;
    const c = n[k];
    if (Array.isArray(c)) { for (const x of c) if (x && typeof x.type === "string") walk(x, n, parent, visit); }
    else if (c && typeof c.type === "string") walk(c, n, parent, visit);
  }
}

const MEASURES = ["length", "byteLength", "byteOffset", "BYTES_PER_ELEMENT"];

/** Why this reference to a module-level buffer is not a plain read, or null when it is. */
function notARead(ref: Node, parent: Node | null, grand: Node | null): string | null {
  if (parent && parent.type === "MemberExpression" && parent.object === ref) {
    if (parent.computed) {
      const target = grand && ((grand.type === "AssignmentExpression" && grand.left === parent) || (grand.type === "UpdateExpression") ||
        (grand.type === "UnaryExpression" && grand.operator === "delete") || ((grand.type === "ForInStatement" || grand.type === "ForOfStatement") && grand.left === parent));
      return target ? "an element is written" : null;
    }
    const prop = parent.property.name;
    if (MEASURES.indexOf(prop) >= 0) return null;
    if (prop === "slice" && grand && grand.type === "CallExpression" && grand.callee === parent) return null; // a copy
    return grand && grand.type === "CallExpression" && grand.callee === parent ? "." + prop + "() is called on it" : "." + prop + " is taken from it";
  }
  if (parent && parent.type === "CallExpression" && parent.arguments.indexOf(ref) >= 0) return "it is passed to a function";
  if (parent && (parent.type === "Property" || parent.type === "ArrayExpression")) return "it is stored in an object or array";
  if (parent && parent.type === "ReturnStatement") return "it is returned";
  if (parent && (parent.type === "AssignmentExpression" || parent.type === "VariableDeclarator")) return "it is assigned to another name";
  return "it is used as a whole (" + (parent ? parent.type : "?") + ")";
}

/**
 * Guard 2, on the preloaded core module: module-level typed arrays, ArrayBuffers and DataViews
 * only read (see the top of this file).
 */
export function checkFrozenBuffers(core: { file: string; code: string }): GuardError[] {
  const program = parseModule(core.code);
  const bindings = topLevelBindings(program);
  const names = Array.from(bindings.keys());
  const run = topLevelValues(program, core.code, names);
  if (!run.values) return [{ file: core.file, line: 1, col: 1, message: "cannot check its module-level buffers: " + run.error }];
  const errors: GuardError[] = [];
  const buffers = new Map<string, { kind: string; size: number }>();
  for (const name of names) {
    const v = run.values[name];
    const b = bufferKind(v);
    if (b) { if (b.size > 0) buffers.set(name, b); continue; }
    const nested: string[] = [];
    nestedBuffers(v, name, 0, nested);
    for (const p of nested) errors.push(at(core.file, bindings.get(name)!, `module-level ${p} is a buffer inside a module-level object: XS freezes it into flash when the core is preloaded; keep buffers out of module-level objects`));
  }
  if (buffers.size === 0) return errors;
  walk(program, null, null, (n, parent, grand) => {
    if (n.type !== "Identifier" || !buffers.has(n.name) || !parent) return;
    // not a reference: the declaration itself, a property key, a member name
    if (parent.type === "VariableDeclarator" && parent.id === n) return;
    if (parent.type === "MemberExpression" && parent.property === n && !parent.computed) return;
    if ((parent.type === "Property" || parent.type === "MethodDefinition") && parent.key === n && !parent.computed && !(parent.type === "Property" && parent.shorthand)) return;
    if (parent.type === "ExportSpecifier" || parent.type === "ImportSpecifier") return;
    const why = notARead(n, parent, grand);
    if (why === null) return;
    const b = buffers.get(n.name)!;
    errors.push(at(core.file, n, `module-level \`${n.name}\` (${b.kind}, ${b.size} B) is not only read here: ${why}. ` +
      `XS freezes a preloaded module's buffers into flash and a write throws "read-only buffer": allocate it inside the function or per instance ` +
      `(a constant table may stay if it is only indexed, measured or copied with .slice())`));
  });
  return errors;
}

/** Guard 3: every RegExp literal and RegExp()/new RegExp in a module (see the top of this file). */
export function checkRegExps(m: { file: string; code: string }): GuardError[] {
  const errors: GuardError[] = [];
  walk(parseModule(m.code), null, null, (n) => {
    const made = (n.type === "Literal" && n.regex !== undefined) ||
      ((n.type === "NewExpression" || n.type === "CallExpression") && n.callee.type === "Identifier" && n.callee.name === "RegExp");
    if (!made) return;
    errors.push(at(m.file, n, "a RegExp: on Moddable SDK 8.2.3 each exec of a RegExp in a preloaded module leaks its match data (malloc, never freed) " +
      "and a garbage collection during the exec can crash the engine (xs/sources/xsre.c fxAllocateRegExpData); test the text with a loop instead"));
  });
  return errors;
}

/**
 * The guards on the files rollup wrote for Moddable. `files` maps a module file name
 * (as in dist/moddable/modules/) to its code.
 */
export function guardModdable(files: { [name: string]: string }): GuardError[] {
  const core = { specifier: "linkguard/core", file: "modules/linkguard-core.js", code: files["linkguard-core.js"] };
  const providers = [core];
  for (const led of ["led-digital.js", "led-none.js"]) if (files[led] !== undefined) providers.push({ specifier: "linkguard/led", file: "modules/" + led, code: files[led] });
  const regexps: GuardError[] = [];
  for (const name of Object.keys(files)) regexps.push(...checkRegExps({ file: "modules/" + name, code: files[name] }));
  return checkImports({ file: "modules/main.js", code: files["main.js"] }, providers).concat(checkFrozenBuffers(core), regexps);
}
