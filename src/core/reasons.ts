// What the link's reason codes mean, for people: logs, timelines, diagnostics, summaries.
// The link itself carries only the stable code and a short detail (Status.code, Status.text),
// so this table stays on the host and off the smallest device builds; a host that shows a
// status to a person calls explain(status.code, status.text).
import { MQTT_ERRORS } from "./mqtt/errors.js";
import { freeze } from "./mqtt/freeze.js";

/** One line per reason code (never reworded in a way that changes its meaning). */
export const REASONS: { readonly [code: string]: string } = freeze({
  "start": "start requested",
  "link.opening": "opening the transport",
  "link.handshaking": "transport open, CONNECT sent",
  "link.connected": "CONNACK accepted",
  "local.stop": "stopped by the application",
  "remote.close": "the hub closed the link (the hub logs 404104 DeviceConnectionClosedRemotely, or 409002 if another connection took over)",
  "transport.error": "the transport failed",
  "tls.failed": "the TLS handshake failed",
  "tls.certRejected": "the hub's certificate was rejected",
  "tls.caUnusable": "the TLS layer cannot use the configured CA certificate (not DER, or corrupt): rebuild with a valid CA",
  "keepalive.timeout": "nothing received for 1.5x keepalive: the link is half-open",
  "connect.timeout": "no CONNACK within the connect timeout",
  "connack.1": "CONNACK 1: unacceptable protocol version",
  "connack.2": "CONNACK 2: identifier rejected",
  "connack.3": "CONNACK 3: server unavailable (throttled)",
  "connack.4": "CONNACK 4: bad user name or password",
  "connack.5": "CONNACK 5: not authorized",
  "auth.repeated": "the hub refused a fresh token twice: check the device id and key",
  "auth.keyInvalid": "the symmetric key cannot sign a token (not base64, or refused by the platform's signing): fix the configured key",
  "transport.unclosable": "the transport could not be closed: no new one opens until the hub has dropped it (1.5x keepalive)",
  "auth.clockNotSynced": "the hub refused the token and the device clock is not set: sync time (SNTP) before connecting",
  "token.renew": "renewing the SAS token before it expires",
  "token.expired": "the configured SAS token has expired: supply a new one",
  "duplicate.suspected": "suspected duplicate device identity: the hub keeps closing the link soon after accepting it",
  "restored": "waiting after a restart: the previous run was failing",
  "protocol.error": "the hub sent a malformed or unexpected packet",
});

/** The text for a reason code (a decoder error "protocol.mqtt.*" reads as its MQTT_ERRORS line). */
export function describe(code: string): string {
  const t = REASONS[code];
  if (t) return t;
  if (code.indexOf("protocol.") === 0) {
    const m = MQTT_ERRORS[code.substring(9)];
    return m ? "protocol error: " + m : "protocol error: " + code.substring(9);
  }
  return code;
}

/**
 * The line a person reads for a status or log entry: describe(code), then the link's short
 * detail in parentheses when there is one (Status.text is the code itself when there is none).
 */
export function explain(code: string, text: string): string {
  return text && text !== code ? describe(code) + " (" + text + ")" : describe(code);
}
