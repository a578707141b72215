// Recovery latency on real TLS sockets on loopback: the hub emulator (src/sim/hub.ts) and devices
// made of the real core and the Node shell (src/platform/node). The hub drops a device's socket
// (fault "drop": no MQTT packet, the hub's view lingers 200–2000 ms); the figure is the time from
// the device seeing the remote close to the link's next CONNACK 0 (its `connected` notify).
//
// The devices use DEFAULTS.backoff with one change: stableMs 1000 (the lowest allowed), so a
// device can be dropped again 1.2 s after it reconnects without the drop counting as flapping
// (DESIGN.md invariant 8); every drop is then a first retry, the case a user meets. Several
// devices run in parallel to keep the run short; the hub admits 100 connections a second.

import { startHub } from "../sim/hub/emulator.js";
import { NodeShell } from "../platform/node/shell.js";
import { createNodeEngine } from "../platform/node/engine.js";
import { MemoryStorage } from "../platform/node/storage.js";
import { validateConfig, DeviceConfig } from "../core/config.js";

export interface RecoveryReport {
  drops: number;
  floorMs: number;
  p50Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
  /** the hub's LinkCreationConflicts during the run (reconnects inside the linger) */
  conflicts: number;
  devices: number;
}

const KEY = "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==";

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[k];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runRecovery(o: { drops: number; devices: number; log: (s: string) => void }): Promise<RecoveryReport> {
  const ids: string[] = [];
  for (let i = 0; i < o.devices; i++) ids.push("bench-" + String(i + 1).padStart(3, "0"));
  const hub = await startHub({
    registry: { hubName: "localhost", devices: ids.map((id) => ({ deviceId: id, symmetricKey: KEY })) },
    bind: "127.0.0.1", seed: 6,
  });
  const latencies: number[] = [];
  const shells: NodeShell[] = [];
  let floorMs = 0;
  let conflicts = 0;
  try {
    const perDevice = Math.ceil(o.drops / o.devices);
    const runs = ids.map(async (id, i) => {
      const r = validateConfig({ host: hub.hubName, port: hub.port, deviceId: id, auth: { symmetricKey: KEY }, backoff: { stableMs: 1000 } });
      if (!r.ok) throw new Error("recovery: bad config " + JSON.stringify(r.errors));
      const cfg: DeviceConfig = r.config;
      floorMs = cfg.backoff.floorMs;
      let droppedAt = -1;
      let onConnected: (() => void) | null = null;
      const shell = new NodeShell({
        engine: createNodeEngine(cfg, 1000 + i), cfg: cfg, ca: hub.caPem, address: "127.0.0.1", storage: new MemoryStorage(),
        observer: {
          event: (e, now) => { if (e.type === "transportClosed" && e.cause === "remote" && droppedAt < 0) droppedAt = now; },
          command: (c, now) => {
            if (c.type === "notify" && c.status.state === "connected") {
              if (droppedAt >= 0) latencies.push(now - droppedAt);
              droppedAt = -1;
              const f = onConnected;
              onConnected = null;
              if (f) f();
            }
          },
        },
      });
      shells.push(shell);
      const connected = () => new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error("recovery: " + id + " did not reconnect within 60 s")), 60000);
        onConnected = () => { clearTimeout(t); res(); };
      });
      let c = connected();
      shell.start(1000 + i);
      await c;
      for (let k = 0; k < perDevice && latencies.length < o.drops; k++) {
        await sleep(1200 + (i * 37) % 200); // past stableMs, staggered
        c = connected();
        hub.inject(id, { kind: "drop" });
        await c;
      }
    });
    const ticker = setInterval(() => o.log("recovery: " + latencies.length + "/" + o.drops + " drops"), 5000);
    try { await Promise.all(runs); } finally { clearInterval(ticker); }
  } finally {
    for (const s of shells) s.dispose();
    conflicts = hub.stats().linkCreationConflicts;
    await hub.close();
  }
  const sorted = latencies.slice(0, o.drops).sort((a, b) => a - b);
  return {
    drops: sorted.length, floorMs: floorMs, p50Ms: Math.round(quantile(sorted, 0.5)), p99Ms: Math.round(quantile(sorted, 0.99)),
    minMs: Math.round(sorted[0] || 0), maxMs: Math.round(sorted[sorted.length - 1] || 0),
    conflicts: conflicts, devices: o.devices,
  };
}
