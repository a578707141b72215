import { test } from "node:test";
import assert from "node:assert/strict";
import { deliver } from "../../src/core/app.js";
import type { Command } from "../../src/core/link.js";

const STATUS = { state: "idle" as const, code: "idle", text: "idle", gen: 0, attempt: 0 };
const APP: Command[] = [
  { type: "notify", status: STATUS },
  { type: "log", code: "link.stable", text: "stable" },
  { type: "acked", id: 1 },
  { type: "dropped", id: 2, why: "overflow" },
  { type: "message", topic: "t", payload: new Uint8Array([1]), properties: null },
];

test("deliver hands each application command to its callback, once", () => {
  const got: string[] = [];
  const cb = {
    onStatus: (s: any) => got.push("status " + s.code),
    onLog: (code: string) => got.push("log " + code),
    onAcked: (id: number) => got.push("acked " + id),
    onDropped: (id: number, why: string) => got.push("dropped " + id + " " + why),
    onMessage: (topic: string) => got.push("message " + topic),
  };
  for (const c of APP) assert.equal(deliver(cb, c), true);
  assert.deepEqual(got, ["status idle", "log link.stable", "acked 1", "dropped 2 overflow", "message t"]);
});

test("deliver without callbacks still claims the application's commands, and leaves the shell's alone", () => {
  for (const c of APP) assert.equal(deliver({}, c), true);
  assert.equal(deliver({}, { type: "closeTransport", gen: 1 }), false);
  assert.equal(deliver({}, { type: "startTimer", kind: "ping", ms: 1 }), false);
});
