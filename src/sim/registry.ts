// The emulator's device registry: which device ids exist and their symmetric keys.
// File format (JSON):
//   { "hubName": "localhost", "devices": [ { "deviceId": "dev-0001", "symmetricKey": "<base64>" } ] }
// The loader reports the first problem with its JSON path: `$.devices[2].symmetricKey: not base64`.
import { readFileSync } from "node:fs";
import { deviceIdOf, seededRandom } from "./faults.js";

export interface RegistryDevice {
  deviceId: string;
  /** base64 of the device's symmetric key (IoT Hub generates 32 bytes) */
  symmetricKey: string;
}

export interface Registry {
  /** the host name devices put in the username and the token's sr; default "localhost" */
  hubName: string;
  devices: RegistryDevice[];
}

export type RegistryResult = { ok: true; registry: Registry } | { ok: false; error: string };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// IoT Hub device ids: up to 128 chars of ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '
const DEVICE_ID = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function isBase64(s: string): boolean {
  return s.length > 0 && BASE64.test(s);
}

/** Validates a parsed registry document; errors name the JSON path of the first problem. */
export function checkRegistry(doc: unknown): RegistryResult {
  const fail = (at: string, msg: string): RegistryResult => ({ ok: false, error: at + ": " + msg });
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return fail("$", "not an object");
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) {
    if (k !== "hubName" && k !== "devices") return fail("$." + k, "unknown field");
  }
  let hubName = "localhost";
  if (d.hubName !== undefined) {
    if (typeof d.hubName !== "string") return fail("$.hubName", "not a string");
    if (!HOST_NAME.test(d.hubName)) return fail("$.hubName", "not a host name");
    hubName = d.hubName;
  }
  if (!Array.isArray(d.devices)) return fail("$.devices", d.devices === undefined ? "missing" : "not an array");
  const seen = new Set<string>();
  const devices: RegistryDevice[] = [];
  for (let i = 0; i < d.devices.length; i++) {
    const at = "$.devices[" + i + "]";
    const e = d.devices[i] as unknown;
    if (e === null || typeof e !== "object" || Array.isArray(e)) return fail(at, "not an object");
    const r = e as Record<string, unknown>;
    for (const k of Object.keys(r)) {
      if (k !== "deviceId" && k !== "symmetricKey") return fail(at + "." + k, "unknown field");
    }
    if (r.deviceId === undefined) return fail(at + ".deviceId", "missing");
    if (typeof r.deviceId !== "string") return fail(at + ".deviceId", "not a string");
    if (!DEVICE_ID.test(r.deviceId)) return fail(at + ".deviceId", "not a valid device id (1-128 of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ ')");
    if (seen.has(r.deviceId)) return fail(at + ".deviceId", "duplicate device id " + JSON.stringify(r.deviceId));
    seen.add(r.deviceId);
    if (r.symmetricKey === undefined) return fail(at + ".symmetricKey", "missing");
    if (typeof r.symmetricKey !== "string") return fail(at + ".symmetricKey", "not a string");
    if (!isBase64(r.symmetricKey)) return fail(at + ".symmetricKey", "not base64");
    if (Buffer.from(r.symmetricKey, "base64").length < 16) return fail(at + ".symmetricKey", "shorter than 16 bytes");
    devices.push({ deviceId: r.deviceId, symmetricKey: r.symmetricKey });
  }
  return { ok: true, registry: { hubName, devices } };
}

/** Parses registry JSON text; a syntax error is reported at "$". */
export function parseRegistry(text: string): RegistryResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: "$: not JSON (" + (e as Error).message + ")" };
  }
  return checkRegistry(doc);
}

/** Reads and validates a registry file; errors start with the file name. */
export function loadRegistry(file: string): RegistryResult {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { ok: false, error: file + ": cannot read (" + ((e as NodeJS.ErrnoException).code ?? (e as Error).message) + ")" };
  }
  const r = parseRegistry(text);
  return r.ok ? r : { ok: false, error: file + ": " + r.error };
}

/** dev-0001 .. dev-N with 32-byte keys from a seeded PRNG: the same seed, the same keys. */
export function makeRegistry(n: number, seed: number, hubName = "localhost"): Registry {
  const rand = seededRandom(seed);
  const devices: RegistryDevice[] = [];
  const key = new Uint8Array(32);
  for (let i = 1; i <= n; i++) {
    for (let j = 0; j < key.length; j++) key[j] = Math.floor(rand() * 256);
    devices.push({ deviceId: deviceIdOf(i), symmetricKey: Buffer.from(key).toString("base64") });
  }
  return { hubName, devices };
}
