// XS conformance: the core as built for Moddable (rollup, ES2020, one script) runs in the real
// XS engine (the xsnap worker) and must agree with the same core on Node, step by step:
// identical states and commands over random event sequences from the model's world, identical
// encodings, and identical decodes of mqtt-packet's bytes (whole and in random chunks).
// Never skipped: without the xsnap worker this suite fails.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { prng, toMp } from "../helpers/mqtt.js";
import mqttPacket from "mqtt-packet";
import { createLink, step, LinkState, Command } from "../../src/core/link.js";
import { EMPTY_DECODER, Packet } from "../../src/core/mqtt/index.js";
import { encodeOk, feedAny } from "../helpers/mqtt.js";
import { DeviceConfig } from "../../src/core/config.js";
import { initialWorld, enabledEvents, apply, Labelled } from "../model/world.js";
import { testConfig } from "../helpers/config.js";
import { XsHost, createXsEngine, toJson } from "../../src/host/xs/engine.js";

let host: XsHost;
const started = Date.now();


/** Runs inside XS: replays a sequence and returns every step's state and commands as JSON. */
function xsReplay(): void {
  const g = globalThis as any;
  g.lgx.replay = (cfg: string, seed: number, events: string) => {
    let s = g.linkguard.createLink(JSON.parse(cfg, g.lgx.rev), undefined, seed);
    const evs = JSON.parse(events, g.lgx.rev);
    const out: string[] = [];
    for (let i = 0; i < evs.length; i++) {
      const r = g.linkguard.step(s, evs[i].event, evs[i].now);
      s = r.state;
      out.push(JSON.stringify({ s: r.state, c: r.commands }, g.lgx.rep));
    }
    return g.lgx.out(out);
  };
  g.lgx.codec = (packets: string, chunks: string) => {
    const ps = JSON.parse(packets, g.lgx.rev);
    const cs = JSON.parse(chunks, g.lgx.rev);
    const L = g.linkguard;
    const encoded = ps.map((p: any) => L.encode(p));
    const decoded = cs.map((c: any) => {
      let dec = L.EMPTY_DECODER;
      let packets: any[] = [];
      let error = null;
      for (let i = 0; i < c.length; i++) {
        const r = L.feed(dec, c[i], 1 << 22, L.anyPacket);
        dec = r.dec;
        packets = packets.concat(r.packets);
        if (r.error) { error = r.error; break; }
      }
      return { packets: packets, error: error, pending: dec.filled };
    });
    return g.lgx.out({ encoded: encoded, decoded: decoded });
  };
}

before(async () => {
  host = await XsHost.create({ name: "linkguard-xs-conformance" });
  host.worker.evaluate("(" + xsReplay.toString() + ")()");
});
after(() => {
  host?.close();
  console.log(`# xs conformance suite: ${Date.now() - started} ms`);
});

/** A random walk through the model's world: the events, with their times. */
function walk(cfg: DeviceConfig, seed: number, steps: number, rich: boolean): Labelled[] {
  const rnd = prng(seed);
  let s = createLink(cfg, undefined, seed);
  let w = initialWorld();
  const out: Labelled[] = [];
  for (let i = 0; i < steps; i++) {
    const evs = enabledEvents(s, w, rich);
    const l = evs[Math.floor(rnd() * evs.length)];
    const o = apply(s, w, l);
    out.push(l);
    s = o.state;
    w = o.world;
  }
  return out;
}

function nodeReplay(cfg: DeviceConfig, seed: number, events: Labelled[]): string[] {
  let s: LinkState = createLink(cfg, undefined, seed);
  return events.map((l) => {
    const r = step(s, l.event, l.now);
    s = r.state;
    return toJson({ s: r.state, c: r.commands });
  });
}

function xsReplayOf(cfg: DeviceConfig, seed: number, events: Labelled[]): string[] {
  const ev = events.map((l) => ({ event: l.event, now: l.now }));
  return host.call("lgx.replay(" + JSON.stringify(toJson(cfg)) + ", " + seed + ", " + JSON.stringify(toJson(ev)) + ")");
}

function assertSame(name: string, events: Labelled[], node: string[], xs: string[]): void {
  assert.equal(xs.length, node.length);
  for (let i = 0; i < node.length; i++) {
    if (xs[i] !== node[i]) {
      assert.fail(`${name}: XS and Node differ at step ${i} (${events[i].label})\n  node: ${node[i].slice(0, 600)}\n  xs:   ${xs[i].slice(0, 600)}`);
    }
  }
}

const CONFIGS: { [name: string]: DeviceConfig } = {
  "symmetric key, decorrelated": testConfig(),
  "full jitter, refuse-new, fleet-sized": testConfig({ backoff: { jitter: "full", baseMs: 500, factor: 3, capMs: 30000, floorMs: 1000, stableMs: 5000, fleet: { devices: 1000, admitPerS: 100 } }, telemetry: { queueLimit: 3, overflow: "refuse-new" } }),
  "equal jitter, ready SAS token": testConfig({ backoff: { jitter: "equal", baseMs: 1000, factor: 2, capMs: 60000, floorMs: 2000, stableMs: 30000 }, auth: { sasToken: "SharedAccessSignature sr=hub.example.net%2Fdevices%2Fdev-0001&sig=abc%3D&se=1800007200" } }),
};

describe("the link on XS equals the link on Node", () => {
  for (const name of Object.keys(CONFIGS)) {
    test(`random event sequences: ${name}`, () => {
      const cfg = CONFIGS[name];
      let steps = 0;
      for (let k = 0; k < 100; k++) {
        const seed = 1000 + k;
        const events = walk(cfg, seed, 80, k % 2 === 1);
        assertSame(`${name} seed ${seed}`, events, nodeReplay(cfg, seed, events), xsReplayOf(cfg, seed, events));
        steps += events.length;
      }
      assert.equal(steps, 8000);
    });
  }

  test("a scripted life: connect, publish, PUBACK, c2d, drop, backoff, token renewal, stop", () => {
    const cfg = testConfig({ telemetry: { queueLimit: 8, overflow: "drop-oldest" } });
    const g = (p: object) => new Uint8Array(mqttPacket.generate(p as any));
    const ev: Labelled[] = [];
    let t = 1000;
    const at = (label: string, event: any, dt = 10) => { t += dt; ev.push({ label, event, now: t }); };
    at("start", { type: "start" });
    at("opened", { type: "transportOpened", gen: 1, epochSec: 1_800_000_000 });
    at("connack", { type: "transportData", gen: 1, bytes: g({ cmd: "connack", returnCode: 0, sessionPresent: false }) });
    at("suback", { type: "transportData", gen: 1, bytes: g({ cmd: "suback", messageId: 1, granted: [1] }) });
    for (let i = 1; i <= 3; i++) at("publish " + i, { type: "publish", msg: { id: i, payload: new Uint8Array([i, 0xc3, 0xa9]), qos: 1, properties: { "$.ct": "application/json", "k é": "v/1" } } });
    at("puback 2+3 in one chunk", { type: "transportData", gen: 1, bytes: new Uint8Array([...g({ cmd: "puback", messageId: 2 }), ...g({ cmd: "puback", messageId: 3 })]) });
    at("c2d", { type: "transportData", gen: 1, bytes: g({ cmd: "publish", topic: "devices/dev-0001/messages/devicebound/%24.mid=7&x=%C3%A9", payload: Buffer.from("hé"), qos: 1, messageId: 9 }) });
    at("ping", { type: "timerFired", kind: "ping" }, 30000);
    at("drop", { type: "transportClosed", gen: 1, cause: "remote" });
    at("backoff", { type: "timerFired", kind: "backoff" }, 5000);
    at("opened 2", { type: "transportOpened", gen: 2, epochSec: 1_800_000_100 });
    at("connack 2", { type: "transportData", gen: 2, bytes: g({ cmd: "connack", returnCode: 0, sessionPresent: true }) });
    at("stable", { type: "timerFired", kind: "stable" }, 30000);
    at("token", { type: "tokenExpiring" });
    at("closed local", { type: "transportClosed", gen: 2, cause: "local" });
    at("stop", { type: "stop" });
    const node = nodeReplay(cfg, 5, ev);
    assertSame("scripted", ev, node, xsReplayOf(cfg, 5, ev));
    assert.match(node[2], /"kind":"connected"/);
  });
});

// ---- the codec: encode on XS == encode on Node; XS decodes mqtt-packet's bytes as Node does

const CHARS = ["a", "Z", "0", "/", "$", ".", "=", "&", "%", " ", "é", "ß", "€", "中", "𝄞", "😀", "\u007f", "\u0001"];

function packets(seed: number, n: number): Packet[] {
  const r = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const str = (lo: number, hi: number) => { let s = ""; const k = int(lo, hi); for (let i = 0; i < k; i++) s += CHARS[int(0, CHARS.length - 1)]; return s; };
  const topic = () => str(1, 20);
  const bytes = (hi: number) => { const b = new Uint8Array(int(0, hi)); for (let i = 0; i < b.length; i++) b[i] = int(0, 255); return b; };
  const out: Packet[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 11) {
      case 0: {
        const p: Packet = { type: "connect", clientId: str(1, 20), cleanSession: r() < 0.5, keepaliveSec: int(0, 65535) };
        if (r() < 0.8) { p.username = str(0, 40); if (r() < 0.8) p.password = "SharedAccessSignature " + str(0, 80); }
        if (r() < 0.3) p.will = { topic: topic(), payload: bytes(40), qos: r() < 0.5 ? 0 : 1, retain: r() < 0.5 };
        out.push(p);
        break;
      }
      case 1: out.push({ type: "connack", sessionPresent: r() < 0.5, returnCode: int(0, 5) }); break;
      case 2: { const q = int(0, 2) as 0 | 1 | 2; out.push({ type: "publish", topic: topic(), payload: bytes(r() < 0.1 ? 20000 : 200), qos: q, dup: q > 0 && r() < 0.5, retain: r() < 0.5, packetId: q > 0 ? int(1, 65535) : 0 }); break; }
      case 3: out.push({ type: "puback", packetId: int(1, 65535) }); break;
      case 4: out.push({ type: "subscribe", packetId: int(1, 65535), subscriptions: [{ topic: topic() + "/#", qos: int(0, 2) as 0 | 1 | 2 }, { topic: "+/" + str(1, 5), qos: 1 }] }); break;
      case 5: out.push({ type: "suback", packetId: int(1, 65535), granted: [int(0, 2), 0x80, 1] }); break;
      case 6: out.push({ type: "unsubscribe", packetId: int(1, 65535), topics: [topic(), topic()] }); break;
      case 7: out.push({ type: "unsuback", packetId: int(1, 65535) }); break;
      case 8: out.push({ type: "pingreq" }); break;
      case 9: out.push({ type: "pingresp" }); break;
      default: out.push({ type: "disconnect" });
    }
  }
  return out;
}


function chunked(b: Uint8Array, r: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < b.length) { const n = 1 + Math.floor(r() * 40); out.push(b.subarray(i, i + n)); i += n; }
  return out;
}

describe("the codec on XS equals the codec on Node", () => {
  test("encodes 330 packets of every type to the same bytes, and decodes mqtt-packet's bytes to the expected packets", () => {
    const ps = packets(42, 330);
    const r = prng(7);
    const streams = ps.map((p) => new Uint8Array(mqttPacket.generate(toMp(p))));
    const splits = streams.map((b, i) => (i % 2 === 0 ? [b] : chunked(b, r)));
    const xs = host.call("lgx.codec(" + JSON.stringify(toJson(ps)) + ", " + JSON.stringify(toJson(splits)) + ")");
    for (let i = 0; i < ps.length; i++) {
      const node = encodeOk(ps[i]);
      assert.deepEqual(Array.from(xs.encoded[i] as Uint8Array), Array.from(node), `encode ${ps[i].type} #${i}`);
      assert.deepEqual(Array.from(node), Array.from(streams[i]), `Node's encoding equals mqtt-packet's, ${ps[i].type} #${i}`);
      const nd = feedAny(EMPTY_DECODER, streams[i], 1 << 22);
      assert.equal(xs.decoded[i].error, null, `decode ${ps[i].type} #${i}: ${JSON.stringify(xs.decoded[i].error)}`);
      assert.equal(toJson(xs.decoded[i].packets), toJson(nd.packets), `XS decode equals Node decode, ${ps[i].type} #${i}`);
      assert.deepEqual(JSON.parse(toJson(xs.decoded[i].packets)), JSON.parse(toJson([ps[i]])), `decode yields the packet, ${ps[i].type} #${i}`);
    }
  });

  test("reports the same protocol errors with the same offsets", () => {
    const bad = [[0xf0, 0x00], [0x30, 0xff, 0xff, 0xff, 0xff, 0x7f], [0x20, 0x02, 0x00, 0x09], [0x32, 0x03, 0x00, 0x01, 0x23], [0x82, 0x02, 0x00, 0x01], [0x30, 0x05, 0x00, 0x03, 0x61, 0x2b, 0x62]].map((a) => new Uint8Array(a));
    const xs = host.call("lgx.codec(\"[]\", " + JSON.stringify(toJson(bad.map((b) => [b]))) + ")");
    for (let i = 0; i < bad.length; i++) {
      const nd = feedAny(EMPTY_DECODER, bad[i], 1 << 22);
      assert.equal(toJson({ p: xs.decoded[i].packets, e: xs.decoded[i].error }), toJson({ p: nd.packets, e: nd.error }), `bad input #${i}`);
    }
  });
});

describe("createXsEngine: a CoreEngine whose core runs on XS", () => {
  test("its commands and snapshots equal the Node core's, event by event", async () => {
    const cfg = testConfig();
    const events = walk(cfg, 77, 120, true);
    const eng = await createXsEngine(cfg, 77);
    try {
      let s = createLink(cfg, undefined, 77);
      for (const l of events) {
        const r = step(s, l.event, l.now);
        s = r.state;
        const got: Command[] = eng.handle(l.event, l.now);
        assert.equal(toJson(got), toJson(r.commands), l.label);
        assert.deepEqual(eng.snapshot(), { kind: s.kind, code: s.code, attempt: s.attempt, gen: s.gen });
      }
    } finally {
      eng.dispose();
    }
    assert.throws(() => eng.handle({ type: "start" }, 0), /disposed/);
  });

  test("many links share one worker without crosstalk", async () => {
    const engines = await Promise.all([1, 2, 3].map((k) => createXsEngine(testConfig({ deviceId: "dev-000" + k }), k, host)));
    const c = engines.map((e) => e.handle({ type: "start" }, 0));
    assert.deepEqual(c.map((x) => (x.find((y) => y.type === "openTransport") as any).gen), [1, 1, 1]);
    engines[1].handle({ type: "stop" }, 5);
    assert.deepEqual(engines.map((e) => e.snapshot().kind), ["connecting", "closing", "connecting"]);
    for (const e of engines) e.dispose();
    assert.equal(host.call("lgx.out(1)"), 1); // the shared host is still up
  });
});
