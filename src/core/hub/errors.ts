// The IoT Hub error codes a device link meets, and the MQTT 3.1.1 CONNACK return codes,
// each with the class that decides the link's reaction:
//   transient  retry after the usual jittered backoff
//   throttled  retry after a longer window (the hub or the fleet is over a limit)
//   auth       the credentials were refused: renew the token once, then treat as fatal
//   fatal      retrying cannot help: long backoff, then halt with the reason
// Codes and names: Microsoft, "Understand and resolve Azure IoT Hub errors" and "IoT Hub
// API common error codes" (the names as the current tables spell them).

import { freeze } from "../mqtt/freeze.js";

export type ErrorClass = "transient" | "throttled" | "auth" | "fatal";

export interface HubError {
  /** the hub's six-digit code, or the CONNACK return code (1..5) */
  code: number;
  name: string;
  klass: ErrorClass;
  /** one line for logs and status; never contains credentials */
  text: string;
}


function entry(code: number, name: string, klass: ErrorClass, text: string): HubError {
  return freeze({ code: code, name: name, klass: klass, text: text });
}

/** The hub's codes, frozen (preloaded into flash on XS). */
export const HUB_ERRORS: readonly HubError[] = freeze([
  entry(400027, "ConnectionForcefullyClosedOnNewConnection", "transient",
    "another connection with the same device identity replaced this one"),
  entry(400029, "ConnectionForcefullyClosedOnFaultInjection", "transient",
    "the hub closed the connection during a service upgrade"),
  entry(400030, "ConnectionRejectedOnFaultInjection", "transient",
    "the hub rejected the connection during a service upgrade"),
  entry(401002, "IotHubUnauthorizedAccess", "auth",
    "the request is not authorized for this hub"),
  entry(401003, "IotHubUnauthorized", "auth",
    "the authorization token cannot be validated (expired, or wrong resource or key)"),
  entry(403002, "IotHubQuotaExceeded", "throttled",
    "the hub's daily message quota is exceeded"),
  entry(403004, "DeviceMaximumQueueDepthExceeded", "transient",
    "too many cloud-to-device messages are queued for this device"),
  entry(403012, "DeviceDisabled", "fatal",
    "the device identity is disabled"),
  entry(404001, "DeviceNotFound", "fatal",
    "the device identity is not registered in this hub"),
  entry(404104, "DeviceConnectionClosedRemotely", "transient",
    "the device's connection closed without an MQTT DISCONNECT"),
  entry(409002, "LinkCreationConflict", "transient",
    "a new connection arrived while the hub still held an older one for this device"),
  entry(429001, "ThrottlingException", "throttled",
    "the hub's throttling limit for this operation is exceeded"),
  entry(429002, "ThrottleBacklogLimitExceeded", "throttled",
    "the hub's throttling backlog is full"),
  entry(429005, "DeviceThrottlingLimitExceeded", "throttled",
    "this device's throttling limit is exceeded"),
  entry(500001, "ServerError", "transient",
    "the hub had an internal error"),
  entry(500008, "GenericTimeout", "transient",
    "the hub could not complete the connection request in time"),
  entry(503001, "ServiceUnavailable", "transient",
    "the hub is temporarily unavailable"),
  entry(503003, "PartitionNotFound", "transient",
    "the hub had an internal partition error"),
  entry(503005, "ServerBusy", "transient",
    "the hub is busy"),
]);

/** MQTT 3.1.1 §3.2.2.3, table 3.1: CONNACK return codes 1..5. */
export const CONNACK_ERRORS: readonly HubError[] = freeze([
  entry(1, "UnacceptableProtocolVersion", "fatal",
    "CONNACK 1: the server does not support this MQTT protocol level"),
  entry(2, "IdentifierRejected", "fatal",
    "CONNACK 2: the client identifier was rejected"),
  entry(3, "ServerUnavailable", "throttled",
    "CONNACK 3: the server is unavailable (IoT Hub: connection rate limit)"),
  entry(4, "BadUsernameOrPassword", "auth",
    "CONNACK 4: bad user name or password"),
  entry(5, "NotAuthorized", "auth",
    "CONNACK 5: not authorized (token expired or wrong, or device unknown or disabled)"),
]);

/** HTTP-style three-digit codes that logs use for a whole family */
const ALIASES: readonly number[] = freeze([429, 429001, 500, 500001, 503, 503001]);

/** the number in "409002", "409002 LinkCreationConflict" or 409002; NaN if none */
function leadingNumber(code: number | string): number {
  if (typeof code === "number") return code;
  let v = 0;
  let n = 0;
  while (n < code.length && n < 9) {
    const c = code.charCodeAt(n);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    n++;
  }
  return n === 0 ? NaN : v;
}

/**
 * The catalogue entry for a hub code: a number (409002), a string ("409002",
 * "409002 LinkCreationConflict"), a name ("LinkCreationConflict"), or a family alias
 * (429, 500, 503). null if unknown.
 */
export function hubError(code: number | string): HubError | null {
  let n = leadingNumber(code);
  let i = 0;
  if (n !== n) { // NaN: look the name up
    for (i = 0; i < HUB_ERRORS.length; i++) if (HUB_ERRORS[i].name === code) return HUB_ERRORS[i];
    return null;
  }
  for (i = 0; i < ALIASES.length; i += 2) if (ALIASES[i] === n) n = ALIASES[i + 1];
  for (i = 0; i < HUB_ERRORS.length; i++) if (HUB_ERRORS[i].code === n) return HUB_ERRORS[i];
  return null;
}

/** The class of any hub code: the catalogue's, else by family (401 auth, 429 throttled, 5xx transient, others transient). */
export function hubErrorClass(code: number | string): ErrorClass {
  const e = hubError(code);
  if (e !== null) return e.klass;
  const n = leadingNumber(code);
  const family = n >= 100000 ? Math.floor(n / 1000) : n;
  if (family === 401) return "auth";
  if (family === 429) return "throttled";
  return "transient";
}

/** The entry for a CONNACK return code 1..5; null for 0 (accepted) and for reserved codes. */
export function connackError(rc: number): HubError | null {
  for (let i = 0; i < CONNACK_ERRORS.length; i++) if (CONNACK_ERRORS[i].code === rc) return CONNACK_ERRORS[i];
  return null;
}
