// The model of everything around a link: transports, timers, the clock. It enumerates the
// events the shell could deliver next, applies the link's commands, and checks the eight
// DESIGN.md invariants after every step. Used by the exhaustive model check (BFS) and by
// the property tests (random walks).

import mqttPacket from "mqtt-packet";
import { step, LinkState, LinkEvent, Command, TIMER_KINDS, TimerKind } from "../../src/core/link.js";
import { AnyState } from "../helpers/driver.js";

/**
 * A transport the link opened. `abandonedAt`: the shell reported it could not close it
 * (transportCloseFailed) at that time; it may still be open until the hub drops it.
 */
export interface Transport { gen: number; opened: boolean; closeRequested: boolean; closeAsked: number; abandonedAt?: number }

export interface World {
  now: number;
  alive: Transport[];
  timers: { [kind: string]: number };
  /** ms of the last confirmed close; -1 if none */
  lastClose: number;
  /** a fatal outcome happened; no transport may open until an explicit start */
  fatal: boolean;
  /** CONNACK 4/5 with a fresh token since the last start or accepted CONNACK */
  authRefusals: number;
  publishes: number;
}

export interface Labelled { label: string; event: LinkEvent; now: number }

export const NOW0 = 1_000_000;
export const EPOCH = 1_800_000_000;

export function initialWorld(): World {
  return { now: NOW0, alive: [], timers: {}, lastClose: -1, fatal: false, authRefusals: 0, publishes: 0 };
}

function gen(p: object): Uint8Array {
  return new Uint8Array(mqttPacket.generate(p as any));
}

const CONNACK = [0, 1, 2, 3, 4, 5].map((rc) => gen({ cmd: "connack", returnCode: rc, sessionPresent: false }));
const PINGRESP = gen({ cmd: "pingresp" });
const C2D = gen({ cmd: "publish", topic: "devices/dev-0001/messages/devicebound/%24.mid=1", payload: Buffer.from("hi"), qos: 1, messageId: 77 });
const GARBAGE = new Uint8Array([0xf0, 0x00]);
const puback = (id: number) => gen({ cmd: "puback", messageId: id });
const suback = (id: number) => gen({ cmd: "suback", messageId: id, granted: [1] });

const ALLOWED_TIMERS: { [state: string]: TimerKind[] } = {
  idle: [], halted: [], waiting: ["backoff"], connecting: ["connect"], handshaking: ["connect"],
  connected: ["ping", "rx", "stable", "token"], closing: ["closeGuard"],
};

/** Every event the world could deliver next. `rich` adds the rarer branches (bad clock, every CONNACK code). */
export function enabledEvents(s: LinkState, w: World, rich: boolean): Labelled[] {
  const ev: Labelled[] = [];
  const at = w.now;
  ev.push({ label: "start", event: { type: "start" }, now: at });
  ev.push({ label: "stop", event: { type: "stop" }, now: at });
  if (w.publishes < 2) ev.push({ label: "publish", event: { type: "publish", msg: { id: w.publishes + 1, payload: new Uint8Array([1, 2, 3]), qos: 1 } }, now: at });
  ev.push({ label: "tokenExpiring", event: { type: "tokenExpiring" }, now: at });
  for (const t of w.alive) {
    const g = t.gen;
    if (t.closeRequested) ev.push({ label: `closed(${g},local)`, event: { type: "transportClosed", gen: g, cause: "local" }, now: at });
    // a shell that cannot force a close says so when asked a second time (the close guard)
    if (t.closeAsked >= 2 && t.abandonedAt === undefined) ev.push({ label: `closeFailed(${g})`, event: { type: "transportCloseFailed", gen: g }, now: at });
    if (t.abandonedAt !== undefined) continue; // the link has let it go: nothing more from it matters but its close
    if (!t.opened) {
      ev.push({ label: `opened(${g})`, event: { type: "transportOpened", gen: g, epochSec: EPOCH }, now: at });
      if (rich) ev.push({ label: `opened(${g},badClock)`, event: { type: "transportOpened", gen: g, epochSec: 1000 }, now: at });
      ev.push({ label: `closed(${g},tls)`, event: { type: "transportClosed", gen: g, cause: "tls" }, now: at });
      ev.push({ label: `closed(${g},cert)`, event: { type: "transportClosed", gen: g, cause: "cert" }, now: at });
      ev.push({ label: `closed(${g},error)`, event: { type: "transportClosed", gen: g, cause: "error" }, now: at });
    } else {
      const codes = rich ? [0, 1, 2, 3, 4, 5] : [0, 1, 3, 5];
      for (const rc of codes) ev.push({ label: `connack(${g},${rc})`, event: { type: "transportData", gen: g, bytes: CONNACK[rc] }, now: at });
      if (s.inflight.length > 0) ev.push({ label: `puback(${g},${s.inflight[0].packetId})`, event: { type: "transportData", gen: g, bytes: puback(s.inflight[0].packetId) }, now: at });
      ev.push({ label: `puback(${g},999)`, event: { type: "transportData", gen: g, bytes: puback(999) }, now: at });
      const subId = (s as AnyState).subId || 0;
      if (subId > 0) ev.push({ label: `suback(${g},${subId})`, event: { type: "transportData", gen: g, bytes: suback(subId) }, now: at });
      ev.push({ label: `pingresp(${g})`, event: { type: "transportData", gen: g, bytes: PINGRESP }, now: at });
      if (rich) ev.push({ label: `c2d(${g})`, event: { type: "transportData", gen: g, bytes: C2D }, now: at });
      ev.push({ label: `garbage(${g})`, event: { type: "transportData", gen: g, bytes: GARBAGE }, now: at });
      ev.push({ label: `closed(${g},remote)`, event: { type: "transportClosed", gen: g, cause: "remote" }, now: at });
    }
  }
  for (const k of TIMER_KINDS) {
    if (w.timers[k] !== undefined) ev.push({ label: `timer(${k})`, event: { type: "timerFired", kind: k }, now: Math.max(at, w.timers[k]) });
  }
  if (s.gen > 1) {
    const old = s.gen - 1;
    ev.push({ label: `stale closed(${old})`, event: { type: "transportClosed", gen: old, cause: "remote" }, now: at });
    ev.push({ label: `stale connack(${old})`, event: { type: "transportData", gen: old, bytes: CONNACK[0] }, now: at });
    ev.push({ label: `stale opened(${old})`, event: { type: "transportOpened", gen: old, epochSec: EPOCH }, now: at });
  }
  return ev;
}

export interface Outcome { state: LinkState; world: World; violation: string | null; commands: Command[] }

/** Apply one event: the link steps, the world follows the commands, the invariants are checked. */
export function apply(s: LinkState, w0: World, l: Labelled, stepFn?: typeof step): Outcome {
  const w: World = { now: l.now, alive: w0.alive.map((t) => ({ ...t })), timers: { ...w0.timers }, lastClose: w0.lastClose, fatal: w0.fatal, authRefusals: w0.authRefusals, publishes: w0.publishes };
  const e = l.event;
  let r;
  try {
    r = (stepFn || step)(s, e, l.now);
  } catch (err) {
    return { state: s, world: w, violation: "step threw: " + (err as Error).message, commands: [] };
  }
  const n = r.state;
  const bad = (v: string): Outcome => ({ state: n, world: w, violation: v, commands: r.commands });
  const floor = s.setup.cfg.backoff.floorMs;
  const hubDropMs = s.setup.cfg.keepaliveSec * 1500;

  // World effects of the event itself.
  if (e.type === "publish") w.publishes++;
  if (e.type === "start") { w.fatal = false; w.authRefusals = 0; }
  if (e.type === "timerFired") delete w.timers[e.kind];
  const isStale = (e.type === "transportClosed" || e.type === "transportData" || e.type === "transportOpened") && e.gen !== s.gen;
  if (!isStale) {
    if (e.type === "transportOpened") { const t = w.alive.find((x) => x.gen === e.gen); if (t) t.opened = true; }
    if (e.type === "transportClosed") {
      const i = w.alive.findIndex((x) => x.gen === e.gen);
      // the close of a transport the link gave up on is news to nobody: no floor follows it
      if (i >= 0) { if (w.alive[i].abandonedAt === undefined) w.lastClose = l.now; w.alive.splice(i, 1); }
      if (e.cause === "cert") w.fatal = true;
    }
    if (e.type === "transportCloseFailed") {
      const t = w.alive.find((x) => x.gen === e.gen);
      if (t && t.abandonedAt === undefined) { t.abandonedAt = l.now; w.lastClose = l.now; }
    }
    if (e.type === "transportData" && s.kind === "handshaking") {
      const rc = e.bytes[0] === 0x20 ? e.bytes[3] : -1;
      if (rc === 1 || rc === 2) w.fatal = true;
      if ((rc === 4 || rc === 5) && s.openedEpochSec >= 1700000000) w.authRefusals++;
      if (rc === 0) w.authRefusals = 0;
    }
  }

  // Invariant 4: stale events change nothing.
  if (isStale && (n !== s || r.commands.length > 0)) return bad("inv4: a stale event changed the state or issued commands");
  // Invariant 5: idempotent start/stop.
  if (e.type === "start" && (s.kind === "connecting" || s.kind === "handshaking" || s.kind === "connected" || s.kind === "waiting") && (n !== s || r.commands.length > 0))
    return bad(`inv5: start while ${s.kind} changed something`);
  if (e.type === "stop" && s.kind === "idle" && (n !== s || r.commands.length > 0)) return bad("inv5: stop while idle changed something");

  for (const c of r.commands) {
    switch (c.type) {
      case "openTransport":
        // Invariant 1 with a transport the shell could not close: it may still be open until the
        // hub drops it for silence (1.5 x keepalive after the link gave it up).
        for (const t of w.alive) {
          if (t.abandonedAt === undefined) return bad(`inv1/2: openTransport(${c.gen}) while transport ${t.gen} is alive`);
          if (l.now - t.abandonedAt < hubDropMs) return bad(`inv1/2: openTransport(${c.gen}) ${l.now - t.abandonedAt} ms after transport ${t.gen} could not be closed (the hub drops it after ${hubDropMs} ms)`);
        }
        if (w.lastClose >= 0 && l.now - w.lastClose < floor) return bad(`inv3: openTransport ${l.now - w.lastClose} ms after a close (floor ${floor})`);
        if (w.fatal) return bad("inv7: openTransport after a fatal outcome without an explicit start");
        if (w.authRefusals >= 2) return bad("inv7: a third attempt after two refused fresh tokens");
        w.alive.push({ gen: c.gen, opened: false, closeRequested: false, closeAsked: 0 });
        break;
      case "closeTransport": {
        const t = w.alive.find((x) => x.gen === c.gen);
        if (!t) return bad(`closeTransport(${c.gen}) for a transport that is not alive`);
        t.closeRequested = true;
        t.closeAsked = Math.min(t.closeAsked + 1, 2);
        break;
      }
      case "write": {
        const t = w.alive.find((x) => x.gen === c.gen);
        if (!t || !t.opened) return bad(`write(${c.gen}) to a transport that is not open`);
        if (t.abandonedAt !== undefined) return bad(`write(${c.gen}) to a transport the link gave up on`);
        break;
      }
      case "startTimer":
        if (w.timers[c.kind] !== undefined) return bad(`inv6: a second ${c.kind} timer`);
        if (!(c.ms >= 0)) return bad(`timer ${c.kind} with ${c.ms} ms`);
        w.timers[c.kind] = l.now + c.ms;
        break;
      case "cancelTimer":
        delete w.timers[c.kind];
        break;
    }
  }
  // Invariant 6: leaving a state cancels its timers.
  for (const k of Object.keys(w.timers)) {
    if (ALLOWED_TIMERS[n.kind].indexOf(k as TimerKind) < 0) return bad(`inv6: timer ${k} pending in state ${n.kind}`);
  }
  // Invariant 1, seen from the state: exactly the states that own a transport have one alive.
  const owns = n.kind === "connecting" || n.kind === "handshaking" || n.kind === "connected" || n.kind === "closing";
  const held = w.alive.filter((t) => t.abandonedAt === undefined);
  if (owns && !(held.length === 1 && held[0].gen === n.gen)) return bad(`inv1: state ${n.kind} (gen ${n.gen}) but alive transports [${held.map((t) => t.gen)}]`);
  if (!owns && held.length > 0) return bad(`inv1: state ${n.kind} with transport ${held[0].gen} still alive`);
  // Invariant 7: fatal outcomes end in halted (via closing).
  if (w.fatal && (n.kind === "connecting" || n.kind === "waiting")) return bad(`inv7: ${n.kind} after a fatal outcome`);
  // Invariant 8: the attempt counter resets only after the stable period.
  if (n.attempt < s.attempt && !(e.type === "timerFired" && e.kind === "stable")) return bad(`inv8: attempt counter fell from ${s.attempt} to ${n.attempt} on ${l.label}`);
  if (n.kind === "waiting" && s.kind !== "waiting" && s.kind !== "idle" && s.kind !== "halted" && n.attempt <= s.attempt && n.code !== "token.renew")
    return bad(`inv8: a drop (${n.code}) did not advance the attempt counter`);
  return { state: n, world: w, violation: null, commands: r.commands };
}

/** A compact key for state de-duplication; times are made relative to the world clock. */
export function key(s: LinkState, w: World): string {
  const rel = (t: number | undefined) => (t === undefined ? null : t < 0 ? -1 : Math.min(w.now - t, 100000));
  const a = s as AnyState;
  return JSON.stringify([
    a.kind, a.gen, a.timers, a.rng, a.attempt, a.prevHiMs, rel(a.lastCloseMs), rel(a.lingerUntilMs), rel(a.connectedAtMs), a.quickRemote,
    a.authFailures, a.subId, a.nextPacketId, a.next === undefined ? null : a.next, a.code,
    a.dec ? a.dec.filled : null,
    a.queue.map((q) => q.id), a.inflight.map((q) => q.id + ":" + q.packetId),
    w.alive.map((t) => `${t.gen}${t.opened ? "o" : ""}${t.closeRequested ? "c" + t.closeAsked : ""}${t.abandonedAt === undefined ? "" : "a" + rel(t.abandonedAt)}`),
    TIMER_KINDS.map((k) => (w.timers[k] === undefined ? null : w.timers[k] - w.now)),
    rel(w.lastClose), w.fatal, w.authRefusals, w.publishes,
  ]);
}
