// Codec speed: linkguard's MQTT codec beside mqtt-packet, in the same process, interleaved.
//
// Like with like: mqtt-packet's `generate(obj)` (a fresh Buffer from Node's pool) against our
// `encode(obj, nodeAlloc)` (a fresh Buffer from the same pool: the allocator the Node platform
// hands the link); mqtt-packet's parser fed one whole packet against our
// `decodePacket` on the same bytes. Each round times every case for both libraries in
// alternating order; the figure is the median over rounds, the ratio is linkguard / mqtt-packet.
//
// Allocation per packet is measured in a child process (`node --expose-gc codec.js --alloc`)
// with a fixed young generation large enough that no scavenge runs during the measured loop
// (--min-semi-space-size=128): (heapUsed + arrayBuffers after) - (before), divided by the
// number of operations, median of 5 tries. Calibration on Node 20: `{a:1,b:2}` reads 40 bytes,
// `new Uint8Array(4)` 208. mqtt-packet's Buffers come from an 8 KB pool, counted per slab.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import mqttPacket from "mqtt-packet";
import { encode, encodePuback, decodePacket, anyPacket } from "../core/mqtt/index.js";
import type { Packet, Encoded } from "../core/mqtt/index.js";
import { username, telemetryTopic } from "../core/hub/names.js";
import { sasToken } from "../core/hub/sas.js";
import { nodeAlloc } from "../platform/node/engine.js";

export type CodecCase = "publish-encode" | "publish-decode" | "connect-encode" | "connect-decode" | "puback-encode" | "puback-decode";

export interface CodecRow {
  case: CodecCase | ExtraCase;
  linkguardOpsPerS: number;
  mqttPacketOpsPerS: number;
  ratio: number;
  /** bytes allocated per operation (V8 heap + array buffers), -1 if not measured */
  linkguardBytesPerOp: number;
  mqttPacketBytesPerOp: number;
}

export interface CodecOptions { rounds: number; msPerSample: number; alloc: boolean; log: (s: string) => void }

const HOST = "myhub.azure-devices.net";
const DEVICE = "dev-0001";
const KEY = "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==";
const MAX_PACKET = 262144;

/** The packets of the benchmark, as each library wants them, plus their encoded bytes. */
export function fixtures() {
  const payload = new Uint8Array(256);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
  const topic = telemetryTopic(DEVICE); // devices/dev-0001/messages/events/
  const user = username(HOST, DEVICE);
  const password = sasToken({ host: HOST, deviceId: DEVICE, key: KEY, expirySec: 1800003600 }) as string;
  const lgPublish: Packet = { type: "publish", topic: topic, payload: payload, qos: 1, dup: false, retain: false, packetId: 4242 };
  const lgConnect: Packet = { type: "connect", clientId: DEVICE, cleanSession: false, keepaliveSec: 240, username: user, password: password };
  const mpPublish = { cmd: "publish", topic: topic, payload: Buffer.from(payload), qos: 1, dup: false, retain: false, messageId: 4242 };
  const mpConnect = { cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: DEVICE, clean: false, keepalive: 240, username: user, password: Buffer.from(password) };
  const mpPuback = { cmd: "puback", messageId: 4242 };
  const publishBytes = encode(lgPublish) as Uint8Array;
  const connectBytes = encode(lgConnect) as Uint8Array;
  const pubackBytes = encodePuback(4242) as Uint8Array;
  return { topic, user, password, payload, lgPublish, lgConnect, mpPublish, mpConnect, mpPuback, publishBytes, connectBytes, pubackBytes };
}

type Op = () => number;

/** For each case: [linkguard op, mqtt-packet op]; each returns a number so the work is kept. */
export function operations(): { [k in CodecCase | ExtraCase]: [Op, Op] } {
  const f = fixtures();
  // sanity: both libraries produce the same bytes for the same packet
  for (const [a, b, name] of [[f.publishBytes, mqttPacket.generate(f.mpPublish as any), "publish"], [f.connectBytes, mqttPacket.generate(f.mpConnect as any), "connect"], [f.pubackBytes, mqttPacket.generate(f.mpPuback as any), "puback"]] as [Uint8Array, Uint8Array, string][]) {
    if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) throw new Error("codec bench: " + name + " bytes differ between linkguard and mqtt-packet");
  }
  let got: any = null;
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on("packet", (p: any) => { got = p; });
  parser.on("error", (e: Error) => { throw e; });
  const pubBuf = Buffer.from(f.publishBytes);
  const conBuf = Buffer.from(f.connectBytes);
  const ackBuf = Buffer.from(f.pubackBytes);
  const mpParse = (b: Buffer): number => { got = null; parser.parse(b); keep = got; return got === null ? 0 : 1; };
  // results go to a module-level slot, so escape analysis cannot elide the work
  const scratch = new Uint8Array(1024);
  // "encodeInto": the encoder's alloc hands out the start of one reused buffer
  const into = (n: number): Uint8Array => scratch.subarray(0, n);
  const lgDecode = (b: Uint8Array): number => { const r = decodePacket(b, 0, b.length, MAX_PACKET, 0, anyPacket); keep = r; return r !== null && r.ok ? r.next : 0; };
  const lgEncode = (p: Packet): number => { const b = encode(p, nodeAlloc); keep = b; return len(b); };
  const lgEncodeU8 = (p: Packet): number => { const b = encode(p); keep = b; return len(b); };
  const mpEncode = (p: object): number => { const b = mqttPacket.generate(p as any); keep = b; return b.length; };
  return {
    "publish-encode": [() => lgEncode(f.lgPublish), () => mpEncode(f.mpPublish)],
    "publish-decode": [() => lgDecode(f.publishBytes), () => mpParse(pubBuf)],
    "connect-encode": [() => lgEncode(f.lgConnect), () => mpEncode(f.mpConnect)],
    "connect-decode": [() => lgDecode(f.connectBytes), () => mpParse(conBuf)],
    "puback-encode": [() => { const b = encodePuback(4242); keep = b; return len(b); }, () => mpEncode(f.mpPuback)],
    "puback-decode": [() => lgDecode(f.pubackBytes), () => mpParse(ackBuf)],
    // not like with like (kept apart from the goal rows): our encoder writing into a reused
    // buffer, which shows what the fresh Uint8Array of `encode` costs on V8
    "publish-encodeInto": [() => len(encode(f.lgPublish, into)), () => mpEncode(f.mpPublish)],
    // what a device does: a fresh Uint8Array per packet (V8 backs each with its own store)
    "publish-encodeU8": [() => lgEncodeU8(f.lgPublish), () => mpEncode(f.mpPublish)],
    "connect-encodeU8": [() => lgEncodeU8(f.lgConnect), () => mpEncode(f.mpConnect)],
    "connect-encodeInto": [() => len(encode(f.lgConnect, into)), () => mpEncode(f.mpConnect)],
  };
}

export type ExtraCase = "publish-encodeInto" | "connect-encodeInto" | "publish-encodeU8" | "connect-encodeU8";
export const EXTRA_CASES: ExtraCase[] = ["publish-encodeInto", "connect-encodeInto", "publish-encodeU8", "connect-encodeU8"];

export const CODEC_CASES: CodecCase[] = ["publish-encode", "publish-decode", "connect-encode", "connect-decode", "puback-encode", "puback-decode"];

/** An encoding's length; the bench's packets always encode. */
function len(e: Encoded): number {
  return (e as Uint8Array).length;
}

let sink = 0;
let keep: unknown = null;

/** ops/s of `op` over about `ms` milliseconds, in batches of `batch`. */
function sample(op: Op, batch: number, ms: number): number {
  const t0 = process.hrtime.bigint();
  const limit = t0 + BigInt(Math.round(ms * 1e6));
  let n = 0;
  let t = t0;
  let s = 0;
  do {
    for (let i = 0; i < batch; i++) s += op();
    n += batch;
    t = process.hrtime.bigint();
  } while (t < limit);
  sink += s;
  return n / (Number(t - t0) / 1e9);
}

export function median(xs: number[]): number {
  const a = xs.slice().sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/** Median ops/s per case and library over interleaved rounds. */
export function measureSpeed(o: CodecOptions): Map<CodecCase | ExtraCase, [number, number]> {
  const ops = operations();
  const ALL: (CodecCase | ExtraCase)[] = (CODEC_CASES as (CodecCase | ExtraCase)[]).concat(EXTRA_CASES);
  const res = new Map<CodecCase | ExtraCase, [number[], number[]]>();
  for (const c of ALL) {
    res.set(c, [[], []]);
    // warm up both (JIT) before the first timed round
    sample(ops[c][0], 1000, 60);
    sample(ops[c][1], 1000, 60);
  }
  for (let r = 0; r < o.rounds; r++) {
    for (const c of ALL) {
      const [lg, mp] = ops[c];
      const out = res.get(c)!;
      // alternate which library goes first, so neither always runs on a warmer cache
      if (r % 2 === 0) { out[0].push(sample(lg, 500, o.msPerSample)); out[1].push(sample(mp, 500, o.msPerSample)); }
      else { out[1].push(sample(mp, 500, o.msPerSample)); out[0].push(sample(lg, 500, o.msPerSample)); }
    }
    o.log(`codec: round ${r + 1}/${o.rounds}`);
  }
  const m = new Map<CodecCase | ExtraCase, [number, number]>();
  for (const c of ALL) { const [a, b] = res.get(c)!; m.set(c, [median(a), median(b)]); }
  if (sink === -1) console.error(sink, keep);
  return m;
}

/** In a child with --expose-gc: bytes allocated per op for each case and library (-1 where unreliable). */
function allocChild(): void {
  const ops = operations();
  const gc = (globalThis as any).gc as () => void;
  const N = 20000;
  const out: { [k: string]: [number, number] } = {};
  const per = (op: Op): number => {
    for (let i = 0; i < 50000; i++) op(); // warm up: measure the optimised code, not the JIT
    const tries: number[] = [];
    for (let t = 0; t < 5; t++) {
      gc();
      const a = process.memoryUsage();
      let s = 0;
      for (let i = 0; i < N; i++) s += op();
      const b = process.memoryUsage();
      sink += s;
      const d = (b.heapUsed - a.heapUsed) + (b.arrayBuffers - a.arrayBuffers);
      if (d >= 0) tries.push(d / N);
    }
    return tries.length ? Math.round(median(tries)) : -1;
  };
  for (const c of CODEC_CASES) out[c] = [per(ops[c][0]), per(ops[c][1])];
  process.stdout.write(JSON.stringify(out));
}

/** Runs the allocation child; an empty map if it fails. */
export function measureAlloc(): { [k: string]: [number, number] } {
  const file = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ["--expose-gc", "--min-semi-space-size=128", "--max-semi-space-size=128", file, "--alloc"], { encoding: "utf8", timeout: 120000 });
  if (r.status !== 0) return {};
  try { return JSON.parse(r.stdout); } catch { return {}; }
}

export async function runCodec(o: CodecOptions): Promise<{ rows: CodecRow[]; extra: CodecRow[] }> {
  const speed = measureSpeed(o);
  const alloc = o.alloc ? measureAlloc() : {};
  const row = (c: CodecCase | ExtraCase): CodecRow => {
    const [lg, mp] = speed.get(c)!;
    const a = alloc[c] || [-1, -1];
    return {
      case: c,
      linkguardOpsPerS: Math.round(lg),
      mqttPacketOpsPerS: Math.round(mp),
      ratio: Math.round((lg / mp) * 100) / 100,
      linkguardBytesPerOp: a[0],
      mqttPacketBytesPerOp: a[1],
    };
  };
  return { rows: CODEC_CASES.map(row), extra: EXTRA_CASES.map(row) };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--alloc")) allocChild();
