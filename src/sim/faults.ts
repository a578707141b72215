// The fault injector's vocabulary and the fleet runner's fault profiles.
// The hub (hub/emulator.ts) applies a Fault to one device or to every device ("*"); profileFaults
// turns a profile name and a seed into a deterministic schedule of such injections.

/**
 * One fault. "Next CONNECT" faults arm the device's next CONNECT (or, for "*", every
 * device's next CONNECT) and are used up by it.
 */
export type Fault =
  /** The hub destroys the device's socket without any MQTT packet (a network drop). The
   *  hub's view lingers (lingerMs, default random in the hub's lingerMs range), then 404104. */
  | { kind: "drop"; lingerMs?: number }
  /** The hub stops answering and ignores what the device sends or whether it closes, until
   *  its own keepalive timer (1.5 x keepalive) expires: then 404104. */
  | { kind: "halfOpen" }
  /** The next `count` TLS handshakes (default 1) are cut by destroying the socket, or every
   *  handshake for `ms`. TLS cannot tell devices apart before CONNECT (they share the SNI), so
   *  this hits whichever connection comes next: the deviceId is only recorded. */
  | { kind: "refuseTls"; count?: number; ms?: number }
  /** Next CONNECT: answered (if accepted) after `ms`. */
  | { kind: "delayConnack"; ms: number }
  /** Next CONNECT: never answered; the link stays open until the device closes it. */
  | { kind: "withholdConnack" }
  /** Next CONNECT: answered with this return code (MQTT 3.1.1 §3.2.2.3), then closed. */
  | { kind: "connack"; code: 1 | 2 | 3 | 4 | 5 }
  /** The hub treats the current token as expired: closes the link (401003, 404104) and
   *  answers a CONNECT with that same token CONNACK 5; a fresh token is accepted. */
  | { kind: "expireToken" }
  /** Every CONNECT during `ms` gets CONNACK 3 and a 429001 ThrottlingException. */
  | { kind: "throttle"; ms: number }
  /** The hub writes `bytes` (default 8) random bytes that are no MQTT packet on the link. */
  | { kind: "garbage"; bytes?: number }
  /** For `ms` the hub runs a second client with the device's identity and key over a real
   *  socket: it connects, stays, and reconnects 100–500 ms after each kick. */
  | { kind: "clone"; ms: number }
  /** Every link dropped at once (a hub restart); the hub's view of each lingers as for drop. */
  | { kind: "storm"; lingerMs?: number };

export type FaultKind = Fault["kind"];

export const FAULT_KINDS: readonly FaultKind[] = Object.freeze([
  "drop", "halfOpen", "refuseTls", "delayConnack", "withholdConnack", "connack",
  "expireToken", "throttle", "garbage", "clone", "storm",
] as FaultKind[]);

export interface ScheduledFault {
  /** milliseconds from the start of the run */
  atMs: number;
  /** a device id, or "*" for every device */
  deviceId: string;
  fault: Fault;
}

export type FaultProfile = "none" | "drop" | "flaky" | "halfopen" | "chaos" | "storm" | "clone";

export const FAULT_PROFILES: readonly FaultProfile[] = Object.freeze([
  "none", "drop", "flaky", "halfopen", "chaos", "storm", "clone",
] as FaultProfile[]);

/** mulberry32: a small seeded PRNG, uniform in [0, 1). Every schedule replays from its seed. */
export function seededRandom(seed: number): () => number {
  let a = (seed >>> 0) ^ 0x9e3779b9;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Device ids of a generated fleet: dev-0001 .. dev-N (at least four digits). */
export function deviceIdOf(i: number): string {
  return "dev-" + String(i).padStart(4, "0");
}

function uniform(rand: () => number, min: number, max: number): number {
  return Math.round(min + (max - min) * rand());
}

/**
 * Profiles (rates per device; gaps are uniform in the range; every device's first fault
 * comes after a quiet start of 2–10 s so that it has connected once). Faults that act on the
 * *next* CONNECT are scheduled with a drop at the same atMs, listed after the fault that arms
 * them, so that the reconnect meets them.
 *
 * | profile  | gap between faults | mix per device                                                  |
 * |----------|--------------------|-----------------------------------------------------------------|
 * | none     | —                  | nothing                                                         |
 * | drop     | 10–30 s            | drop (hub's random linger, so reconnects land inside and        |
 * |          |                    | outside it)                                                     |
 * | flaky    | 5–15 s             | 50 % drop, 15 % delayConnack 0.5–3 s + drop, 15 % garbage,      |
 * |          |                    | 10 % refuseTls + drop, 10 % withholdConnack + drop              |
 * | halfopen | 30–90 s            | halfOpen                                                        |
 * | chaos    | 5–20 s             | 25 % drop, 10 % drop with a 50 ms linger, 10 % garbage,         |
 * |          |                    | 10 % delayConnack 0.5–3 s + drop, 10 % withholdConnack + drop,  |
 * |          |                    | 10 % refuseTls + drop, 5 % CONNACK 3 + drop,                    |
 * |          |                    | 5 % throttle 1–5 s + drop, 10 % expireToken,                    |
 * |          |                    | 5 % CONNACK 5 + drop (at most once per device, else a drop);    |
 * |          |                    | plus one storm ("*") at half time when the run lasts ≥ 30 s     |
 * | storm    | —                  | a storm ("*") at 1/3 of the run, another at 2/3 if it lasts     |
 * |          |                    | ≥ 60 s                                                          |
 * | clone    | —                  | one device in ten (at least one) gets a clone for               |
 * |          |                    | min(20 s, run/3), starting at a random time in the first half  |
 *
 * chaos holds only faults a healthy device recovers from by itself: no halfOpen, no clone,
 * no CONNACK 1/2/4, and CONNACK 5 at most once per device (a fresh token cures it).
 */
export function profileFaults(
  profile: FaultProfile,
  seed: number,
  durationS: number,
  devices: number | readonly string[],
): ScheduledFault[] {
  const ids = typeof devices === "number" ? Array.from({ length: devices }, (_, i) => deviceIdOf(i + 1)) : devices.slice();
  const rand = seededRandom(seed ^ 0x5eed);
  const endMs = Math.max(0, Math.floor(durationS * 1000));
  const out: ScheduledFault[] = [];
  const perDevice = (gapMinMs: number, gapMaxMs: number, pick: (id: string, atMs: number) => void): void => {
    for (const id of ids) {
      let t = uniform(rand, 2000, 10000);
      while (t < endMs) {
        pick(id, t);
        t += uniform(rand, gapMinMs, gapMaxMs);
      }
    }
  };
  const add = (atMs: number, deviceId: string, fault: Fault): void => {
    out.push({ atMs, deviceId, fault });
  };
  const armThenDrop = (atMs: number, deviceId: string, fault: Fault): void => {
    add(atMs, deviceId, fault);
    add(atMs, deviceId, { kind: "drop" });
  };

  switch (profile) {
    case "none":
      break;
    case "drop":
      perDevice(10000, 30000, (id, t) => add(t, id, { kind: "drop" }));
      break;
    case "flaky":
      perDevice(5000, 15000, (id, t) => {
        const r = rand();
        if (r < 0.5) add(t, id, { kind: "drop" });
        else if (r < 0.65) armThenDrop(t, id, { kind: "delayConnack", ms: uniform(rand, 500, 3000) });
        else if (r < 0.8) add(t, id, { kind: "garbage" });
        else if (r < 0.9) armThenDrop(t, id, { kind: "refuseTls" });
        else armThenDrop(t, id, { kind: "withholdConnack" });
      });
      break;
    case "halfopen":
      perDevice(30000, 90000, (id, t) => add(t, id, { kind: "halfOpen" }));
      break;
    case "chaos": {
      const had5 = new Set<string>();
      perDevice(5000, 20000, (id, t) => {
        const r = rand();
        if (r < 0.25) add(t, id, { kind: "drop" });
        else if (r < 0.35) add(t, id, { kind: "drop", lingerMs: 50 });
        else if (r < 0.45) add(t, id, { kind: "garbage" });
        else if (r < 0.55) armThenDrop(t, id, { kind: "delayConnack", ms: uniform(rand, 500, 3000) });
        else if (r < 0.65) armThenDrop(t, id, { kind: "withholdConnack" });
        else if (r < 0.75) armThenDrop(t, id, { kind: "refuseTls" });
        else if (r < 0.8) armThenDrop(t, id, { kind: "connack", code: 3 });
        else if (r < 0.85) armThenDrop(t, id, { kind: "throttle", ms: uniform(rand, 1000, 5000) });
        else if (r < 0.95) add(t, id, { kind: "expireToken" });
        else if (!had5.has(id)) {
          had5.add(id);
          armThenDrop(t, id, { kind: "connack", code: 5 });
        } else add(t, id, { kind: "drop" });
      });
      if (endMs >= 30000) add(Math.floor(endMs / 2), "*", { kind: "storm" });
      break;
    }
    case "storm":
      if (endMs > 0) add(Math.floor(endMs / 3), "*", { kind: "storm" });
      if (endMs >= 60000) add(Math.floor((2 * endMs) / 3), "*", { kind: "storm" });
      break;
    case "clone": {
      const n = Math.max(1, Math.floor(ids.length / 10));
      const pool = ids.slice();
      const ms = Math.min(20000, Math.floor(endMs / 3));
      for (let i = 0; i < n && pool.length > 0 && ms > 0; i++) {
        const id = pool.splice(Math.floor(rand() * pool.length), 1)[0];
        add(uniform(rand, Math.min(2000, endMs / 2), endMs / 2), id, { kind: "clone", ms });
      }
      break;
    }
    default: {
      const never: never = profile;
      throw new Error("profileFaults: unknown profile " + String(never));
    }
  }
  // stable: an arming fault stays before its drop at the same atMs
  return out.sort((a, b) => a.atMs - b.atMs);
}

/** Validates a fault given as data (from a file or a command line); null if it is none. */
export function checkFault(v: unknown): Fault | null {
  if (v === null || typeof v !== "object") return null;
  const f = v as Record<string, unknown>;
  const nonNeg = (x: unknown): boolean => typeof x === "number" && Number.isFinite(x) && x >= 0;
  const opt = (x: unknown): boolean => x === undefined || nonNeg(x);
  switch (f.kind) {
    case "drop":
    case "storm":
      return opt(f.lingerMs) ? (f as Fault) : null;
    case "halfOpen":
    case "withholdConnack":
    case "expireToken":
      return f as Fault;
    case "refuseTls":
      return opt(f.count) && opt(f.ms) ? (f as Fault) : null;
    case "delayConnack":
    case "throttle":
    case "clone":
      return nonNeg(f.ms) ? (f as Fault) : null;
    case "connack":
      return f.code === 1 || f.code === 2 || f.code === 3 || f.code === 4 || f.code === 5 ? (f as Fault) : null;
    case "garbage":
      return opt(f.bytes) ? (f as Fault) : null;
    default:
      return null;
  }
}
