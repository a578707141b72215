// The emulator's diagnostic log, one JSON object per line, in the shape Azure Monitor
// gives IoT Hub resource logs of the "Connections" category (see "Monitoring Azure IoT Hub
// data reference", Resource logs > Connections, and the 404104 example in the
// "Detect and troubleshoot disconnects" tutorial):
//
//   { "time": "2024-05-01T10:00:00.000Z", "resourceId": "/SUBSCRIPTIONS/…/IOTHUBS/LOCALHOST",
//     "operationName": "deviceDisconnect", "category": "Connections", "level": "Error",
//     "resultType": "404104", "resultDescription": "DeviceConnectionClosedRemotely",
//     "properties": "{\"deviceId\":\"dev-0001\",\"protocol\":\"Mqtt\",\"authType\":null,
//                    \"maskedIpAddress\":\"127.0.0.XXX\",\"statusCode\":\"404\"}",
//     "location": "local" }
//
// As Azure writes it, `properties` is itself a JSON *string*. Successful connects and clean
// disconnects carry no resultType. Keys and SAS tokens never enter a line: the writer
// only takes the fields below, and `errorMessage` is built by the hub from fixed texts.
import { appendFileSync } from "node:fs";

/** The hub's codes and names the emulator logs (the code is the record's resultType). */
export const DIAG_CODES: Readonly<Record<string, string>> = Object.freeze({
  "400001": "InvalidProtocolVersion", // a CONNECT that is not MQTT 3.1.1 (or a scripted CONNACK 1)
  "400003": "InvalidOperation", // QoS 2, a topic the device may not use, a second CONNECT
  "400006": "IotHubFormatError", // bytes that are no MQTT 3.1.1 packet
  "400004": "ArgumentInvalid", // a username not of the form {hub}/{device}/?api-version=…
  "400027": "ConnectionForcefullyClosedOnNewConnection",
  "401003": "IotHubUnauthorized",
  "404001": "DeviceNotFound",
  "404104": "DeviceConnectionClosedRemotely",
  "409002": "LinkCreationConflict",
  "429001": "ThrottlingException",
  "503": "ServiceUnavailable", // a scripted CONNACK 3 that is no throttling
});

export type DiagOperation = "deviceConnect" | "deviceDisconnect";
export type DiagLevel = "Information" | "Warning" | "Error";

/** The decoded `properties` string. */
export interface DiagProperties {
  deviceId: string;
  protocol: "Mqtt";
  /** a JSON string as Azure writes it, or null when the device was not authenticated */
  authType: string | null;
  /** "127.0.0.XXX": the last IPv4 octet (or the last IPv6 group) masked */
  maskedIpAddress: string;
  /** the HTTP-like status ("404"), or null for successes */
  statusCode: string | null;
  /** a fixed explanatory text; never a key or a token */
  errorMessage?: string;
}

export interface DiagRecord {
  time: string;
  resourceId: string;
  operationName: DiagOperation;
  category: "Connections";
  level: DiagLevel;
  resultType?: string;
  resultDescription?: string;
  /** JSON text of DiagProperties */
  properties: string;
  location: string;
}

/** authType of a SAS-authenticated device link, as Azure writes it. */
export const SAS_AUTH_TYPE = JSON.stringify({ scope: "device", type: "sas", issuer: "iothub", acceptingIpFilterRule: null });

/** "127.0.0.1" -> "127.0.0.XXX"; "::ffff:10.0.0.7" -> "10.0.0.XXX"; "::1" -> "::XXX". */
export function maskIp(ip: string): string {
  const v4 = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  const dot = v4.lastIndexOf(".");
  if (dot > 0 && !v4.includes(":")) return v4.slice(0, dot + 1) + "XXX";
  const colon = ip.lastIndexOf(":");
  return colon >= 0 ? ip.slice(0, colon + 1) + "XXX" : "XXX";
}

export interface DiagInput {
  nowMs: number;
  hubName: string;
  operation: DiagOperation;
  deviceId: string;
  ip: string;
  /** a key of DIAG_CODES; absent for a success */
  code?: string;
  authenticated: boolean;
  errorMessage?: string;
}

/** Builds one record. Level is Error for coded records, Information otherwise. */
export function makeDiagRecord(d: DiagInput): DiagRecord {
  const props: DiagProperties = {
    deviceId: d.deviceId,
    protocol: "Mqtt",
    authType: d.authenticated ? SAS_AUTH_TYPE : null,
    maskedIpAddress: maskIp(d.ip),
    statusCode: d.code ? d.code.slice(0, 3) : null,
  };
  if (d.errorMessage) props.errorMessage = d.errorMessage;
  const rec: DiagRecord = {
    time: new Date(d.nowMs).toISOString(),
    resourceId: resourceIdOf(d.hubName),
    operationName: d.operation,
    category: "Connections",
    level: d.code ? "Error" : "Information",
    properties: JSON.stringify(props),
    location: "local",
  };
  if (d.code) {
    rec.resultType = d.code;
    rec.resultDescription = DIAG_CODES[d.code] ?? "Unknown";
  }
  return rec;
}

export function resourceIdOf(hubName: string): string {
  const name = hubName.split(".")[0].toUpperCase();
  return "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/LINKGUARD" +
    "/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/" + name;
}

/** "409002 LinkCreationConflict" for a coded record, null for a success. */
export function diagKey(rec: DiagRecord): string | null {
  return rec.resultType ? rec.resultType + " " + (rec.resultDescription ?? "") : null;
}

/** The decoded properties of a record (records made here always decode). */
export function diagProperties(rec: DiagRecord): DiagProperties {
  return JSON.parse(rec.properties) as DiagProperties;
}

/** Writes records as JSON lines to a file (appending) and/or a callback. */
export class DiagWriter {
  private readonly file: string | null;
  private readonly sink: ((line: string) => void) | null;
  constructor(opts: { file?: string; sink?: (line: string) => void }) {
    this.file = opts.file ?? null;
    this.sink = opts.sink ?? null;
  }
  write(rec: object): void {
    const line = JSON.stringify(rec);
    if (this.file) appendFileSync(this.file, line + "\n");
    if (this.sink) this.sink(line);
  }
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const OPERATIONS: readonly string[] = ["deviceConnect", "deviceDisconnect"];
const LEVELS: readonly string[] = ["Information", "Warning", "Error"];

function isStr(v: unknown): v is string {
  return typeof v === "string";
}

/**
 * Parses and validates one line. Returns null for anything that is not a well-formed
 * Connections record: bad JSON, a missing or mistyped field, a properties string that
 * does not decode to the expected object, or a resultType without its description.
 */
export function parseDiagLine(line: string): DiagRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const r = v as Record<string, unknown>;
  if (!isStr(r.time) || !ISO_TIME.test(r.time) || Number.isNaN(Date.parse(r.time))) return null;
  if (!isStr(r.resourceId) || !isStr(r.location)) return null;
  if (!isStr(r.operationName) || !OPERATIONS.includes(r.operationName)) return null;
  if (r.category !== "Connections") return null;
  if (!isStr(r.level) || !LEVELS.includes(r.level)) return null;
  if ((r.resultType === undefined) !== (r.resultDescription === undefined)) return null;
  if (r.resultType !== undefined && (!isStr(r.resultType) || !/^\d{3,6}$/.test(r.resultType))) return null;
  if (r.resultDescription !== undefined && !isStr(r.resultDescription)) return null;
  if (!isStr(r.properties)) return null;
  let p: unknown;
  try {
    p = JSON.parse(r.properties);
  } catch {
    return null;
  }
  if (p === null || typeof p !== "object" || Array.isArray(p)) return null;
  const q = p as Record<string, unknown>;
  if (!isStr(q.deviceId) || q.protocol !== "Mqtt") return null;
  if (q.authType !== null && !isStr(q.authType)) return null;
  if (!isStr(q.maskedIpAddress) || !q.maskedIpAddress.endsWith("XXX")) return null;
  if (q.statusCode !== null && !isStr(q.statusCode)) return null;
  if (q.errorMessage !== undefined && !isStr(q.errorMessage)) return null;
  return r as unknown as DiagRecord;
}
