// Every device id the validator accepts yields packets that MQTT — and linkguard's own decoder —
// accept: the CONNECT, the cloud-to-device SUBSCRIBE and a telemetry PUBLISH, for ids drawn from
// the validator's own alphabet. Ids with "+" or "#" (allowed by IoT Hub, wildcards in MQTT topic
// names) are refused by the validator with the reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { DEVICE_ID_CHARS, DEVICE_ID_MAX, validateConfig } from "../../src/core/config.js";
import { EMPTY_DECODER, feed, anyPacket } from "../../src/core/mqtt/index.js";
import { Driver } from "../helpers/driver.js";
import { TEST_KEY } from "../helpers/config.js";

const idFrom = (alphabet: string) =>
  fc.array(fc.constantFrom(...alphabet.split("")), { minLength: 1, maxLength: DEVICE_ID_MAX }).map((a) => a.join(""));

function config(deviceId: string) {
  return validateConfig({ host: "hub.example.net", deviceId, auth: { symmetricKey: TEST_KEY }, maxPacketBytes: 65536 });
}

test("an id from the validator's alphabet gives a CONNECT, SUBSCRIBE and PUBLISH that linkguard's decoder accepts", () => {
  fc.assert(fc.property(idFrom(DEVICE_ID_CHARS), (id) => {
    const r = config(id);
    assert.ok(r.ok, `the validator refused ${JSON.stringify(id)}`);
    const d = new Driver(r.config);
    const cmds = d.connect();
    d.ev({ type: "publish", msg: { id: 1, payload: new Uint8Array([1, 2, 3]), qos: 1, properties: { k: "v" } } });
    const writes = d.log.filter((c) => c.type === "write").map((c) => (c as { bytes: Uint8Array }).bytes);
    assert.ok(cmds.length > 0 && writes.length >= 3, "CONNECT, SUBSCRIBE and PUBLISH were written");
    for (const w of writes) {
      const f = feed(EMPTY_DECODER, w, 1 << 20, anyPacket);
      assert.equal(f.error, null, `id ${JSON.stringify(id)}: ${f.error && f.error.code} at byte ${f.error && f.error.at}`);
      assert.equal(f.packets.length, 1);
    }
  }), { numRuns: 300 });
});

test("an id with + or # is refused, naming the field and why", () => {
  fc.assert(fc.property(idFrom(DEVICE_ID_CHARS), fc.constantFrom("+", "#"), fc.nat(), (id, wild, at) => {
    const i = at % (id.length + 1);
    const bad = (id.slice(0, i) + wild + id.slice(i)).slice(0, DEVICE_ID_MAX);
    if (bad.indexOf(wild) < 0) return;
    const r = config(bad);
    assert.equal(r.ok, false);
    const e = (r as { errors: { path: string; message: string }[] }).errors.find((x) => x.path === "$.deviceId");
    assert.ok(e && /wildcards/.test(e.message), JSON.stringify(r));
  }), { numRuns: 200 });
});
