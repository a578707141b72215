// A short chaos soak (the long one is `linkguard sim --devices 20 --duration 120 --faults chaos
// --seed 7`): 20 devices, real TLS to the emulator, QoS 1 telemetry throughout, every chaos
// fault kind. Then a secret scan of everything the run produced for people: status text,
// timelines, diagnostic rings and counters, errors, the hub's diagnostics, the report.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runFleet } from "../../src/sim/fleet.js";

test("chaos soak: 20 devices, no second link, no conflict, nothing lost, no halt — and no secret in any text", async () => {
  const r = await runFleet({
    devices: 20, durationS: 20, profile: "chaos", seed: 11, ratePerS: 2,
    deviceConfig: { connectTimeoutMs: 4000, backoff: { capMs: 8000 } },
  });
  const rep = r.report;
  assert.equal(rep.conflictsWithOpenLink, 0);
  assert.equal(rep.linkCreationConflicts, 0);
  assert.equal(rep.telemetry.lost, 0, JSON.stringify(rep.telemetry));
  assert.equal(rep.halted, 0);
  assert.ok(r.drained, "some devices never settled");
  assert.ok(rep.faultsInjected >= 40, `only ${rep.faultsInjected} faults`);
  const kinds = new Set(r.faults.map((f) => f.kind));
  for (const k of ["drop", "garbage", "delayConnack", "withholdConnack", "refuseTls", "expireToken"]) assert.ok(kinds.has(k), `no ${k} fault in the soak (${[...kinds]})`);
  assert.ok(rep.telemetry.acknowledged > 0 && rep.telemetry.acknowledged === rep.telemetry.sent - rep.telemetry.droppedByPolicy);
  assert.ok(rep.reconnectDelayMs.min >= 2000, `a reconnect ${rep.reconnectDelayMs.min} ms after a drop`);

  // The secret scan.
  const texts: string[] = [JSON.stringify(rep), JSON.stringify(r.hub), JSON.stringify(r.faults)];
  const keys: string[] = [];
  for (const d of r.devices) {
    keys.push((d.cfg.auth as { symmetricKey: string }).symmetricKey);
    texts.push(JSON.stringify(d.timeline), JSON.stringify(d.shell.diagnostics.snapshot()), JSON.stringify(d.shell.diagnostics.counters()), JSON.stringify(d.lastStatus()), JSON.stringify(d.report()));
  }
  assert.ok(texts.join("").length > 10000, "the scan would read almost nothing");
  for (const t of texts) {
    assert.ok(!/SharedAccessSignature|sig=/.test(t), "a SAS token or signature leaked: " + t.slice(0, 200));
    for (const k of keys) {
      assert.ok(!t.includes(k) && !t.includes(encodeURIComponent(k)), "a device key leaked");
    }
  }
});
