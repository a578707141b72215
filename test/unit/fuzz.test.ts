// A bounded run of the fuzzer (`linkguard fuzz` runs 1,000,000 inputs): no exception escapes
// the decoder or the link, and every protocol error closes the link with a logged reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runFuzz } from "../../src/sim/fuzz.js";

test("20,000 random and mutated packets: no escapes, every protocol error closes the link with a reason", () => {
  const r = runFuzz({ count: 20000, seed: 20261123 });
  assert.equal(r.escapes, 0, r.firstProblem || "");
  assert.equal(r.violations, 0, r.firstProblem || "");
  // the mutations reach many distinct error paths, and some inputs still decode cleanly
  assert.ok(Object.keys(r.errorCodes).length >= 8, `only ${Object.keys(r.errorCodes).join(", ")}`);
  assert.ok(r.decodedClean > 0 && r.incomplete > 0 && r.linkClosures >= r.protocolErrors);
});
