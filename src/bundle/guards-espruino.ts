// Build-time guards for the Espruino bundle: two engine quirks (ENGINES.md) that a Node stand-in
// never shows, checked on the minified output `linkguard build --target espruino` writes, so the
// next occurrence fails the build instead of the device.
//
// 1. Espruino binds a function declaration only when execution reaches it (no hoisting, at top
//    level or in a function body). Code that runs before the declaration finds whatever the name
//    meant outside (the minifier reuses short names), and a declaration after an unconditional
//    `return` is never bound at all.
// 3. Espruino declares a `var` only when its statement runs (no hoisting of var either): until
//    then, or when the statement never runs (a branch not taken, a var after a `return`), the
//    name is the outer scope's, and an assignment writes the outer variable. The minifier reuses
//    short names across scopes, so `if (a) { for (var g = 1; ...) } ... g = 5` inside a function
//    overwrote a module-level `g` on the device. compress.hoist_vars puts vars first; this checks
//    that every `var` of a function is declared by a statement of its body (or that statement's
//    `for` init), and that no earlier statement of the body names it.
// 2. Espruino 2v29 lexes the token after `case X:` before it switches execution on, and its lexer
//    gives a string or regex literal no value while not executing: `case "a": "x" === y && f()`
//    compares y with an empty string (src/jsparse.c jspeStatementSwitch, src/jslex.c jslLexString).
import * as acorn from "acorn";

export interface GuardFinding {
  /** "hoisting", "varFirst" or "caseLiteral" */
  rule: string;
  /** 1-based line and 0-based column in the checked text */
  line: number;
  column: number;
  message: string;
}

type Node = acorn.Node & { [k: string]: any };

interface Scope {
  parent: Scope | null;
  /** name -> the function declaration that binds it in this scope, or null for any other binding */
  names: Map<string, Node | null>;
  /** statement index, in this scope's body, of each function declaration */
  declIndex: Map<Node, number>;
}

function isFn(n: Node): boolean {
  return n.type === "FunctionDeclaration" || n.type === "FunctionExpression";
}

/** Children of a node (AST nodes only). */
function children(n: Node): Node[] {
  const out: Node[] = [];
  for (const k of Object.keys(n)) {
    if (k === "loc" || k === "start" || k === "end") continue;
    const v = n[k];
    if (Array.isArray(v)) { for (const c of v) if (c && typeof c.type === "string") out.push(c); }
    else if (v && typeof v === "object" && typeof v.type === "string") out.push(v);
  }
  return out;
}

/** The bindings a function (or the program) makes: params, vars anywhere in it, its function declarations. */
function scopeOf(fn: Node, parent: Scope | null): Scope {
  const s: Scope = { parent, names: new Map(), declIndex: new Map() };
  if (fn.type !== "Program") {
    for (const p of fn.params) s.names.set(p.name, null);
    if (fn.type === "FunctionExpression" && fn.id) s.names.set(fn.id.name, null);
    s.names.set("arguments", null);
  }
  const body: Node[] = fn.type === "Program" ? fn.body : fn.body.body;
  body.forEach((st, i) => {
    if (st.type === "FunctionDeclaration") { s.names.set(st.id.name, st); s.declIndex.set(st, i); }
  });
  const vars = (n: Node): void => {
    if (isFn(n)) { if (n.type === "FunctionDeclaration" && !s.names.has(n.id.name)) s.names.set(n.id.name, null); return; }
    if (n.type === "VariableDeclarator" && !s.names.has(n.id.name)) s.names.set(n.id.name, null);
    if (n.type === "CatchClause") s.names.set(n.param.name, null);
    children(n).forEach(vars);
  };
  body.forEach((st) => { if (st.type !== "FunctionDeclaration") vars(st); });
  return s;
}

function resolve(s: Scope | null, name: string): { scope: Scope; decl: Node | null } | null {
  for (let c = s; c; c = c.parent) if (c.names.has(name)) return { scope: c, decl: c.names.get(name)! };
  return null;
}

/** Is this a function expression called on the spot, `(function(){...})()` or `!function(){...}()`? */
function isIife(fn: Node, parent: Node | null): boolean {
  return fn.type === "FunctionExpression" && parent !== null && parent.type === "CallExpression" && parent.callee === fn;
}

/**
 * Identifiers read while `n` runs, with the scope each is read in: nested functions are skipped
 * (they run later) except those called on the spot.
 */
function reads(n: Node, s: Scope, parent: Node | null, key: string, out: { name: string; node: Node; scope: Scope; callee: boolean }[]): void {
  if (isFn(n)) {
    if (!isIife(n, parent)) return;
    const inner = scopeOf(n, s);
    for (const st of n.body.body) if (st.type !== "FunctionDeclaration") reads(st, inner, n.body, "body", out);
    return;
  }
  if (n.type === "Identifier") {
    const isProp = parent && parent.type === "MemberExpression" && key === "property" && !parent.computed;
    const isKey = parent && parent.type === "Property" && key === "key";
    const isDecl = parent && (parent.type === "VariableDeclarator" && key === "id");
    if (!isProp && !isKey && !isDecl) out.push({ name: n.name, node: n, scope: s, callee: !!parent && parent.type === "CallExpression" && key === "callee" });
    return;
  }
  for (const k of Object.keys(n)) {
    if (k === "loc" || k === "start" || k === "end") continue;
    const v = n[k];
    if (Array.isArray(v)) { for (const c of v) if (c && typeof c.type === "string") reads(c, s, n, k, out); }
    else if (v && typeof v === "object" && typeof v.type === "string") reads(v, s, n, k, out);
  }
}

function checkHoisting(root: Node, found: GuardFinding[]): void {
  const report = (n: Node, message: string) => found.push({ rule: "hoisting", line: n.loc!.start.line, column: n.loc!.start.column, message });
  function body(fn: Node, s: Scope): void {
    const stmts: Node[] = fn.type === "Program" ? fn.body : fn.body.body;
    let exitedAt = -1;
    stmts.forEach((st, i) => {
      if (st.type === "FunctionDeclaration") {
        if (exitedAt >= 0) {
          const any: { name: string; node: Node; scope: Scope; callee: boolean }[] = [];
          // any reference to it, closures included, finds it unbound: it is never declared
          const all = (n: Node, sc: Scope): void => {
            if (isFn(n)) { const inner = scopeOf(n, sc); (n.type === "Program" ? n.body : n.body.body).forEach((c: Node) => all(c, inner)); return; }
            if (n.type === "Identifier" && n.name === st.id.name) any.push({ name: n.name, node: n, scope: sc, callee: false });
            children(n).forEach((c) => all(c, sc));
          };
          stmts.forEach((o) => { if (o !== st) all(o, s); });
          if (any.some((r) => { const b = resolve(r.scope, r.name); return b !== null && b.decl === st; })) {
            report(st, `function ${st.id.name} is declared after the unconditional ${stmts[exitedAt].type === "ReturnStatement" ? "return" : "throw"} at line ${stmts[exitedAt].loc!.start.line}: Espruino never binds it`);
          }
        }
        return;
      }
      if (exitedAt < 0) {
        // what this statement reads now, and what the functions it calls (already bound) read
        const seen = new Set<Node>();
        const check = (n: Node, sc: Scope, via: string): void => {
          const rs: { name: string; node: Node; scope: Scope; callee: boolean }[] = [];
          reads(n, sc, null, "", rs);
          for (const r of rs) {
            const b = resolve(r.scope, r.name);
            if (b === null || b.scope !== s || b.decl === null) continue;
            const at = s.declIndex.get(b.decl)!;
            if (at > i) {
              report(r.node, `${r.name} is used${via} before its function declaration at line ${b.decl.loc!.start.line}: Espruino does not hoist declarations, so it reads ${r.name} from an outer scope or fails`);
            } else if (r.callee && !seen.has(b.decl)) {
              seen.add(b.decl);
              const inner = scopeOf(b.decl, s);
              for (const c of b.decl.body.body) if (c.type !== "FunctionDeclaration") check(c, inner, ` (through ${r.name}(), called at line ${r.node.loc!.start.line})`);
            }
          }
        };
        check(st, s, "");
        if (st.type === "ReturnStatement" || st.type === "ThrowStatement") exitedAt = i;
      }
    });
    // every function inside, with its own scope
    const visit = (n: Node, sc: Scope): void => {
      if (isFn(n)) { const inner = scopeOf(n, sc); body(n, inner); return; }
      children(n).forEach((c) => visit(c, sc));
    };
    stmts.forEach((st) => visit(st, s));
  }
  body(root, scopeOf(root, null));
}

function checkVarsFirst(root: Node, found: GuardFinding[]): void {
  const flag = (d: Node, fnLine: number, why: string): void => {
    found.push({
      rule: "varFirst", line: d.loc!.start.line, column: d.loc!.start.column,
      message: `var ${d.id.name} ${why} (function at line ${fnLine}): Espruino declares a var only when its statement runs, so until then (or if it never runs) ${d.id.name} is the outer scope's (compress.hoist_vars puts vars first)`,
    });
  };
  /** the var declarations a direct statement of a function body makes as it starts: its own, or a for's init */
  const leading = (st: Node): Node | null => {
    if (st.type === "VariableDeclaration" && st.kind === "var") return st;
    if (st.type === "ForStatement" && st.init && st.init.type === "VariableDeclaration" && st.init.kind === "var") return st.init;
    if (st.type === "ForInStatement" && st.left.type === "VariableDeclaration") return st.left;
    return null;
  };
  const named = (n: Node, name: string): boolean => {
    if (n.type === "Identifier") return n.name === name;
    for (const k of Object.keys(n)) {
      if (k === "loc" || k === "start" || k === "end") continue;
      const v = n[k];
      if ((n.type === "MemberExpression" && k === "property" && !n.computed) || (n.type === "Property" && k === "key")) continue;
      if (Array.isArray(v)) { for (const c of v) if (c && typeof c.type === "string" && named(c, name)) return true; }
      else if (v && typeof v === "object" && typeof v.type === "string" && named(v, name)) return true;
    }
    return false;
  };
  const fnBody = (fn: Node): void => {
    const stmts: Node[] = fn.body.body;
    const line = fn.loc!.start.line;
    stmts.forEach((st, i) => {
      const lead = leading(st);
      // a var declared where its statement starts the body's i-th statement: no earlier statement may name it
      if (lead) for (const d of lead.declarations) if (stmts.slice(0, i).some((o) => named(o, d.id.name))) flag(d, line, "is named before its declaration");
      const inside = (n: Node): void => {
        if (isFn(n)) { fnBody(n); return; }
        if (n !== lead && n.type === "VariableDeclaration" && n.kind === "var") for (const d of n.declarations) flag(d, line, "is declared inside a nested statement");
        children(n).forEach(inside);
      };
      inside(st);
    });
  };
  const visit = (n: Node): void => { if (isFn(n)) fnBody(n); else children(n).forEach(visit); };
  visit(root);
}

function checkCaseLiterals(code: string, root: Node, found: GuardFinding[]): void {
  const visit = (n: Node): void => {
    if (n.type === "SwitchCase" && n.test !== null && n.consequent.length > 0) {
      const first = n.consequent[0];
      const ch = code[first.start];
      if (ch === "\"" || ch === "'" || (ch === "/" && code[first.start + 1] !== "/" && code[first.start + 1] !== "*")) {
        found.push({
          rule: "caseLiteral", line: first.loc!.start.line, column: first.loc!.start.column,
          message: `the first statement of a case clause starts with a ${ch === "/" ? "regex" : "string"} literal: Espruino 2v29 reads that literal as empty (a terser option such as compress.lhs_constants or the source must avoid it)`,
        });
      }
    }
    children(n).forEach(visit);
  };
  visit(root);
}

/** Every guard finding in an ES5 script (the minified Espruino bundle). */
export function espruinoGuards(code: string): GuardFinding[] {
  const root = acorn.parse(code, { ecmaVersion: 5, sourceType: "script", locations: true }) as Node;
  const found: GuardFinding[] = [];
  checkHoisting(root, found);
  checkVarsFirst(root, found);
  checkCaseLiterals(code, root, found);
  return found;
}

/** One line per finding, or "" when there is none. */
export function describeGuards(file: string, found: GuardFinding[]): string {
  return found.map((f) => `${file}:${f.line}:${f.column}: ${f.rule}: ${f.message}`).join("\n");
}
