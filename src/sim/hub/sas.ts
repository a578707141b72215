// SAS tokens and user names as IoT Hub checks them, independently of the device's code (the
// emulator's test oracle for it), and a token signed the SDKs' way for the clone fault.
import { createHmac, timingSafeEqual } from "node:crypto";

export type SasCheck = { ok: true; expirySec: number } | { ok: false; reason: string };

/** encodeURIComponent plus !'()*, as the Azure SDKs' encodeUriComponentStrict writes it (lowercase hex) */
export function encodeStrict(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16));
}

/**
 * Checks a device SAS token as IoT Hub does:
 * `SharedAccessSignature sr={urlenc(host/devices/id)}&sig={urlenc(base64(HMAC-SHA256(key, sr + "\n" + se)))}&se={expiry}`
 * (fields in any order, skn optional). The signature covers sr as it appears in the token.
 * Reasons are fixed texts; the token never appears in them.
 */
export function checkSasToken(
  token: string,
  want: { hubName: string; deviceId: string; key: Uint8Array; nowSec: number },
): SasCheck {
  const PREFIX = "SharedAccessSignature ";
  if (!token.startsWith(PREFIX)) return { ok: false, reason: "sas: not a SharedAccessSignature" };
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).split("&")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return { ok: false, reason: "sas: malformed field" };
    const name = part.slice(0, eq);
    if (fields.has(name)) return { ok: false, reason: "sas: repeated field " + name };
    fields.set(name, part.slice(eq + 1));
  }
  const sr = fields.get("sr");
  const sig = fields.get("sig");
  const se = fields.get("se");
  if (sr === undefined || sig === undefined || se === undefined) return { ok: false, reason: "sas: sr, sig and se are required" };
  // sr must be the URL encoding of {hub}/devices/{deviceId} (the host is case-insensitive,
  // percent escapes may use either case; encodeURIComponent's and the SDKs' stricter form both pass)
  const resource = safeDecode(sr);
  const slash = resource === null ? -1 : resource.indexOf("/");
  if (resource === null || slash < 0 || resource.slice(0, slash).toLowerCase() !== want.hubName.toLowerCase() ||
    resource.slice(slash) !== "/devices/" + want.deviceId) {
    return { ok: false, reason: "sas: sr is not {hub}/devices/{deviceId}" };
  }
  const upper = (x: string): string => x.replace(/%[0-9a-f]{2}/gi, (m) => m.toUpperCase());
  const srNorm = upper(sr);
  if (srNorm !== encodeURIComponent(resource) && srNorm !== upper(encodeStrict(resource))) {
    return { ok: false, reason: "sas: sr is not URL-encoded" };
  }
  if (!/^[0-9]{1,12}$/.test(se)) return { ok: false, reason: "sas: se is not an integer" };
  const expirySec = Number(se);
  if (expirySec <= want.nowSec) return { ok: false, reason: "sas: token expired" };
  const sigText = safeDecode(sig);
  if (sigText === null || !/^[A-Za-z0-9+/]+={0,2}$/.test(sigText)) return { ok: false, reason: "sas: sig is not URL-encoded base64" };
  const got = Buffer.from(sigText, "base64");
  const expected = createHmac("sha256", want.key).update(sr + "\n" + se, "utf8").digest();
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return { ok: false, reason: "sas: signature mismatch" };
  return { ok: true, expirySec };
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** A device SAS token signed with `key` (used by clones; tests use the SDK's own). */
export function makeSasToken(o: { hubName: string; deviceId: string; key: Uint8Array; expirySec: number }): string {
  const sr = encodeStrict(o.hubName + "/devices/" + o.deviceId);
  const sig = createHmac("sha256", o.key).update(sr + "\n" + o.expirySec, "utf8").digest("base64");
  return "SharedAccessSignature sr=" + sr + "&sig=" + encodeStrict(sig) + "&se=" + o.expirySec;
}

/** `{hubName}/{deviceId}/?api-version=…` (other query parameters allowed; host case-insensitive) */
export function usernameOk(username: string | undefined, hubName: string, deviceId: string): boolean {
  if (username === undefined) return false;
  const slash = username.indexOf("/");
  if (slash < 0 || username.slice(0, slash).toLowerCase() !== hubName.toLowerCase()) return false;
  const rest = username.slice(slash + 1);
  if (!rest.startsWith(deviceId + "/?")) return false;
  return rest.slice(deviceId.length + 2).split("&").some((kv) => /^api-version=[^&=]+$/.test(kv));
}
