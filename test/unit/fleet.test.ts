import { test } from "node:test";
import assert from "node:assert/strict";
import { profileDeviceConfig, HALFOPEN_KEEPALIVE_SEC } from "../../src/sim/fleet.js";
import { judge, SimReport } from "../../src/sim/report.js";

test("the half-open profile gives devices a short keepalive unless the caller sets one", () => {
  assert.equal(profileDeviceConfig("halfopen").keepaliveSec, HALFOPEN_KEEPALIVE_SEC);
  assert.equal(profileDeviceConfig("halfopen", { keepaliveSec: 30 }).keepaliveSec, 30);
  assert.equal(profileDeviceConfig("chaos").keepaliveSec, undefined);
});

test("a conflict inside a short linger fails a chaos run but not a half-open one", () => {
  const rep = { linkCreationConflicts: 2, conflictsWithOpenLink: 0, telemetry: { lost: 0 }, halted: 0 } as unknown as SimReport;
  assert.equal(judge(rep, 1000, 2000, "chaos").ok, false);
  assert.equal(judge(rep, 1000, 2000, "halfopen").ok, true);
  const open = { ...rep, conflictsWithOpenLink: 1 } as SimReport;
  assert.equal(judge(open, 1000, 2000, "halfopen").ok, false, "a second link is a failure in every profile");
});
