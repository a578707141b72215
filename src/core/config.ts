// The device configuration: schema, defaults and validation.
// Every field declares its unit, range and default. The validator returns every error
// with its JSON path and the rule broken; it never throws on bad input.

export type JitterMode = "full" | "equal" | "decorrelated";
export type OverflowPolicy = "drop-oldest" | "refuse-new";

export interface BackoffConfig {
  /** jitter mode; default "decorrelated" */
  jitter: JitterMode;
  /** ms, first ceiling; 100..600000; default 1000 */
  baseMs: number;
  /** growth per attempt; 1..10; default 2 */
  factor: number;
  /** ms, largest delay; >= baseMs, <= 3600000; default 60000 */
  capMs: number;
  /** ms, no reconnect after a drop comes sooner than this; 0..capMs; default 1000 */
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
  /** seconds; 30..1177 (the hub's maximum); default 240 */
  keepaliveSec: number;
  /** ms to open the transport and receive CONNACK; 1000..120000; default 15000 */
  connectTimeoutMs: number;
  backoff: BackoffConfig;
  /** SAS token lifetime in seconds (60..31536000, default 3600) and renewal margin before expiry (default 300, < lifetime) */
  token: { lifetimeSec: number; renewMarginSec: number };
  /** outbound telemetry queue while disconnected; limit 1..10000 (default 64); overflow default "drop-oldest" */
  telemetry: { queueLimit: number; overflow: OverflowPolicy };
  /** largest MQTT packet accepted from the hub, bytes; 1024..268435455; default 262144 (the hub's message limit + headers) */
  maxPacketBytes: number;
}

export interface ConfigError { path: string; rule: string; message: string }
export type ConfigResult = { ok: true; config: DeviceConfig } | { ok: false; errors: ConfigError[] };
