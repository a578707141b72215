// XS cost: the core as built for Moddable (src/host/xs/engine.ts xsCoreScript: rollup, ES2020) in the
// real XS engine (@agoric/xsnap's worker, driven by src/host/xs/worker.ts).
//
// The xsnap meter reports, per evaluation, `compute` (XS's count of executed instructions) and
// `currentHeapCount` (heap slots in use afterwards). A sample is gc(), then one evaluation of a
// batch; the same batch with the link calls left out is the baseline, subtracted, so the figures
// are the link's own: compute units and slots per operation. Slots are 16 bytes on a 32-bit
// device (ESP32) and 32 bytes on this 64-bit host; typed-array bytes live outside the slot heap.
//
// Operations: a QoS 1 telemetry publish (256-byte payload; step(publish) -> one PUBLISH write),
// a received PUBACK (step(transportData) -> inflight cleared), a received cloud-to-device QoS 1
// PUBLISH (-> a PUBACK write and a message). Heap growth: after gc, 10,000 publishes and their
// PUBACKs, gc again; the difference in slots (goal: 0).

import { XsWorker } from "../host/xs/worker.js";
import { xsCoreScript } from "../host/xs/engine.js";
import { median } from "./codec.js";

export interface XsReport {
  /** compute units per publish (QoS 1, 256-byte payload) */
  publishCompute: number;
  /** compute units per received packet (a PUBACK) */
  receiveCompute: number;
  /** compute units per received cloud-to-device PUBLISH (QoS 1) */
  receiveC2dCompute: number;
  /** heap slots allocated per operation (freed by the next GC) */
  publishSlots: number;
  receiveSlots: number;
  receiveC2dSlots: number;
  /** slots in use after 10,000 more publishes and their PUBACKs, minus before (after gc) */
  heapGrowthAfter10kPublishes: number;
  publishes: number;
}

/** Runs inside XS (sent as source): a connected link and batch runners. */
function xsBench(cfgJson: string): void {
  const g = globalThis as any;
  const L = g.linkguard;
  const cfg = JSON.parse(cfgJson);
  let now = 1000;
  let s = L.createLink(cfg, undefined, 7);
  s = L.step(s, { type: "start" }, now).state;
  s = L.step(s, { type: "transportOpened", gen: s.gen, epochSec: 1800000000 }, now).state;
  s = L.step(s, { type: "transportData", gen: s.gen, bytes: new Uint8Array([0x20, 2, 0, 0]) }, now).state;
  if (s.kind !== "connected") throw new Error("xs bench: link not connected: " + s.code);
  const payload = new Uint8Array(256);
  for (let i = 0; i < 256; i++) payload[i] = i;
  // PUBACKs for every packet id the run will use, built up front (not part of any sample)
  const acks: Uint8Array[] = [];
  for (let id = 0; id < 16384; id++) acks.push(new Uint8Array([0x40, 2, id >> 8, id & 0xff]));
  const c2d = L.encode({ type: "publish", topic: "devices/" + cfg.deviceId + "/messages/devicebound/%24.to=%2Fdevices%2F" + cfg.deviceId + "%2Fmessages%2FdeviceBound&k=v",
    payload: payload.subarray(0, 64), qos: 1, dup: false, retain: false, packetId: 77 });
  let msgId = 0;
  let sink = 0;
  g.B = {
    /** kind 0: publish n; 1: the baseline of 0; 2: ack every in-flight message; 3: its baseline; 4: n c2d; 5: its baseline */
    run(kind: number, n: number) {
      if (kind === 0 || kind === 1) {
        for (let i = 0; i < n; i++) {
          now++;
          const m = { id: ++msgId, payload: payload, qos: 1 };
          if (kind === 0) { const r = L.step(s, { type: "publish", msg: m }, now); s = r.state; sink += r.commands.length; }
        }
      } else if (kind === 2 || kind === 3) {
        const inf = s.inflight;
        const k = inf.length;
        for (let i = 0; i < k; i++) {
          now++;
          const e = { type: "transportData", gen: s.gen, bytes: acks[inf[i].packetId] };
          if (kind === 2) { const r = L.step(s, e, now); s = r.state; sink += r.commands.length; }
        }
        return k;
      } else if (kind === 6 || kind === 7) {
        // n publishes in batches of 8, each batch acknowledged (kind 7: the loop alone)
        for (let b = 0; b < n; b += 8) {
          for (let i = 0; i < 8; i++) {
            now++;
            const m = { id: ++msgId, payload: payload, qos: 1 };
            if (kind === 6) { const r = L.step(s, { type: "publish", msg: m }, now); s = r.state; sink += r.commands.length; }
          }
          const inf = s.inflight;
          for (let i = 0; i < inf.length; i++) {
            now++;
            const r = L.step(s, { type: "transportData", gen: s.gen, bytes: acks[inf[i].packetId] }, now);
            s = r.state;
          }
        }
      } else {
        for (let i = 0; i < n; i++) {
          now++;
          const e = { type: "transportData", gen: s.gen, bytes: c2d };
          if (kind === 4) { const r = L.step(s, e, now); s = r.state; sink += r.commands.length; }
        }
      }
      if (s.kind !== "connected") throw new Error("xs bench: link left connected: " + s.code);
      return n;
    },
    inflight() { return s.inflight.length; },
    sink() { return sink; },
  };
}

const CFG = {
  host: "myhub.azure-devices.net", port: 8883, deviceId: "dev-0001",
  auth: { symmetricKey: "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==" }, tls: true, keepaliveSec: 240,
  connectTimeoutMs: 15000, backoff: { jitter: "decorrelated", baseMs: 1000, factor: 2, capMs: 60000, floorMs: 2000, stableMs: 30000 },
  token: { lifetimeSec: 3600, renewMarginSec: 300 }, telemetry: { queueLimit: 64, overflow: "drop-oldest" }, maxPacketBytes: 262144,
};

export async function runXs(o: { samples: number; publishes: number; log: (s: string) => void }): Promise<XsReport> {
  const code = await xsCoreScript();
  const w = new XsWorker({ name: "linkguard-bench" });
  try {
    w.evaluate(code);
    w.evaluate("(" + xsBench.toString() + ")(" + JSON.stringify(JSON.stringify(CFG)) + ")");
    /** compute and slots of one batch, after a gc */
    const one = (kind: number, n: number) => {
      const before = w.evaluate("gc()").meter.currentHeapCount;
      const m = w.evaluate("B.run(" + kind + "," + n + ")").meter;
      return { compute: m.compute, slots: m.currentHeapCount - before };
    };
    const per = (kind: number, base: number, n: number, after?: () => void) => {
      const c: number[] = [], sl: number[] = [];
      for (let i = 0; i < o.samples; i++) {
        const a = one(kind, n);
        if (after) after();
        const b = one(base, n);
        c.push((a.compute - b.compute) / n);
        sl.push((a.slots - b.slots) / n);
      }
      return { compute: Math.round(median(c)), slots: Math.round(median(sl) * 10) / 10 };
    };
    const ackAll = () => { w.evaluate("B.run(2,0)"); };
    // warm up (first calls parse and build caches)
    for (let i = 0; i < 20; i++) { w.evaluate("B.run(0,8)"); ackAll(); w.evaluate("B.run(4,8)"); }
    const pub = per(0, 1, 8, ackAll);
    o.log("xs: publish " + pub.compute + " compute, " + pub.slots + " slots");
    // acks: 8 in flight, then ack them (kind 2), baseline walks the same list without stepping
    const ackC: number[] = [], ackS: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      w.evaluate("B.run(0,8)");
      const base = one(3, 0);
      const a = one(2, 0);
      ackC.push((a.compute - base.compute) / 8);
      ackS.push((a.slots - base.slots) / 8);
    }
    const ack = { compute: Math.round(median(ackC)), slots: Math.round(median(ackS) * 10) / 10 };
    o.log("xs: receive PUBACK " + ack.compute + " compute, " + ack.slots + " slots");
    const c2d = per(4, 5, 8);
    o.log("xs: receive c2d " + c2d.compute + " compute, " + c2d.slots + " slots");
    // heap growth over `publishes` publishes and their PUBACKs, in one evaluation (each
    // evaluation itself keeps a slot or so in xsnap: the empty loop's growth is subtracted)
    const batches = Math.ceil(o.publishes / 8);
    w.evaluate("B.run(6,1000)");
    const grow = (kind: number) => {
      w.evaluate("gc()");
      const h0 = w.evaluate("gc()").meter.currentHeapCount;
      w.evaluate("B.run(" + kind + "," + batches * 8 + ")");
      w.evaluate("gc()");
      return w.evaluate("gc()").meter.currentHeapCount - h0;
    };
    const empty = grow(7);
    const full = grow(6);
    o.log("xs: heap growth over " + batches * 8 + " publishes: " + full + " slots (empty loop: " + empty + ")");
    return {
      publishCompute: pub.compute, receiveCompute: ack.compute, receiveC2dCompute: c2d.compute,
      publishSlots: pub.slots, receiveSlots: ack.slots, receiveC2dSlots: c2d.slots,
      heapGrowthAfter10kPublishes: full - empty, publishes: batches * 8,
    };
  } finally {
    w.close();
  }
}
