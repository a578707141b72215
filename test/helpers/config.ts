// A complete device configuration for tests, built by hand so tests of the link do not
// depend on the validator.
import { DeviceConfig } from "../../src/core/config.js";

export const TEST_KEY = "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="; // base64 of "test-key-0123456789abcdef"

export function testConfig(over?: Partial<DeviceConfig>): DeviceConfig {
  const c: DeviceConfig = {
    host: "hub.example.net",
    port: 8883,
    deviceId: "dev-0001",
    auth: { symmetricKey: TEST_KEY },
    tls: true,
    keepaliveSec: 30,
    connectTimeoutMs: 10000,
    backoff: { jitter: "decorrelated", baseMs: 1000, factor: 2, capMs: 60000, floorMs: 2000, stableMs: 30000 },
    token: { lifetimeSec: 3600, renewMarginSec: 300 },
    telemetry: { queueLimit: 2, overflow: "drop-oldest" },
    maxPacketBytes: 4096,
  };
  return Object.assign(c, over || {});
}
