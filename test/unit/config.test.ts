import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import {
  validateConfig, loadConfigJson, describeConfigError, DEFAULTS, LIMITS, isLoopbackHost, ConfigError,
} from "../../src/core/config.js";

const KEY = Buffer.alloc(32, 9).toString("base64");
const MIN = { host: "myhub.azure-devices.net", deviceId: "dev-1", auth: { symmetricKey: KEY } };

/** the [path, rule] pairs of a failed validation */
function errs(input: unknown): string[][] {
  const r = validateConfig(input);
  assert.equal(r.ok, false, "expected errors");
  return (r as { errors: ConfigError[] }).errors.map((e) => [e.path, e.rule]);
}

test("a minimal config is filled with the defaults", () => {
  const r = validateConfig(MIN);
  assert.ok(r.ok);
  assert.deepEqual(r.config, { ...MIN, ...JSON.parse(JSON.stringify(DEFAULTS)) });
  assert.ok(Object.isFrozen(DEFAULTS) && Object.isFrozen(DEFAULTS.backoff));
});

test("partial sections keep the given fields and fill the rest", () => {
  const r = validateConfig({ ...MIN, backoff: { capMs: 5000, fleet: { devices: 1000, admitPerS: 100 } }, telemetry: { overflow: "refuse-new" } });
  assert.ok(r.ok);
  assert.deepEqual(r.config.backoff, { ...DEFAULTS.backoff, capMs: 5000, fleet: { devices: 1000, admitPerS: 100 } });
  assert.deepEqual(r.config.telemetry, { queueLimit: 64, overflow: "refuse-new" });
});

test("not an object, and every missing required field at once", () => {
  assert.deepEqual(errs(null), [["$", "type"]]);
  assert.deepEqual(errs([]), [["$", "type"]]);
  assert.deepEqual(errs({}), [["$.host", "required"], ["$.deviceId", "required"], ["$.auth", "required"]]);
});

test("type, range and integer rules on numbers", () => {
  assert.deepEqual(errs({ ...MIN, port: "8883", keepaliveSec: 2000, connectTimeoutMs: 1500.5, maxPacketBytes: 10 }),
    [["$.port", "type"], ["$.keepaliveSec", "range"], ["$.connectTimeoutMs", "type"], ["$.maxPacketBytes", "range"]]);
  assert.deepEqual(errs({ ...MIN, backoff: { factor: 0.5, baseMs: NaN } }), [["$.backoff.baseMs", "type"], ["$.backoff.factor", "range"]]);
});

test("unknown fields are errors at every level", () => {
  assert.deepEqual(errs({ ...MIN, keepAliveSec: 60, backoff: { cap: 1 }, token: { life: 1 }, telemetry: { x: 1 }, auth: { symmetricKey: KEY, password: "p" } }),
    [["$.keepAliveSec", "unknownField"], ["$.auth.password", "unknownField"], ["$.backoff.cap", "unknownField"],
      ["$.token.life", "unknownField"], ["$.telemetry.x", "unknownField"]]);
  assert.deepEqual(errs({ ...MIN, "odd key": 1 }), [["$[\"odd key\"]", "unknownField"]]);
  assert.ok(validateConfig({ ...MIN, $schema: "../schema/device-config.schema.json" }).ok);
});

test("host and deviceId formats", () => {
  assert.deepEqual(errs({ ...MIN, host: "bad host!", deviceId: "a/b" }), [["$.host", "format"], ["$.deviceId", "format"]]);
  assert.deepEqual(errs({ ...MIN, host: 5, deviceId: "x".repeat(129) }), [["$.host", "type"], ["$.deviceId", "range"]]);
  assert.deepEqual(errs({ ...MIN, deviceId: "" }), [["$.deviceId", "range"]]);
  assert.ok(validateConfig({ ...MIN, deviceId: "A-z.0%_*?!(),:=@$'" }).ok);
  assert.deepEqual(errs({ ...MIN, deviceId: "a+b" }), [["$.deviceId", "format"]]);
  assert.deepEqual(errs({ ...MIN, deviceId: "a#b" }), [["$.deviceId", "format"]]);
});

test("auth must be exactly one of symmetricKey or sasToken", () => {
  assert.deepEqual(errs({ ...MIN, auth: { symmetricKey: KEY, sasToken: "t" } }), [["$.auth", "oneOf"]]);
  assert.deepEqual(errs({ ...MIN, auth: {} }), [["$.auth", "oneOf"]]);
  assert.deepEqual(errs({ ...MIN, auth: "key" }), [["$.auth", "type"]]);
});

test("symmetric keys: base64 of 16..64 bytes, and never quoted in a message", () => {
  const short = Buffer.alloc(8, 1).toString("base64");
  const long = Buffer.alloc(65, 1).toString("base64");
  const notB64 = "c2VjcmV0!c2VjcmV0c2VjcmV0";
  assert.deepEqual(errs({ ...MIN, auth: { symmetricKey: short } }), [["$.auth.symmetricKey", "range"]]);
  assert.deepEqual(errs({ ...MIN, auth: { symmetricKey: long } }), [["$.auth.symmetricKey", "range"]]);
  assert.deepEqual(errs({ ...MIN, auth: { symmetricKey: notB64 } }), [["$.auth.symmetricKey", "format"]]);
  assert.deepEqual(errs({ ...MIN, auth: { symmetricKey: 42 } }), [["$.auth.symmetricKey", "type"]]);
  for (const k of [short, long, notB64]) {
    const r = validateConfig({ ...MIN, host: k, deviceId: k, auth: { symmetricKey: k }, tls: k });
    assert.ok(!r.ok && !JSON.stringify(r.errors).includes(k) && !r.errors.map(describeConfigError).join().includes(k));
  }
});

test("SAS tokens must parse, carry se, and name this device", () => {
  const tok = (sr: string, rest = "&sig=abc%3D&se=1700000000") => ({ ...MIN, auth: { sasToken: "SharedAccessSignature sr=" + sr + rest } });
  assert.ok(validateConfig(tok("myhub.azure-devices.net%2Fdevices%2Fdev-1")).ok);
  assert.ok(validateConfig(tok("MyHub.azure-devices.net")).ok); // a hub-level policy token
  assert.deepEqual(errs(tok("myhub.azure-devices.net%2Fdevices%2Fdev-2")), [["$.auth.sasToken", "relation"]]);
  assert.deepEqual(errs(tok("h", "&sig=abc")), [["$.auth.sasToken", "format"]]);
  assert.deepEqual(errs(tok("h", "&sig=abc&se=soon")), [["$.auth.sasToken", "format"]]);
  assert.deepEqual(errs({ ...MIN, auth: { sasToken: "Bearer x" } }), [["$.auth.sasToken", "format"]]);
  const r = validateConfig(tok("other", "&sig=TOPSECRETSIG&se=1"));
  assert.ok(!r.ok && !JSON.stringify(r.errors).includes("TOPSECRETSIG"));
});

test("plaintext only to a loopback host", () => {
  assert.deepEqual(errs({ ...MIN, tls: false }), [["$.tls", "relation"]]);
  assert.deepEqual(errs({ ...MIN, tls: "no" }), [["$.tls", "type"]]);
  for (const host of ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"]) {
    assert.ok(validateConfig({ ...MIN, host, tls: false }).ok, host);
  }
  for (const host of ["128.0.0.1", "127.0.0.256", "localhost.example.com", "10.0.0.1"]) assert.equal(isLoopbackHost(host), false, host);
});

test("enums and relations, each at its own path", () => {
  assert.deepEqual(errs({ ...MIN, backoff: { jitter: "random", baseMs: 5000, capMs: 2000, floorMs: 3000 }, telemetry: { overflow: "block" } }),
    [["$.backoff.jitter", "enum"], ["$.backoff.capMs", "relation"], ["$.backoff.floorMs", "relation"], ["$.telemetry.overflow", "enum"]]);
  assert.deepEqual(errs({ ...MIN, token: { lifetimeSec: 600, renewMarginSec: 600 } }), [["$.token.renewMarginSec", "relation"]]);
  assert.deepEqual(errs({ ...MIN, backoff: { fleet: { devices: 10 } } }), [["$.backoff.fleet.admitPerS", "required"]]);
  assert.deepEqual(errs({ ...MIN, backoff: { fleet: 5 }, token: [] }), [["$.backoff.fleet", "type"], ["$.token", "type"]]);
});

test("loadConfigJson: JSON errors are one $ json error that never quotes the text", () => {
  const r = loadConfigJson('{"auth": {"symmetricKey": "' + KEY + '"');
  assert.deepEqual(r, { ok: false, errors: [{ path: "$", rule: "json", message: "not valid JSON" }] });
  assert.ok(loadConfigJson(JSON.stringify(MIN)).ok);
});

test("describeConfigError is one line with path, message and rule", () => {
  assert.equal(describeConfigError({ path: "$.backoff.capMs", rule: "relation", message: "must be >= baseMs" }),
    "$.backoff.capMs: must be >= baseMs (relation)");
});

test("validateConfig never throws, whatever it is given", () => {
  fc.assert(fc.property(fc.anything(), (v) => { validateConfig(v); validateConfig({ ...MIN, backoff: v, auth: v }); }), { numRuns: 300 });
});

test("the JSON schema's names, defaults and limits match DEFAULTS and LIMITS", () => {
  const schema = JSON.parse(readFileSync(new URL("../../../schema/device-config.schema.json", import.meta.url), "utf8"));
  assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
  type Node = { properties: Record<string, any> };
  const compare = (node: Node, defaults: Record<string, any>, limits: Record<string, any>, required: string[], where: string) => {
    const names = Object.keys(node.properties).sort();
    assert.deepEqual(names, [...new Set([...Object.keys(defaults), ...Object.keys(limits), ...required])].sort(), where);
    for (const k of Object.keys(defaults)) {
      if (typeof defaults[k] === "object") compare(node.properties[k], defaults[k], limits[k] || {}, k === "backoff" ? ["fleet"] : [], where + "." + k);
      else assert.equal(node.properties[k].default, defaults[k], where + "." + k);
    }
    for (const k of Object.keys(limits)) {
      const l = limits[k];
      if (!("min" in l)) continue;
      const p = node.properties[k];
      assert.deepEqual([p.minimum, p.maximum, p.type], [l.min, l.max, l.integer ? "integer" : "number"], where + "." + k);
    }
  };
  compare(schema, DEFAULTS, LIMITS, ["$schema", "host", "deviceId", "auth"], "$");
  const fleet = schema.properties.backoff.properties.fleet;
  compare(fleet, {}, LIMITS.backoff.fleet, [], "$.backoff.fleet");
  assert.deepEqual(schema.properties.backoff.properties.jitter.enum, ["full", "equal", "decorrelated"]);
  assert.deepEqual(schema.properties.telemetry.properties.overflow.enum, ["drop-oldest", "refuse-new"]);
});
