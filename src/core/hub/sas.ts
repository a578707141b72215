// SAS tokens for a device identity, byte-identical to the Azure IoT Node device SDK, which
// calls azure-iot-common's SharedAccessSignature.create(encodeUriComponentStrict(host +
// "/devices/" + deviceId), null, key, expiry):
//   SharedAccessSignature sr={sr}&sig={strict(base64(HMAC-SHA256(base64dec(key), sr + "\n" + se)))}&se={se}
// where sr is the strictly encoded resource. No string built here ever carries the key or
// a signature into an error: failures are null.
import { fromBase64, toBase64 } from "../crypto/base64.js";
import { hmacSha256 } from "../crypto/hmac.js";
import type { HmacFn } from "../crypto/hmac.js";
import { percentEncodeStrict, asciiBytes } from "./encode.js";

export interface SasOptions {
  /** IoT Hub host name, e.g. "myhub.azure-devices.net" */
  host: string;
  deviceId: string;
  /** the device's symmetric key, base64 */
  key: string;
  /** expiry, seconds since the Unix epoch; a positive integer */
  expirySec: number;
  /** a native HMAC-SHA256, if the platform has one */
  hmac?: HmacFn;
}

export interface SasParts {
  /** the resource, as written in the token (URL-encoded) */
  sr: string;
  /** the signature, as written in the token (URL-encoded) */
  sig: string;
  /** the expiry, as written in the token */
  se: string;
  skn?: string;
}

const PREFIX = "SharedAccessSignature ";
/** 2^53 - 1: larger expiries lose integer precision (Number.MAX_SAFE_INTEGER is missing on Espruino) */
const MAX_SAFE = 9007199254740991;

/** decimal digits of a non-negative safe integer, not relying on the engine's number formatting */
function decimal(n: number): string {
  if (n === 0) return "0";
  let out = "";
  let v = n;
  while (v > 0) {
    const q = Math.floor(v / 10);
    out = String.fromCharCode(48 + (v - q * 10)) + out;
    v = q;
  }
  return out;
}

/**
 * The signing port: base64(HMAC-SHA256(base64-decoded key, data)) for ASCII `data`, or null
 * when the key is not base64 or is empty. portableSign is the core's; a platform with native
 * primitives passes its own (Espruino: require("crypto").SHA256 with atob/btoa), so a device
 * build need not carry the core's SHA-256 and base64.
 */
export type SignFn = (keyBase64: string, data: string) => string | null;

/** The core's SignFn: portable base64 and HMAC-SHA256 (or a given native HMAC). */
export function portableSign(hmac?: HmacFn): SignFn {
  const mac = hmac || hmacSha256;
  return function (keyBase64: string, data: string): string | null {
    const keyBytes = fromBase64(keyBase64);
    if (keyBytes === null || keyBytes.length === 0) return null;
    const m = mac(keyBytes, asciiBytes(data));
    keyBytes.fill(0);
    return toBase64(m);
  };
}

/** A device SAS token, or null if the key is not base64 (or empty) or the expiry is not a positive integer. */
export function sasToken(opts: SasOptions): string | null {
  return sasTokenWith(portableSign(opts.hmac), opts.host, opts.deviceId, opts.key, opts.expirySec);
}

/** sasToken with a given signing port. */
export function sasTokenWith(sign: SignFn, host: string, deviceId: string, key: string, expirySec: number): string | null {
  if (typeof expirySec !== "number" || !(expirySec > 0) || expirySec > MAX_SAFE || Math.floor(expirySec) !== expirySec) return null;
  const sr = percentEncodeStrict(host + "/devices/" + deviceId);
  const se = decimal(expirySec);
  const sig = sign(key, sr + "\n" + se);
  return sig === null ? null : PREFIX + "sr=" + sr + "&sig=" + percentEncodeStrict(sig) + "&se=" + se;
}

/**
 * The fields of a SAS token ("SharedAccessSignature k=v&k=v..."), values as written; null if
 * it is not one or lacks sr, sig or se. Like azure-iot-common, pairs with an empty name or
 * value are skipped and the last of repeated names wins.
 */
export function parseSasToken(token: string): SasParts | null {
  if (typeof token !== "string" || token.substring(0, PREFIX.length) !== PREFIX) return null;
  const body = token.substring(PREFIX.length);
  let sr: string | null = null;
  let sig: string | null = null;
  let se: string | null = null;
  let skn: string | null = null;
  const parts = body.split("&");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    const eq = p.indexOf("=");
    if (eq <= 0 || eq === p.length - 1) continue;
    const name = p.substring(0, eq);
    const value = p.substring(eq + 1);
    for (let k = 0; k < value.length; k++) {
      const c = value.charCodeAt(k);
      if (c <= 32 || c === 127) return null; // whitespace or controls: not a token
    }
    if (name === "sr") sr = value;
    else if (name === "sig") sig = value;
    else if (name === "se") se = value;
    else if (name === "skn") skn = value;
  }
  if (sr === null || sig === null || se === null) return null;
  const out: SasParts = { sr: sr, sig: sig, se: se };
  if (skn !== null) out.skn = skn;
  return out;
}

/** The expiry (seconds since the epoch) of a SAS token, or null if it has no all-digit se. */
export function tokenExpirySec(token: string): number | null {
  const parts = parseSasToken(token);
  if (parts === null) return null;
  const se = parts.se;
  if (se.length === 0 || se.length > 15) return null;
  let v = 0;
  for (let i = 0; i < se.length; i++) {
    const c = se.charCodeAt(i);
    if (c < 48 || c > 57) return null;
    v = v * 10 + (c - 48);
  }
  return v;
}
