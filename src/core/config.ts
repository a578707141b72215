// The device configuration: schema, defaults and validation.
// Every field declares its unit, range and default. The validator returns every error
// with its JSON path and the rule broken; it never throws on bad input.

import { fromBase64 } from "./crypto/base64.js";
import { parseSasToken, tokenExpirySec } from "./hub/sas.js";
import { percentDecode } from "./hub/encode.js";
import { freeze } from "./mqtt/freeze.js";

export type JitterMode = "full" | "equal" | "decorrelated";
export type OverflowPolicy = "drop-oldest" | "refuse-new";

export interface BackoffConfig {
  /** jitter mode; default "decorrelated" */
  jitter: JitterMode;
  /** ms, first ceiling; 100..600000; default 1000 */
  baseMs: number;
  /** growth per attempt; 1..10; default 2 */
  factor: number;
  /** ms, largest delay; >= baseMs, <= 3600000; default 20000 (bench/RESULTS.md: a 60 s cap leaves a throttled fleet asleep while the hub has free admissions) */
  capMs: number;
  /** ms, no reconnect after a drop comes sooner than this; 0..capMs; default 2000 (longer than the hub's typical 0.2–2 s view of a dropped link) */
  floorMs: number;
  /** ms, the link must stay up this long before the attempt counter resets; default 30000 */
  stableMs: number;
  /** optional fleet sizing: the window is stretched so devices / window stays under admitPerS */
  fleet?: { devices: number; admitPerS: number };
}

export interface DeviceConfig {
  /** IoT Hub host name, e.g. "myhub.azure-devices.net"; required */
  host: string;
  /** TCP port; 1..65535; default 8883 */
  port: number;
  /** device identity; 1..128 chars of [A-Za-z0-9-.%_*?!(),:=@$'+]; required */
  deviceId: string;
  /** exactly one of symmetricKey (base64) or sasToken (a ready token) */
  auth: { symmetricKey: string } | { sasToken: string };
  /** TLS is on unless plaintext is asked for, and plaintext is allowed only to a loopback host */
  tls: boolean;
  /** seconds; 1..1177 (the hub's maximum); default 240 */
  keepaliveSec: number;
  /** ms to open the transport and receive CONNACK; 1000..120000; default 15000 */
  connectTimeoutMs: number;
  backoff: BackoffConfig;
  /** SAS token lifetime in seconds (60..31536000, default 3600) and renewal margin before expiry (default 300, < lifetime) */
  token: { lifetimeSec: number; renewMarginSec: number };
  /** outbound telemetry queue while disconnected; limit 1..10000 (default 64); overflow default "drop-oldest" */
  telemetry: { queueLimit: number; overflow: OverflowPolicy };
  /**
   * largest MQTT packet accepted from the hub, bytes; 1024..268435455; default 69632 (68 KiB):
   * IoT Hub caps a cloud-to-device message at 64 KB, and 4 KiB more covers its topic (device id
   * and property bag) and the fixed header. The decoder holds a packet split across reads once,
   * in one array of its size, so the default is what a device must be able to allocate in one
   * piece: an ESP32 with Moddable (100-300 KB free) can; an Espruino ESP32 (a few thousand
   * 14-byte JsVars in all) cannot hold even that: set it to what the application needs (e.g.
   * 4096). Direct methods (payloads up to 128 KB) are not implemented; raise it when they are.
   * A larger packet closes the link with protocol.mqtt.packetTooLarge at its length byte.
   */
  maxPacketBytes: number;
}

export interface ConfigError { path: string; rule: string; message: string }
export type ConfigResult = { ok: true; config: DeviceConfig } | { ok: false; errors: ConfigError[] };

// ---------------------------------------------------------------------------------------
// Defaults, limits and the validator. Error messages name the path, the rule and the limit,
// never a value: a key or token typed into the wrong field must not reach a log.


/** The value of every optional field when it is absent. One object, so tuning happens in one place. */
export const DEFAULTS = freeze({
  port: 8883,
  tls: true,
  keepaliveSec: 240,
  connectTimeoutMs: 15000,
  backoff: freeze({
    jitter: "decorrelated" as JitterMode,
    baseMs: 1000,
    factor: 2,
    capMs: 20000,
    floorMs: 2000,
    stableMs: 30000,
  }),
  token: freeze({ lifetimeSec: 3600, renewMarginSec: 300 }),
  telemetry: freeze({ queueLimit: 64, overflow: "drop-oldest" as OverflowPolicy }),
  maxPacketBytes: 69632,
});

export interface Limit { min: number; max: number; integer: boolean }

function lim(min: number, max: number, integer: boolean): Limit {
  return freeze({ min: min, max: max, integer: integer });
}

/** Inclusive ranges of the numeric fields (the JSON schema repeats them; a test keeps both equal). */
export const LIMITS = freeze({
  port: lim(1, 65535, true),
  keepaliveSec: lim(1, 1177, true),
  connectTimeoutMs: lim(1000, 120000, true),
  maxPacketBytes: lim(1024, 268435455, true),
  backoff: freeze({
    baseMs: lim(100, 600000, true),
    factor: lim(1, 10, false),
    capMs: lim(100, 3600000, true),
    floorMs: lim(0, 3600000, true),
    stableMs: lim(1000, 3600000, true),
    fleet: freeze({ devices: lim(1, 10000000, true), admitPerS: lim(1, 1000000, false) }),
  }),
  token: freeze({ lifetimeSec: lim(60, 31536000, true), renewMarginSec: lim(0, 31536000, true) }),
  telemetry: freeze({ queueLimit: lim(1, 10000, true) }),
});

export const JITTER_MODES: readonly JitterMode[] = freeze(["full", "equal", "decorrelated"] as JitterMode[]);
export const OVERFLOW_POLICIES: readonly OverflowPolicy[] = freeze(["drop-oldest", "refuse-new"] as OverflowPolicy[]);
/**
 * deviceId: 1..128 characters from this set: IoT Hub's device identity rules without "+" and "#".
 * The hub accepts those two in an id, but its MQTT endpoint takes the id raw in topic names
 * (devices/{id}/messages/events/...; the Azure SDKs stopped percent-encoding it), where MQTT 3.1.1
 * §4.7.1 makes them wildcards: no PUBLISH to such a topic is valid, so such a device cannot talk
 * MQTT at all (azure-docs issue 89606). Refused here with that reason.
 */
export const DEVICE_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.%_*?!(),:=@$'";
export const DEVICE_ID_MAX = 128;
/** the decoded symmetric key's size in bytes */
export const KEY_BYTES = freeze({ min: 16, max: 64 });

type Obj = { [k: string]: unknown };
type Errors = ConfigError[];

const TOP_FIELDS: readonly string[] = freeze(["$schema", "host", "port", "deviceId", "auth", "tls", "keepaliveSec",
  "connectTimeoutMs", "backoff", "token", "telemetry", "maxPacketBytes"]);
const AUTH_FIELDS: readonly string[] = freeze(["symmetricKey", "sasToken"]);
const BACKOFF_FIELDS: readonly string[] = freeze(["jitter", "baseMs", "factor", "capMs", "floorMs", "stableMs", "fleet"]);
const FLEET_FIELDS: readonly string[] = freeze(["devices", "admitPerS"]);
const TOKEN_FIELDS: readonly string[] = freeze(["lifetimeSec", "renewMarginSec"]);
const TELEMETRY_FIELDS: readonly string[] = freeze(["queueLimit", "overflow"]);

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fail(errors: Errors, path: string, rule: string, message: string): null {
  errors.push({ path: path, rule: rule, message: message });
  return null;
}

function isIdentifier(k: string): boolean {
  if (k.length === 0) return false;
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;
    if (!alpha && !(i > 0 && c >= 48 && c <= 57)) return false;
  }
  return true;
}

/** "$.a.b", or "$.a[\"odd key\"]" for keys that are not identifiers */
function childPath(path: string, key: string): string {
  return isIdentifier(key) ? path + "." + key : path + "[" + JSON.stringify(key) + "]";
}

function has(keys: string[], k: string): boolean {
  return keys.indexOf(k) >= 0;
}

/** an error for every own key not in allowed; returns the own keys */
function checkKeys(errors: Errors, o: Obj, path: string, allowed: readonly string[]): string[] {
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    if (allowed.indexOf(keys[i]) < 0) fail(errors, childPath(path, keys[i]), "unknownField", "unknown field (check the spelling)");
  }
  return keys;
}

/** a numeric field: its value, the default when absent (dflt !== null), or null after an error */
function num(errors: Errors, o: Obj, keys: string[], name: string, path: string, l: Limit, dflt: number | null): number | null {
  const p = childPath(path, name);
  if (!has(keys, name)) return dflt === null ? fail(errors, p, "required", "required") : dflt;
  const v = o[name];
  if (typeof v !== "number" || v !== v || v === Infinity || v === -Infinity) return fail(errors, p, "type", "must be a number");
  if (l.integer && Math.floor(v) !== v) return fail(errors, p, "type", "must be an integer");
  if (v < l.min || v > l.max) return fail(errors, p, "range", "must be in " + l.min + ".." + l.max);
  return v;
}

function oneOf<T extends string>(errors: Errors, o: Obj, keys: string[], name: string, path: string, allowed: readonly T[], dflt: T): T | null {
  const p = childPath(path, name);
  if (!has(keys, name)) return dflt;
  const v = o[name];
  if (typeof v !== "string") return fail(errors, p, "type", "must be a string");
  const i = allowed.indexOf(v as T);
  if (i < 0) return fail(errors, p, "enum", "must be one of " + allowed.join(", "));
  return allowed[i];
}

/** a nested object field: the object, {} when absent, or null after an error */
function section(errors: Errors, o: Obj, keys: string[], name: string, path: string): Obj | null {
  if (!has(keys, name)) return {};
  const v = o[name];
  if (!isObject(v)) return fail(errors, childPath(path, name), "type", "must be an object");
  return v;
}

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 3) return false;
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c < 48 || c > 57) return false; }
  return true;
}

function isHostLabel(s: string): boolean {
  if (s.length === 0 || s.length > 63 || s.charAt(0) === "-" || s.charAt(s.length - 1) === "-") return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45)) return false;
  }
  return true;
}

/** a DNS name, a dotted IPv4 address, or an IPv6 literal (optionally in brackets) */
function isValidHost(h: string): boolean {
  if (h.length === 0 || h.length > 253) return false;
  if (h.indexOf(":") >= 0) {
    const inner = h.charAt(0) === "[" && h.charAt(h.length - 1) === "]" ? h.substring(1, h.length - 1) : h;
    if (inner.length < 2) return false;
    for (let i = 0; i < inner.length; i++) {
      const c = inner.charCodeAt(i);
      if (!((c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46)) return false;
    }
    return true;
  }
  const labels = h.split(".");
  for (let i = 0; i < labels.length; i++) if (!isHostLabel(labels[i])) return false;
  return true;
}

/** localhost, 127.x.x.x or ::1: the only hosts plaintext may go to */
export function isLoopbackHost(h: string): boolean {
  const l = h.toLowerCase();
  if (l === "localhost" || l === "localhost." || l === "::1" || l === "[::1]") return true;
  const parts = l.split(".");
  if (parts.length !== 4 || parts[0] !== "127") return false;
  for (let i = 0; i < 4; i++) if (!isDigits(parts[i]) || parseInt(parts[i], 10) > 255) return false;
  return true;
}

function isDeviceIdChars(id: string): boolean {
  for (let i = 0; i < id.length; i++) if (DEVICE_ID_CHARS.indexOf(id.charAt(i)) < 0) return false;
  return true;
}

/** does a token's resource name this device (or, for a hub-level policy token, the hub)? */
function srMatches(sr: string, host: string, deviceId: string): boolean {
  const decoded = percentDecode(sr);
  if (decoded === null) return false;
  const slash = decoded.indexOf("/");
  const srHost = (slash < 0 ? decoded : decoded.substring(0, slash)).toLowerCase();
  if (srHost !== host.toLowerCase()) return false;
  return slash < 0 || decoded.substring(slash) === "/devices/" + deviceId;
}

function validateAuth(errors: Errors, o: Obj, keys: string[], host: string | null, deviceId: string | null): DeviceConfig["auth"] | null {
  if (!has(keys, "auth")) return fail(errors, "$.auth", "required", "required: { symmetricKey } or { sasToken }");
  const a = o.auth;
  if (!isObject(a)) return fail(errors, "$.auth", "type", "must be an object");
  const ak = checkKeys(errors, a, "$.auth", AUTH_FIELDS);
  const hasKey = has(ak, "symmetricKey");
  const hasToken = has(ak, "sasToken");
  if (hasKey === hasToken) return fail(errors, "$.auth", "oneOf", "must have exactly one of symmetricKey or sasToken");
  if (hasKey) {
    const k = a.symmetricKey;
    if (typeof k !== "string") return fail(errors, "$.auth.symmetricKey", "type", "must be a string (base64)");
    const bytes = fromBase64(k);
    if (bytes === null) return fail(errors, "$.auth.symmetricKey", "format", "must be base64");
    const n = bytes.length;
    bytes.fill(0);
    if (n < KEY_BYTES.min || n > KEY_BYTES.max) {
      return fail(errors, "$.auth.symmetricKey", "range", "must decode to " + KEY_BYTES.min + ".." + KEY_BYTES.max + " bytes");
    }
    return { symmetricKey: k };
  }
  const t = a.sasToken;
  if (typeof t !== "string") return fail(errors, "$.auth.sasToken", "type", "must be a string");
  const parts = parseSasToken(t);
  if (parts === null) return fail(errors, "$.auth.sasToken", "format", "must be \"SharedAccessSignature sr=...&sig=...&se=...\"");
  if (tokenExpirySec(t) === null) return fail(errors, "$.auth.sasToken", "format", "se must be the expiry in seconds since the epoch");
  if (host !== null && deviceId !== null && !srMatches(parts.sr, host, deviceId)) {
    return fail(errors, "$.auth.sasToken", "relation", "sr must be {host}/devices/{deviceId} of this configuration");
  }
  return { sasToken: t };
}

function validateBackoff(errors: Errors, o: Obj, keys: string[]): BackoffConfig | null {
  const b = section(errors, o, keys, "backoff", "$");
  if (b === null) return null;
  const p = "$.backoff";
  const bk = checkKeys(errors, b, p, BACKOFF_FIELDS);
  const L = LIMITS.backoff;
  const D = DEFAULTS.backoff;
  const jitter = oneOf(errors, b, bk, "jitter", p, JITTER_MODES, D.jitter);
  const baseMs = num(errors, b, bk, "baseMs", p, L.baseMs, D.baseMs);
  const factor = num(errors, b, bk, "factor", p, L.factor, D.factor);
  const capMs = num(errors, b, bk, "capMs", p, L.capMs, D.capMs);
  const floorMs = num(errors, b, bk, "floorMs", p, L.floorMs, D.floorMs);
  const stableMs = num(errors, b, bk, "stableMs", p, L.stableMs, D.stableMs);
  if (baseMs !== null && capMs !== null && capMs < baseMs) fail(errors, p + ".capMs", "relation", "must be >= baseMs");
  if (floorMs !== null && capMs !== null && floorMs > capMs) fail(errors, p + ".floorMs", "relation", "must be <= capMs");
  let fleet: { devices: number; admitPerS: number } | undefined = undefined;
  let fleetOk = true;
  if (has(bk, "fleet")) {
    const f = b.fleet;
    if (!isObject(f)) {
      fleetOk = fail(errors, p + ".fleet", "type", "must be an object") !== null;
    } else {
      const fk = checkKeys(errors, f, p + ".fleet", FLEET_FIELDS);
      const devices = num(errors, f, fk, "devices", p + ".fleet", L.fleet.devices, null);
      const admitPerS = num(errors, f, fk, "admitPerS", p + ".fleet", L.fleet.admitPerS, null);
      if (devices === null || admitPerS === null) fleetOk = false;
      else fleet = { devices: devices, admitPerS: admitPerS };
    }
  }
  if (jitter === null || baseMs === null || factor === null || capMs === null || floorMs === null || stableMs === null || !fleetOk) return null;
  const out: BackoffConfig = { jitter: jitter, baseMs: baseMs, factor: factor, capMs: capMs, floorMs: floorMs, stableMs: stableMs };
  if (fleet !== undefined) out.fleet = fleet;
  return out;
}

/**
 * Validates a device configuration (parsed JSON or any value) and fills the defaults.
 * Returns every error, each with its JSON path and rule: required, type, range, enum, oneOf,
 * unknownField, format, relation. Never throws. A "$schema" string at the top is allowed
 * (editors use it) and dropped.
 */
export function validateConfig(input: unknown): ConfigResult {
  const errors: Errors = [];
  if (!isObject(input)) {
    fail(errors, "$", "type", "must be an object");
    return { ok: false, errors: errors };
  }
  const o = input;
  const keys = checkKeys(errors, o, "$", TOP_FIELDS);
  if (has(keys, "$schema") && typeof o["$schema"] !== "string") fail(errors, "$[\"$schema\"]", "type", "must be a string");

  let host: string | null = null;
  if (!has(keys, "host")) fail(errors, "$.host", "required", "required");
  else if (typeof o.host !== "string") fail(errors, "$.host", "type", "must be a string");
  else if (!isValidHost(o.host)) fail(errors, "$.host", "format", "must be a host name or IP address");
  else host = o.host;

  const port = num(errors, o, keys, "port", "$", LIMITS.port, DEFAULTS.port);

  let deviceId: string | null = null;
  if (!has(keys, "deviceId")) fail(errors, "$.deviceId", "required", "required");
  else if (typeof o.deviceId !== "string") fail(errors, "$.deviceId", "type", "must be a string");
  else if (o.deviceId.length < 1 || o.deviceId.length > DEVICE_ID_MAX) fail(errors, "$.deviceId", "range", "must be 1.." + DEVICE_ID_MAX + " characters");
  else if (/[+#]/.test(o.deviceId)) fail(errors, "$.deviceId", "format", "contains \"+\" or \"#\": IoT Hub allows them in ids, but over MQTT the id is part of topic names, where they are wildcards (MQTT 3.1.1 §4.7.1): such a device cannot publish; choose an id without them");
  else if (!isDeviceIdChars(o.deviceId)) fail(errors, "$.deviceId", "format", "may contain only A-Z a-z 0-9 and - . % _ * ? ! ( ) , : = @ $ '");
  else deviceId = o.deviceId;

  const auth = validateAuth(errors, o, keys, host, deviceId);

  let tls: boolean | null = DEFAULTS.tls;
  if (has(keys, "tls")) {
    if (typeof o.tls !== "boolean") tls = fail(errors, "$.tls", "type", "must be true or false");
    else tls = o.tls;
  }
  if (tls === false && host !== null && !isLoopbackHost(host)) {
    fail(errors, "$.tls", "relation", "plaintext (tls: false) is allowed only to a loopback host (localhost, 127.x.x.x, ::1)");
  }

  const keepaliveSec = num(errors, o, keys, "keepaliveSec", "$", LIMITS.keepaliveSec, DEFAULTS.keepaliveSec);
  const connectTimeoutMs = num(errors, o, keys, "connectTimeoutMs", "$", LIMITS.connectTimeoutMs, DEFAULTS.connectTimeoutMs);
  const backoff = validateBackoff(errors, o, keys);

  let token: DeviceConfig["token"] | null = null;
  const tk = section(errors, o, keys, "token", "$");
  if (tk !== null) {
    const tkk = checkKeys(errors, tk, "$.token", TOKEN_FIELDS);
    const lifetimeSec = num(errors, tk, tkk, "lifetimeSec", "$.token", LIMITS.token.lifetimeSec, DEFAULTS.token.lifetimeSec);
    const renewMarginSec = num(errors, tk, tkk, "renewMarginSec", "$.token", LIMITS.token.renewMarginSec, DEFAULTS.token.renewMarginSec);
    if (lifetimeSec !== null && renewMarginSec !== null) {
      if (renewMarginSec >= lifetimeSec) fail(errors, "$.token.renewMarginSec", "relation", "must be < lifetimeSec");
      else token = { lifetimeSec: lifetimeSec, renewMarginSec: renewMarginSec };
    }
  }

  let telemetry: DeviceConfig["telemetry"] | null = null;
  const tm = section(errors, o, keys, "telemetry", "$");
  if (tm !== null) {
    const tmk = checkKeys(errors, tm, "$.telemetry", TELEMETRY_FIELDS);
    const queueLimit = num(errors, tm, tmk, "queueLimit", "$.telemetry", LIMITS.telemetry.queueLimit, DEFAULTS.telemetry.queueLimit);
    const overflow = oneOf(errors, tm, tmk, "overflow", "$.telemetry", OVERFLOW_POLICIES, DEFAULTS.telemetry.overflow);
    if (queueLimit !== null && overflow !== null) telemetry = { queueLimit: queueLimit, overflow: overflow };
  }

  const maxPacketBytes = num(errors, o, keys, "maxPacketBytes", "$", LIMITS.maxPacketBytes, DEFAULTS.maxPacketBytes);

  if (errors.length > 0 || host === null || port === null || deviceId === null || auth === null || tls === null ||
    keepaliveSec === null || connectTimeoutMs === null || backoff === null || token === null || telemetry === null ||
    maxPacketBytes === null) {
    return { ok: false, errors: errors };
  }
  return {
    ok: true,
    config: {
      host: host, port: port, deviceId: deviceId, auth: auth, tls: tls, keepaliveSec: keepaliveSec,
      connectTimeoutMs: connectTimeoutMs, backoff: backoff, token: token, telemetry: telemetry, maxPacketBytes: maxPacketBytes,
    },
  };
}

/** one line: "$.backoff.capMs: must be >= baseMs (relation)" */
export function describeConfigError(e: ConfigError): string {
  return e.path + ": " + e.message + " (" + e.rule + ")";
}

/**
 * Parses and validates configuration JSON. A parse failure is one error { path: "$", rule: "json" };
 * the engine's parse message is not used, since it may quote the text (and so a key).
 */
export function loadConfigJson(text: string): ConfigResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [{ path: "$", rule: "json", message: "not valid JSON" }] };
  }
  return validateConfig(parsed);
}
