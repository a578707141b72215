// Fleet storm in virtual time: N devices dropped at once by a hub that admits `admitPerS` new
// connections per second and lingers after each drop, as the emulator (src/sim/hub.ts) does.
//
// No sockets and no wall clock: one event queue (a binary heap on virtual time) drives every
// device. linkguard's devices are the real core — `createLink`/`step` from src/core/link.ts,
// one link machine per device, its commands executed by a tiny virtual shell. The peers'
// devices are their published reconnect policies (DESIGN.md, "What the peers do"), each
// labelled with where it comes from; azure-iot-common's ExponentialBackOffWithJitter is
// imported and called as the Node SDK's RetryOperation calls it.
//
// The modelled hub, like src/sim/hub.ts:
// - admission: a token bucket of `admitPerS` per second, burst one second's worth, starting
//   full; a CONNECT over the limit gets CONNACK 3 (counted as throttled);
// - linger: after the drop the hub keeps each device "connected" for a random 200–2000 ms;
//   an admitted CONNECT inside it is a LinkCreationConflict (409002) and is accepted.
// The network: opening TCP + TLS takes three round trips, a round trip is 40–60 ms; the
// CONNECT reaches the hub half a round trip later and the CONNACK comes back after another.

import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import type azureIotCommon from "azure-iot-common";
import { createLink, step, LinkState, Command, TimerKind, TIMER_KINDS } from "../core/link.js";
import { validateConfig, DeviceConfig } from "../core/config.js";

export type PolicyName = "linkguard" | "linkguard-fleet-aware" | "mqttjs-fixed-1s" | "azure-node-sdk"
  | "azure-c-sdk" | "azure-embedded-c" | "full-jitter";

export const POLICIES: PolicyName[] = ["linkguard", "linkguard-fleet-aware", "mqttjs-fixed-1s", "azure-node-sdk",
  "azure-c-sdk", "azure-embedded-c", "full-jitter"];

/** Where each policy comes from, for the table and RESULTS.md. */
export const POLICY_NOTES: { [k in PolicyName]: string } = {
  "linkguard": "the real core (src/core/link.ts) with DEFAULTS.backoff",
  "linkguard-fleet-aware": "the real core with backoff.fleet = { devices, admitPerS } and capMs 120000",
  "mqttjs-fixed-1s": "MQTT.js reconnectPeriod 1000 ms after every close",
  "azure-node-sdk": "azure-iot-common ExponentialBackOffWithJitter, called as is (nextRetryTimeout(retryCount, false): CONNACK 3 is not a ThrottlingError)",
  "azure-c-sdk": "Azure IoT C SDK formula, reimplemented: first retry immediate, then min(30 s, 1 s * 2^(n-1)) * (1 + 0..5 %)",
  "azure-embedded-c": "Azure SDK for Embedded C az_iot_calculate_retry_delay, reimplemented: min(1 s * 2^n, 100 s) + 0..5 s unless at the cap, minus the operation time",
  "full-jitter": "FreeRTOS backoffAlgorithm style full jitter: uniform in [0, ceiling], ceiling 1 s doubling to 60 s",
};

export interface StormOptions {
  devices: number;
  admitPerS: number;
  seed: number;
  /** virtual seconds after which the run stops even if devices are still out */
  limitS: number;
  lingerMs?: { min: number; max: number };
  /** linkguard policies only: backoff fields over the policy's own (for sweeps) */
  backoff?: { [k: string]: unknown };
  /** run this delay policy instead of the named one (the proposals below) */
  peer?: PeerPolicy;
}

export interface StormResult {
  policy: PolicyName;
  devices: number;
  admitPerS: number;
  t99S: number;
  t100S: number;
  attempts: number;
  throttled: number;
  peakAttemptsPerS: number;
  conflicts: number;
  /** attempts / devices */
  attemptsPerDevice: number;
  /** devices still disconnected when the run stopped (0 unless it hit limitS) */
  unfinished: number;
  /** CONNECTs reaching the hub in each virtual second */
  perSecond: number[];
}

// ---- a seeded PRNG for the model and the peers (mulberry32) ---------------------------------

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the event queue: a binary heap on (time, insertion order) ------------------------------

const EV_ATTEMPT = 0;   // a peer device starts an attempt
const EV_OPENED = 1;    // the transport of `gen` finished its TLS handshake
const EV_AT_HUB = 2;    // the CONNECT of `gen` reaches the hub
const EV_CONNACK = 3;   // the CONNACK of `gen` (code in `arg`) reaches the device
const EV_CLOSED = 4;    // the transport of `gen` confirms a local close
const EV_TIMER = 5;     // a link timer (kind index in `arg`, sequence in `gen`)

class Queue {
  private t: number[] = [];
  private o: number[] = [];
  private ev: Int32Array[] = [];
  private n = 0;
  private seq = 0;
  private pool: Int32Array[] = [];

  get size(): number { return this.n; }

  push(time: number, type: number, dev: number, gen: number, arg: number): void {
    const e = this.pool.pop() || new Int32Array(4);
    e[0] = type; e[1] = dev; e[2] = gen; e[3] = arg;
    let i = this.n++;
    const o = this.seq++;
    // sift up
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.t[p] < time || (this.t[p] === time && this.o[p] < o)) break;
      this.t[i] = this.t[p]; this.o[i] = this.o[p]; this.ev[i] = this.ev[p];
      i = p;
    }
    this.t[i] = time; this.o[i] = o; this.ev[i] = e;
  }

  /** the earliest event's time */
  peekTime(): number { return this.t[0]; }

  /** removes the earliest event into `out`; returns its time */
  pop(out: Int32Array): number {
    const time = this.t[0];
    const top = this.ev[0];
    out.set(top);
    this.pool.push(top);
    const n = --this.n;
    if (n > 0) {
      const lt = this.t[n], lo = this.o[n], le = this.ev[n];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && (this.t[c + 1] < this.t[c] || (this.t[c + 1] === this.t[c] && this.o[c + 1] < this.o[c]))) c++;
        if (lt < this.t[c] || (lt === this.t[c] && lo < this.o[c])) break;
        this.t[i] = this.t[c]; this.o[i] = this.o[c]; this.ev[i] = this.ev[c];
        i = c;
      }
      this.t[i] = lt; this.o[i] = lo; this.ev[i] = le;
    }
    this.t.length = n; this.o.length = n; this.ev.length = n;
    return time;
  }
}

// ---- the peers' policies: delay after the drop, and after the n-th failed attempt ----------

export interface PeerPolicy {
  /** ms from the drop to the first attempt */
  first(dev: number, rnd: () => number): number;
  /** ms from the end of failed attempt `n` (1-based) at `nowMs` (the drop was at 0) to the next; `opMs` is how long the attempt took */
  next(dev: number, n: number, opMs: number, rnd: () => number, nowMs: number): number;
}

type AzureBackoff = InstanceType<typeof azureIotCommon.ExponentialBackOffWithJitter>;

/** azure-iot-common, a dev dependency: loaded when its policy runs, so the CLI starts without it. */
function azureBackoff(): typeof azureIotCommon.ExponentialBackOffWithJitter {
  return (createRequire(import.meta.url)("azure-iot-common") as typeof azureIotCommon).ExponentialBackOffWithJitter;
}

function peerPolicy(name: PolicyName): PeerPolicy {
  switch (name) {
    case "mqttjs-fixed-1s":
      // MQTT.js: reconnectPeriod (default 1000 ms) after every 'close', including the drop.
      return { first: () => 1000, next: () => 1000 };
    case "azure-node-sdk": {
      // azure-iot-common, as its RetryOperation uses it: the retry count is 1 before the first
      // attempt, and CONNACK 3 maps to a ServiceUnavailableError, not a ThrottlingError.
      // The class draws from Math.random (it cannot be seeded).
      const policies: AzureBackoff[] = [];
      const Backoff = azureBackoff();
      const get = (dev: number) => policies[dev] || (policies[dev] = new Backoff());
      return {
        first: (dev) => get(dev).nextRetryTimeout(1, false),
        next: (dev, n) => get(dev).nextRetryTimeout(n + 1, false),
      };
    }
    case "azure-c-sdk":
      // Azure IoT C SDK (iothub_client_retry_control, EXPONENTIAL_BACKOFF_WITH_JITTER):
      // the retry counter resets on every CONNACK, so the first retry after a drop is immediate;
      // then 1 s doubling to a 30 s cap, plus 0–5 % jitter.
      return {
        first: () => 0,
        next: (_d, n, _op, rnd) => Math.min(30000, 1000 * Math.pow(2, n - 1)) * (1 + 0.05 * rnd()),
      };
    case "azure-embedded-c": {
      // Azure SDK for Embedded C, az_iot_calculate_retry_delay(operation_msec, attempt,
      // 1000, 100000, random 0..5000): delay = min(1000 * 2^attempt, 100000); jitter is added
      // only while it keeps the delay under the cap; minus the operation's own time.
      const calc = (op: number, attempt: number, rnd: () => number) => {
        let d = Math.min(1000 * Math.pow(2, attempt), 100000);
        const r = Math.floor(rnd() * 5001);
        if (100000 - d > r) d += r;
        d -= op;
        return d > 0 ? d : 0;
      };
      return { first: (_d, rnd) => calc(0, 0, rnd), next: (_d, n, op, rnd) => calc(op, n, rnd) };
    }
    case "full-jitter": {
      // FreeRTOS backoffAlgorithm: uniform in [0, ceiling]; the ceiling starts at the base
      // (1 s) and doubles after each draw up to the cap (60 s).
      const ceil = (k: number) => Math.min(60000, 1000 * Math.pow(2, k));
      return { first: (_d, rnd) => rnd() * ceil(0), next: (_d, n, _op, rnd) => rnd() * ceil(n) };
    }
    default:
      throw new Error("not a peer policy: " + name);
  }
}

// ---- linkguard's configurations ---------------------------------------------------------------

const KEY = "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==";
const EPOCH_SEC = 1800000000;

/** The fleet-aware variant's cap: above the fleet window (devices / admitPerS) plus the floor. */
export function fleetCapMs(devices: number, admitPerS: number): number {
  const windowMs = Math.ceil((devices / admitPerS) * 1000);
  return Math.max(60000, Math.ceil((windowMs * 1.2) / 1000) * 1000);
}

export function linkConfig(policy: PolicyName, devices: number, admitPerS: number, over?: { [k: string]: unknown }): DeviceConfig {
  const raw: { [k: string]: unknown } = { host: "storm.azure-devices.net", deviceId: "dev-0001", auth: { symmetricKey: KEY } };
  let b: { [k: string]: unknown } = {};
  if (policy === "linkguard-fleet-aware") {
    b = { fleet: { devices: devices, admitPerS: admitPerS }, capMs: fleetCapMs(devices, admitPerS) };
  }
  raw.backoff = Object.assign(b, over || {});
  const r = validateConfig(raw);
  if (!r.ok) throw new Error("storm: bad link config: " + JSON.stringify(r.errors));
  return r.config;
}

const nativeHmac = (key: Uint8Array, msg: Uint8Array): Uint8Array => new Uint8Array(createHmac("sha256", key).update(msg).digest());

const TIMER_INDEX: { [k: string]: number } = {};
for (let i = 0; i < TIMER_KINDS.length; i++) TIMER_INDEX[TIMER_KINDS[i]] = i;
const CONNACK_BYTES = [0, 1, 2, 3, 4, 5].map((c) => new Uint8Array([0x20, 2, 0, c]));

// ---- the simulation ---------------------------------------------------------------------------

export function runStorm(policy: PolicyName, o: StormOptions): StormResult {
  const N = o.devices;
  const linger = o.lingerMs || { min: 200, max: 2000 };
  const net = prng(o.seed * 7919 + 17);
  const rnd = prng(o.seed * 104729 + 3);
  const isLink = policy === "linkguard" || policy === "linkguard-fleet-aware";
  const peer = o.peer ? o.peer : isLink ? null : peerPolicy(policy);
  const isLinkRun = isLink && !o.peer;
  const q = new Queue();
  const ev = new Int32Array(4);

  // the hub
  let tokens = o.admitPerS;
  let tokensAt = 0;
  const lingerEnd = new Float64Array(N);
  for (let i = 0; i < N; i++) lingerEnd[i] = Math.round(linger.min + (linger.max - linger.min) * net());
  let attempts = 0, throttled = 0, conflicts = 0;
  const perSecond: number[] = [];

  // the devices
  const done = new Uint8Array(N);
  const connectedAt: number[] = [];
  const failures = new Int32Array(N);      // peers: failed attempts so far
  const attemptStart = new Float64Array(N);
  const gens = new Int32Array(N);          // peers: attempt generation
  const links: LinkState[] = isLinkRun ? new Array(N) : [];
  const timerSeq = isLinkRun ? new Int32Array(N * TIMER_KINDS.length) : new Int32Array(0);

  const rtt = () => 40 + 20 * net();
  const openMs = () => 3 * rtt();

  /** Executes a link's commands in the virtual shell. */
  const run = (dev: number, cmds: Command[], now: number) => {
    for (let k = 0; k < cmds.length; k++) {
      const c = cmds[k];
      switch (c.type) {
        case "openTransport":
          attemptStart[dev] = now;
          q.push(now + openMs(), EV_OPENED, dev, c.gen, 0);
          break;
        case "write":
          // only the CONNECT matters to the modelled hub: it follows transportOpened
          if (links[dev].kind === "handshaking" && (c.bytes[0] >> 4) === 1) q.push(now + rtt() / 2, EV_AT_HUB, dev, c.gen, 0);
          break;
        case "closeTransport":
          q.push(now + 1, EV_CLOSED, dev, c.gen, 0);
          break;
        case "startTimer": {
          const j = dev * TIMER_KINDS.length + TIMER_INDEX[c.kind];
          timerSeq[j]++;
          q.push(now + c.ms, EV_TIMER, dev, timerSeq[j], TIMER_INDEX[c.kind]);
          break;
        }
        case "cancelTimer":
          timerSeq[dev * TIMER_KINDS.length + TIMER_INDEX[c.kind]]++;
          break;
        default:
          break;
      }
    }
  };
  const feed = (dev: number, e: Parameters<typeof step>[1], now: number) => {
    const r = step(links[dev], e, now);
    links[dev] = r.state;
    run(dev, r.commands, now);
  };

  // Before the storm: every device connected and stable. At 0 the hub drops them all.
  if (isLinkRun) {
    const cfg = linkConfig(policy, N, o.admitPerS, o.backoff);
    const seedRnd = prng(o.seed * 15485863 + 11);
    for (let i = 0; i < N; i++) {
      // Each device's seed is a full 32-bit random number, as a hardware RNG gives on a device.
      // (Sequential seeds would be unfair to the core: seedRng does not scramble its input, so
      // neighbouring seeds give correlated first draws, and the fleet clumps.)
      let s = createLink(cfg, nativeHmac, (seedRnd() * 4294967296) | 0);
      const t0 = -600000;
      s = step(s, { type: "start" }, t0).state;
      s = step(s, { type: "transportOpened", gen: s.gen, epochSec: EPOCH_SEC - 600 }, t0 + 150).state;
      s = step(s, { type: "transportData", gen: s.gen, bytes: CONNACK_BYTES[0] }, t0 + 200).state;
      s = step(s, { type: "timerFired", kind: "stable" }, t0 + 200 + cfg.backoff.stableMs).state;
      if (s.kind !== "connected" || s.attempt !== 0) throw new Error("storm: link did not reach a stable connection");
      links[i] = s;
      feed(i, { type: "transportClosed", gen: s.gen, cause: "remote" }, 0);
    }
  } else {
    for (let i = 0; i < N; i++) q.push(peer!.first(i, rnd), EV_ATTEMPT, i, 0, 0);
  }

  const limitMs = o.limitS * 1000;
  let remaining = N;
  while (q.size > 0 && remaining > 0) {
    if (q.peekTime() > limitMs) break;
    const now = q.pop(ev);
    const type = ev[0], dev = ev[1], gen = ev[2], arg = ev[3];
    if (done[dev]) continue;
    switch (type) {
      case EV_ATTEMPT:
        gens[dev]++;
        attemptStart[dev] = now;
        q.push(now + openMs() + rtt() / 2, EV_AT_HUB, dev, gens[dev], 0);
        break;
      case EV_OPENED:
        feed(dev, { type: "transportOpened", gen: gen, epochSec: EPOCH_SEC + Math.floor(now / 1000) }, now);
        break;
      case EV_AT_HUB: {
        attempts++;
        const sec = Math.floor(now / 1000);
        while (perSecond.length <= sec) perSecond.push(0);
        perSecond[sec]++;
        tokens = Math.min(o.admitPerS, tokens + ((now - tokensAt) * o.admitPerS) / 1000);
        tokensAt = now;
        let code = 3;
        if (tokens >= 1) {
          tokens -= 1;
          code = 0;
          if (now < lingerEnd[dev]) conflicts++;
        } else {
          throttled++;
        }
        q.push(now + rtt() / 2, EV_CONNACK, dev, gen, code);
        break;
      }
      case EV_CONNACK:
        if (arg === 0) {
          done[dev] = 1;
          remaining--;
          connectedAt.push(now);
          if (isLinkRun) feed(dev, { type: "transportData", gen: gen, bytes: CONNACK_BYTES[0] }, now);
          break;
        }
        if (isLinkRun) feed(dev, { type: "transportData", gen: gen, bytes: CONNACK_BYTES[arg] }, now);
        else {
          const n = ++failures[dev];
          q.push(now + peer!.next(dev, n, now - attemptStart[dev], rnd, now), EV_ATTEMPT, dev, 0, 0);
        }
        break;
      case EV_CLOSED:
        feed(dev, { type: "transportClosed", gen: gen, cause: "local" }, now);
        break;
      case EV_TIMER:
        if (timerSeq[dev * TIMER_KINDS.length + arg] !== gen) break; // cancelled or replaced
        feed(dev, { type: "timerFired", kind: TIMER_KINDS[arg] as TimerKind }, now);
        break;
    }
  }

  connectedAt.sort((a, b) => a - b);
  const at = (frac: number) => {
    const k = Math.ceil(N * frac) - 1;
    return k < connectedAt.length ? connectedAt[k] / 1000 : o.limitS;
  };
  let peak = 0;
  for (let i = 0; i < perSecond.length; i++) if (perSecond[i] > peak) peak = perSecond[i];
  return {
    policy: policy, devices: N, admitPerS: o.admitPerS,
    t99S: round1(at(0.99)), t100S: round1(at(1)),
    attempts: attempts, throttled: throttled, peakAttemptsPerS: peak, conflicts: conflicts,
    attemptsPerDevice: Math.round((attempts / N) * 100) / 100,
    unfinished: remaining, perSecond: perSecond,
  };
}

function round1(x: number): number { return Math.round(x * 10) / 10; }

/** The median of each figure over seeds; `perSecond` from the seed whose t99S is the median. */
export function medianOf(runs: StormResult[]): StormResult {
  const med = (f: (r: StormResult) => number) => {
    const a = runs.map(f).sort((x, y) => x - y);
    const m = a.length >> 1;
    return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
  };
  const byT99 = runs.slice().sort((a, b) => a.t99S - b.t99S);
  const r0 = runs[0];
  return {
    policy: r0.policy, devices: r0.devices, admitPerS: r0.admitPerS,
    t99S: round1(med((r) => r.t99S)), t100S: round1(med((r) => r.t100S)),
    attempts: Math.round(med((r) => r.attempts)), throttled: Math.round(med((r) => r.throttled)),
    peakAttemptsPerS: Math.round(med((r) => r.peakAttemptsPerS)), conflicts: Math.round(med((r) => r.conflicts)),
    attemptsPerDevice: Math.round(med((r) => r.attemptsPerDevice) * 100) / 100,
    unfinished: Math.round(med((r) => r.unfinished)),
    perSecond: byT99[byT99.length >> 1].perSecond,
  };
}

export interface StormSuiteOptions { devices: number; admitPerS: number; seeds: number[]; limitS: number; policies?: PolicyName[]; log: (s: string) => void }

/** Every policy, median over the seeds. */
export function runStormSuite(o: StormSuiteOptions): StormResult[] {
  const out: StormResult[] = [];
  for (const p of o.policies || POLICIES) {
    const runs: StormResult[] = [];
    for (const seed of o.seeds) {
      const t = Date.now();
      runs.push(runStorm(p, { devices: o.devices, admitPerS: o.admitPerS, seed: seed, limitS: o.limitS }));
      const r = runs[runs.length - 1];
      o.log(`storm: ${p} seed ${seed}: t99 ${r.t99S} s, ${r.attempts} attempts (${Date.now() - t} ms)`);
    }
    out.push(medianOf(runs));
  }
  return out;
}

// ---- proposals for the fleet-aware window (bench-only models of a changed nextDelay) --------
//
// Today (src/core/backoff.ts), with backoff.fleet = { devices, admitPerS }: the first retry is
// uniform over the fleet window W = devices / admitPerS (lifted above the floor), and a CONNACK 3
// moves the device to [W/2, W] — a whole half-window later, though the hub had spare admissions
// long before that. Both proposals keep the first retry; they change only the throttled retry.
//
// "throttled-short": uniform in [floor, floor + W * frac] — come back soon; the hub runs just
//   under its admission rate during the window, so a few tries find a free slot.
// "throttled-after-window": uniform in [end, end + W * frac], where end is the end of the fleet
//   window measured from the drop (the link would keep the time of the first failure since it
//   was last stable): the throttled few reconnect right after the fleet, when the hub is idle.

export type ProposalKind = "throttled-short" | "throttled-after-window";

export function proposalPolicy(kind: ProposalKind, devices: number, admitPerS: number, floorMs: number, frac: number): PeerPolicy {
  const W = Math.ceil((devices / admitPerS) * 1000);
  return {
    first: (_d, rnd) => floorMs + rnd() * W,
    next: (_d, _n, _op, rnd, nowMs) => {
      if (kind === "throttled-short") return floorMs + rnd() * W * frac;
      const end = floorMs + W - nowMs;
      const lo = end > floorMs ? end : floorMs;
      return lo + rnd() * W * frac;
    },
  };
}
