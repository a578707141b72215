// src/core must run unchanged on XS, Espruino and Node: no platform imports, no ambient
// clock, timers or randomness, nothing ENGINES.md lists as missing. This test parses every
// core file with the TypeScript compiler and walks the syntax tree, so comments and strings
// cannot hide or fake a hit.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import ts from "typescript";

const CORE = resolve("src/core");

function files(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, out);
    else if (n.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Globals and members the core must not touch (ENGINES.md, DESIGN.md "the core stays pure"). */
const BANNED_IDENTIFIERS = new Set([
  "Date", "setTimeout", "setInterval", "clearTimeout", "clearInterval", "setImmediate", "queueMicrotask",
  "Buffer", "process", "require", "console", "globalThis", "window", "global",
  "Map", "Set", "WeakMap", "WeakSet", "Symbol", "BigInt", "TextEncoder", "TextDecoder", "Proxy", "Reflect",
  "encodeURIComponent", "decodeURIComponent", "escape", "unescape", "atob", "btoa", "fetch", "crypto", "trace", "print",
]);
const BANNED_MEMBERS = new Set(["Math.random", "Math.imul", "Array.from", "Uint8Array.from", "Number.isInteger", "Number.MAX_SAFE_INTEGER", "ArrayBuffer.isView", "Promise.race", "Promise.allSettled", "Promise.any"]);

function violations(file: string, text?: string): string[] {
  const src = text === undefined ? readFileSync(file, "utf8") : text;
  const sf = ts.createSourceFile(file, src, ts.ScriptTarget.ES2020, true);
  const found: string[] = [];
  const where = (n: ts.Node) => `${file.slice(CORE.length + 1)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) {
      const spec = n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier) ? n.moduleSpecifier.text : null;
      if (spec !== null) {
        const target = resolve(dirname(file), spec);
        if (!spec.startsWith(".") || !target.startsWith(CORE)) found.push(`${where(n)} imports "${spec}" from outside src/core`);
      }
    }
    if (ts.isIdentifier(n) && BANNED_IDENTIFIERS.has(n.text)) {
      const p = n.parent;
      const isMemberName = p && ts.isPropertyAccessExpression(p) && p.name === n;
      const isPropKey = p && (ts.isPropertyAssignment(p) || ts.isPropertySignature(p) || ts.isMethodDeclaration(p)) && p.name === n;
      if (!isMemberName && !isPropKey) found.push(`${where(n)} uses ${n.text}`);
    }
    if (ts.isPropertyAccessExpression(n)) {
      const text = n.getText(sf).replace(/\s/g, "");
      if (BANNED_MEMBERS.has(text)) found.push(`${where(n)} uses ${text}`);
      if (text === "Object.freeze" && !(ts.isBinaryExpression(n.parent) || ts.isAsExpression(n.parent) || ts.isParenthesizedExpression(n.parent)))
        found.push(`${where(n)} calls Object.freeze unguarded (Espruino lacks it)`);
    }
    if (ts.isSpreadElement(n) || ts.isSpreadAssignment(n)) found.push(`${where(n)} uses spread`);
    if (ts.isParameter(n) && n.dotDotDotToken) found.push(`${where(n)} uses a rest parameter`);
    if (ts.isParameter(n) && n.initializer) found.push(`${where(n)} uses a default parameter`);
    if (ts.isObjectBindingPattern(n) || ts.isArrayBindingPattern(n)) found.push(`${where(n)} uses destructuring`);
    if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.AsteriskAsteriskToken) found.push(`${where(n)} uses **`);
    if ((ts.isPropertyAccessExpression(n) || ts.isElementAccessExpression(n) || ts.isCallExpression(n)) && n.questionDotToken) found.push(`${where(n)} uses ?.`);
    if (ts.isFunctionLike(n) && (n as any).asteriskToken) found.push(`${where(n)} uses a generator`);
    if (ts.canHaveModifiers(n) && (ts.getModifiers(n) || []).some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) found.push(`${where(n)} uses async`);
    if (ts.isAwaitExpression(n)) found.push(`${where(n)} uses await`);
    if (ts.isLabeledStatement(n)) found.push(`${where(n)} uses a label`);
    if (ts.isComputedPropertyName(n)) found.push(`${where(n)} uses a computed key`);
    if (ts.isForOfStatement(n)) found.push(`${where(n)} uses for..of (lowered badly for Espruino)`);
    if (ts.isClassDeclaration(n) && n.heritageClauses && n.heritageClauses.some((h) => h.getText(sf).includes("Error"))) found.push(`${where(n)} extends Error`);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

test("src/core imports nothing platform-specific and uses no ambient clock, timers, randomness or missing globals", () => {
  const all = files(CORE);
  assert.ok(all.length >= 10, `found only ${all.length} core files`);
  const found = all.flatMap((f) => violations(f));
  assert.deepEqual(found, []);
});

test("the purity scan catches what it claims to (a planted sample)", () => {
  const sample = `import { x } from "node:fs";\nconst t = Date.now();\nconst r = Math.random();\nconst m = new Map();\nconst a = [...b];\nconst z = o?.p;\nsetTimeout(f, 1);\nconst q = Buffer.from("");\n`;
  const found = violations(join(CORE, "planted.ts"), sample);
  for (const needle of ['"node:fs"', "Date", "Math.random", "Map", "spread", "?.", "setTimeout", "Buffer"]) {
    assert.ok(found.some((f) => f.includes(needle)), `the scan missed ${needle}: ${found.join("; ")}`);
  }
});
