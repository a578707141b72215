// The build-time guards for the Espruino bundle (src/bundle/guards-espruino.ts): each catches its
// quirk in a small bad input, passes the good twin, and passes the bundle the build ships.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { espruinoGuards } from "../../src/bundle/guards-espruino.js";
import { espruinoBundle } from "./bundle.js";

const rules = (code: string) => espruinoGuards(code).map((f) => f.rule + "@" + f.line + ":" + f.column);

describe("guard: no function used before its declaration (Espruino does not hoist)", () => {
  test("a top-level object that captures a function declared below it", () => {
    assert.deepEqual(rules("var api = { publish: f };\nfunction f() {}"), ["hoisting@1:21"]);
    assert.deepEqual(rules("function f() {}\nvar api = { publish: f };"), []);
  });

  test("inside a function body too, and through a shadowed outer name (what the minifier produced)", () => {
    assert.deepEqual(rules("var s = new Uint8Array(1);\n!function () { global.x = { p: s }; function s() {} }();"), ["hoisting@2:31"]);
  });

  test("a call to a bound function whose body reads a later declaration", () => {
    assert.deepEqual(rules("function a() { return b(); }\na();\nfunction b() {}"), ["hoisting@1:22"]);
  });

  test("a closure created before the declaration and called later is fine", () => {
    assert.deepEqual(rules("var g = function () { return f(); };\nfunction f() {}\ng();"), []);
  });

  test("a declaration after an unconditional return is never bound", () => {
    assert.deepEqual(rules("function m() { return function () { return h(); }; function h() {} }"), ["hoisting@1:51"]);
    assert.deepEqual(rules("function m() { if (x) return 1; function h() {} return h; }"), []);
  });
});

describe("guard: every var of a function is declared before its other statements (Espruino declares a var when its statement runs)", () => {
  test("a var in a branch, assigned later outside it: what overwrote a module-level name on the device", () => {
    assert.deepEqual(rules("var g = [1];\nfunction f(b) { if (b) { for (var g = 1; g < 2;) g++; } for (g = 5; g < 6;) g++; }"), ["varFirst@2:34"]);
    assert.deepEqual(rules("var g = [1];\nfunction f(b) { var g; if (b) { for (g = 1; g < 2;) g++; } for (g = 5; g < 6;) g++; }"), []);
  });

  test("a var after a return, and one in a nested function's branch", () => {
    assert.deepEqual(rules("function f() { x = 3; return 1; var x = 2; }"), ["varFirst@1:36"]);
    assert.deepEqual(rules("function f() { if (a) return 1; var x = 2; return x; }"), [], "after a conditional return: never named before it");
    assert.deepEqual(rules("var h = function () { var a = function () { if (q) var z = 1; }; };"), ["varFirst@1:55"]);
    assert.deepEqual(rules('function f() { "use strict"; var a = 1, b = function () { var c; return c; }; return a + b(); }'), []);
  });
});

describe("guard: no case clause whose first statement starts with a string or regex literal", () => {
  test("a literal-first comparison right after case X:", () => {
    assert.deepEqual(rules('switch (k) { case "a": "x" === y && f(); }'), ["caseLiteral@1:23"]);
    assert.deepEqual(rules('switch (k) { case "a": /x/.test(y) && f(); }'), ["caseLiteral@1:23"]);
  });

  test("the same comparison written subject-first, later in the clause, or under default is fine", () => {
    assert.deepEqual(rules('switch (k) { case "a": y === "x" && f(); }'), []);
    assert.deepEqual(rules('switch (k) { case "a": g(); "x" === y && f(); }'), []);
    assert.deepEqual(rules('switch (k) { default: "x" === y && f(); }'), []);
  });
});

test("the bundle linkguard build ships passes every guard", async () => {
  const b = await espruinoBundle();
  assert.deepEqual(espruinoGuards(b.min), []);
});
