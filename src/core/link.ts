// The link state machine: step(state, event, nowMs) -> { state, commands }.
//
// Pure: no I/O, no clock, no timers, no randomness of its own. The shell executes the
// commands and feeds back events; the state is a plain object that `step` never mutates
// (it returns a new one), so a model checker can keep and compare states. Each state is a
// tagged variant carrying only what it needs, and has one function below (`closing`, ...)
// that is a switch on the event: what can happen in a state is read in one place.
//
// Invariants (DESIGN.md), each checked by test/model and test/property:
// 1 one link; 2 disconnected before connect; 3 never immediate (every reconnect waits at least
// the floor after the last close); 4 stale generations are ignored; 5 start/stop idempotent;
// 6 at most one timer per kind, and leaving a state cancels its timers; 7 fatal outcomes halt;
// 8 the attempt counter resets only after the link stayed up for the stable period.

import { DeviceConfig } from "./config.js";
import { nextDelay, WaitKind } from "./backoff.js";
import { nextRng, rngUnit, seedRng } from "./rand.js";
import { ServerPacket, PublishPacket, ProtocolError } from "./mqtt/packet.js";
import { encodeConnect, encodePublish, encodeSubscribe, encodePuback, Encoded, publishSize, MAX_STRING_BYTES, PINGREQ_BYTES, DISCONNECT_BYTES } from "./mqtt/encode.js";
import { utf8Length } from "./mqtt/utf8.js";
import { DecoderState, EMPTY_DECODER, feed, fromServer } from "./mqtt/decode.js";
import { c2dSubscription, clientId, parseC2dTopic, telemetryTopic, username } from "./hub/names.js";
import { portableSign, sasTokenWith, SignFn, tokenExpirySec } from "./hub/sas.js";
import { HmacFn } from "./crypto/hmac.js";
import { Outbox, Queued, admit, sendable, sending, acknowledge, allocId } from "./outbox.js";

export type LinkStateKind = "idle" | "connecting" | "handshaking" | "connected" | "closing" | "waiting" | "halted";
export type TimerKind = "connect" | "ping" | "rx" | "stable" | "token" | "backoff" | "closeGuard";
/**
 * How a transport ended, as the shell saw it. "local" confirms a closeTransport; "ca": the TLS
 * layer could not use the configured CA certificate at all (e.g. mbedTLS could not parse it).
 */
export type CloseCause = "remote" | "error" | "tls" | "cert" | "ca" | "local";

/** What a device persists across reboots so a boot loop does not restart at the shortest delay. */
export interface Persisted { attempt: number; lastError: string }

/** A telemetry message accepted from the application. `id` is the application's handle. */
export interface Outbound { id: number; payload: Uint8Array; qos: 0 | 1; properties?: { [k: string]: string } }

export type LinkEvent =
  | { type: "start"; seed?: number; restored?: Persisted }
  | { type: "stop" }
  | { type: "transportOpened"; gen: number; epochSec: number }
  | { type: "transportData"; gen: number; bytes: Uint8Array }
  | { type: "transportClosed"; gen: number; cause: CloseCause; detail?: string }
  /**
   * The shell asked transport `gen` to close (closeTransport, asked again by the close guard)
   * and has no stronger means: it saw no close and cannot force one (Espruino: no destroy()).
   * The transport may still be open; no transportClosed will confirm it.
   */
  | { type: "transportCloseFailed"; gen: number; detail?: string }
  | { type: "timerFired"; kind: TimerKind }
  | { type: "publish"; msg: Outbound }
  | { type: "tokenExpiring" };

export interface Status {
  state: LinkStateKind;
  /** a stable reason code (reasons.ts: describe(code) is its sentence) */
  code: string;
  /**
   * the short detail of this transition ("at byte 12", "silent for 45000 ms"), or the code
   * itself when there is none; never contains a key or token. A person reads
   * explain(code, text) (reasons.ts).
   */
  text: string;
  gen: number;
  attempt: number;
  /** set when entering `waiting` */
  delayMs?: number;
}

export type Command =
  | { type: "openTransport"; gen: number; host: string; port: number; tls: boolean }
  | { type: "write"; gen: number; bytes: Uint8Array }
  | { type: "closeTransport"; gen: number }
  | { type: "startTimer"; kind: TimerKind; ms: number }
  | { type: "cancelTimer"; kind: TimerKind }
  | { type: "notify"; status: Status }
  | { type: "log"; code: string; text: string }
  /** QoS 1: the hub acknowledged it; QoS 0: it was written to the transport */
  | { type: "acked"; id: number }
  | { type: "dropped"; id: number; why: "overflow" | "refused" | "tooLarge" }
  | { type: "message"; topic: string; payload: Uint8Array; properties: { [k: string]: string } | null }
  | { type: "persist"; data: Persisted };

/** What a link needs besides the configuration: derived strings and the signing port. */
export interface LinkSetup {
  cfg: DeviceConfig;
  username: string;
  c2dFilter: string;
  sign: SignFn;
  /** where encoded packets are allocated; default new Uint8Array (Node passes Buffer.allocUnsafe's pool) */
  alloc?: (n: number) => Uint8Array;
}

/** What every state carries: the link's history and its outbox. */
export interface LinkBase extends Outbox {
  readonly setup: LinkSetup;
  /** generation of the current or last transport; events of other generations are stale */
  readonly gen: number;
  /** a bit per TimerKind (1 << its index in TIMER_KINDS) that the shell holds pending for us */
  readonly timers: number;
  readonly rng: number;
  /** failed attempts since the link was last stable */
  readonly attempt: number;
  readonly prevHiMs: number;
  /** monotonic ms of the last close (confirmed, or given up on); -1 if none */
  readonly lastCloseMs: number;
  /**
   * monotonic ms before which no transport may open: a transport the shell could not close may
   * still be open until the hub drops it for silence (1.5 x keepalive); -Infinity if none
   * (monotonic clocks may be negative in simulations)
   */
  readonly lingerUntilMs: number;
  /** consecutive remote closes within QUICK_CLOSE_MS of CONNACK */
  readonly quickRemote: number;
  /** consecutive CONNACK 4/5 with a fresh token */
  readonly authFailures: number;
  /** the reason code and detail of the last transition (Status.code, Status.text) */
  readonly code: string;
  readonly text: string;
}

/** No transport, nothing pending: until `start`. */
export interface Idle extends LinkBase { readonly kind: "idle" }
/** A fatal outcome (invariant 7): no transport until an explicit `start`. */
export interface Halted extends LinkBase { readonly kind: "halted" }
/** No transport; the backoff timer runs. */
export interface Waiting extends LinkBase { readonly kind: "waiting" }
/** openTransport issued; the connect timer bounds open + CONNACK. */
export interface Connecting extends LinkBase { readonly kind: "connecting" }
/** Transport open, CONNECT written, awaiting CONNACK. */
export interface Handshaking extends LinkBase {
  readonly kind: "handshaking";
  readonly dec: DecoderState;
  /** the wall clock when the transport opened (signed the token; judged on CONNACK 4/5) */
  readonly openedEpochSec: number;
  /** when the token must be renewed; -1 for a token that does not say */
  readonly tokenRenewAtMs: number;
}
/** CONNACK accepted: telemetry flows. */
export interface Connected extends LinkBase {
  readonly kind: "connected";
  readonly dec: DecoderState;
  readonly tokenRenewAtMs: number;
  readonly connectedAtMs: number;
  readonly lastRxMs: number;
  /** packet id of our SUBSCRIBE awaiting SUBACK; 0 if none */
  readonly subId: number;
}
/** closeTransport issued; awaiting the transport's confirmation, then `next`. */
export interface Closing extends LinkBase {
  readonly kind: "closing";
  readonly next: AfterClose;
}

/**
 * What follows a close once the transport is gone: rest (`idle`), `halt`, or wait with the
 * backoff window of that WaitKind (`drop`, `long`, `throttled`, `planned`). A string, not an
 * object: it is kept in the state, and on Espruino every object costs JsVars.
 */
export type AfterClose = "idle" | "halt" | WaitKind;

export type LinkState = Idle | Halted | Waiting | Connecting | Handshaking | Connected | Closing;

export interface Step { state: LinkState; commands: Command[] }

/** Every TimerKind; a kind's bit in LinkBase.timers is 1 << its index here (connect first: bit 1). */
export const TIMER_KINDS: readonly TimerKind[] = ["connect", "ping", "rx", "stable", "token", "backoff", "closeGuard"];

/** Remote closes this soon after CONNACK, this many times in a row, mean another device has our identity. */
export const DUPLICATE_AFTER = 3;
/** A close this soon after CONNACK counts towards DUPLICATE_AFTER; a later one resets the count. */
export const QUICK_CLOSE_MS = 5000;
/** Before this (2023-11-14), the device clock has not been set: SAS tokens it signs are already expired. */
export const MIN_PLAUSIBLE_EPOCH_SEC = 1700000000;
/** ms to wait for a transport to confirm its close before asking again */
export const CLOSE_GUARD_MS = 10000;
/** setTimeout's largest delay on every engine */
const MAX_TIMER_MS = 0x7fffffff;

export { MAX_INFLIGHT } from "./outbox.js";
export type { Queued } from "./outbox.js";

// The sentences for reason codes live in reasons.ts, off the device path; re-exported here
// for the host code that imports them from the link.
export { REASONS, describe, explain } from "./reasons.js";


/**
 * A fresh idle link for a validated configuration, signing with the core's portable
 * HMAC-SHA256 and base64, or with `hmac` (a platform's native HMAC) and the core's base64.
 */
export function createLink(cfg: DeviceConfig, hmac?: HmacFn, seed?: number, alloc?: (n: number) => Uint8Array): LinkState {
  return createLinkWith(cfg, portableSign(hmac), seed, alloc);
}

/** createLink with a platform's whole signing port (a device build then carries no SHA-256 of its own). */
export function createLinkWith(cfg: DeviceConfig, sign: SignFn, seed?: number, alloc?: (n: number) => Uint8Array): LinkState {
  const setup: LinkSetup = {
    cfg: cfg,
    username: username(cfg.host, cfg.deviceId),
    c2dFilter: c2dSubscription(cfg.deviceId),
    sign: sign,
  };
  if (alloc !== undefined) setup.alloc = alloc; // absent, not undefined: a property is a JsVar on Espruino
  return {
    kind: "idle", setup: setup, gen: 0, timers: 0, rng: seedRng(seed === undefined ? 1 : seed),
    attempt: 0, prevHiMs: 0, lastCloseMs: -1, lingerUntilMs: -Infinity, quickRemote: 0, authFailures: 0,
    queue: [], inflight: [], nextPacketId: 1,
    code: "idle", text: "",
  };
}

const NO_COMMANDS: Command[] = [];

/**
 * The state machine: one function per state, each a switch on the event. Never throws;
 * stale and irrelevant events change nothing.
 */
export function step(s: LinkState, e: LinkEvent, nowMs: number): Step {
  // Invariant 4: events of another generation are stale.
  // (every transport event carries its generation; no other event has one)
  const gen = (e as { gen?: number }).gen;
  if (gen !== undefined && gen !== s.gen) return { state: s, commands: NO_COMMANDS };
  const n = Object.assign({}, s) as Draft;
  if (e.type === "timerFired") {
    const bit = 1 << TIMER_KINDS.indexOf(e.kind);
    if (!(n.timers & bit)) return { state: s, commands: NO_COMMANDS }; // cancelled or stale
    n.timers = n.timers & ~bit; // it fired: no longer pending
  }
  const out: Command[] = [];
  switch (n.kind) {
    case "connected": connected(n, e, out, nowMs); break; // first: where telemetry flows
    case "idle": idle(n, e, out, nowMs); break;
    case "halted": halted(n, e, out, nowMs); break;
    case "waiting": waiting(n, e, out, nowMs); break;
    case "connecting": connecting(n, e, out, nowMs); break;
    case "handshaking": handshaking(n, e, out, nowMs); break;
    case "closing": closing(n, e, out, nowMs); break;
  }
  if (out.length === 0 && sameState(s, n)) return { state: s, commands: NO_COMMANDS };
  return { state: n as LinkState, commands: out };
}

// ---- the states ---------------------------------------------------------------------------

function idle(n: Draft, e: LinkEvent, out: Command[], nowMs: number): void {
  switch (e.type) {
    case "start": start(n, out, e.seed, e.restored, nowMs); return;
    case "publish": accept(n, out, e.msg); return;
  }
}

function halted(n: Draft, e: LinkEvent, out: Command[], nowMs: number): void {
  switch (e.type) {
    case "start":
      n.authFailures = 0;
      n.quickRemote = 0;
      start(n, out, e.seed, e.restored, nowMs);
      return;
    case "stop": enter(n, out, "idle", "local.stop"); return;
    case "publish": accept(n, out, e.msg); return;
  }
}

function waiting(n: Draft, e: LinkEvent, out: Command[], nowMs: number): void {
  switch (e.type) {
    case "timerFired":
      // every way into waiting sets the backoff past the floor and any linger (start, wait)
      if (e.kind === "backoff") open(n, out, "link.opening");
      return;
    case "stop": enter(n, out, "idle", "local.stop"); return;
    case "publish": accept(n, out, e.msg); return;
  }
}

function connecting(n: Draft, e: LinkEvent, out: Command[], nowMs: number): void {
  switch (e.type) {
    case "transportOpened": sendConnect(n, out, e.epochSec, nowMs); return;
    case "transportClosed": closedUnasked(n, out, e.cause, e.detail, nowMs); return;
    case "timerFired":
      if (e.kind === "connect") close(n, out, { code: "connect.timeout", text: "the transport did not open", next: "drop" });
      return;
    case "stop": close(n, out, { code: "local.stop", next: "idle" }); return;
    case "publish": accept(n, out, e.msg); return;
  }
}

function handshaking(n: Draft, e: LinkEvent, out: Command[], nowMs: number): void {
  switch (e.type) {
    case "transportData": {
      const r = feed(n.dec as DecoderState, e.bytes, n.setup.cfg.maxPacketBytes, fromServer);
      n.dec = r.dec;
      // only the first packet can be CONNACK; after it the link is connected (or closing)
      if (r.packets.length > 0) connack(n, out, r.packets[0], nowMs);
      for (let i = 1; i < r.packets.length && n.kind === "connected"; i++) linkPacket(n, out, r.packets[i]);
      if (r.error !== null && (n.kind === "handshaking" || n.kind === "connected")) mqttError(n, out, r.error);
      return;
    }
    case "transportClosed": closedUnasked(n, out, e.cause, e.detail, nowMs); return;
    case "timerFired":
      if (e.kind === "connect") close(n, out, { code: "connect.timeout", text: "no CONNACK", next: "drop" });
      return;
    case "stop": close(n, out, { code: "local.stop", next: "idle" }); return;
    case "publish": accept(n, out, e.msg); return;
  }
}

function connected(n: Draft, e: LinkEvent, out: Command[], nowMs: number): void {
  const c = n.setup.cfg;
  switch (e.type) {
    case "publish": accept(n, out, e.msg); return; // sent at once when nothing waits ahead of it
    case "transportData": {
      const r = feed(n.dec as DecoderState, e.bytes, c.maxPacketBytes, fromServer);
      n.dec = r.dec;
      n.lastRxMs = nowMs;
      for (let i = 0; i < r.packets.length && n.kind === "connected"; i++) linkPacket(n, out, r.packets[i]);
      if (r.error !== null && n.kind === "connected") mqttError(n, out, r.error);
      return;
    }
    case "transportClosed": closedUnasked(n, out, e.cause, e.detail, nowMs); return;
    case "timerFired":
      switch (e.kind) {
        case "ping":
          write(n, out, PINGREQ_BYTES.slice()); // a copy: the shared constant is read-only on XS (preloaded into flash)
          setTimer(n, out, "ping", c.keepaliveSec * 1000);
          return;
        case "rx": {
          // MQTT 3.1.1 §3.1.2.10: a peer silent for 1.5 x keepalive is gone
          const limit = c.keepaliveSec * 1500;
          const quiet = nowMs - (n.lastRxMs as number);
          if (quiet >= limit) close(n, out, { code: "keepalive.timeout", text: "silent for " + quiet + " ms", next: "drop" });
          else setTimer(n, out, "rx", limit - quiet);
          return;
        }
        case "stable":
          n.attempt = 0;
          n.prevHiMs = 0;
          n.quickRemote = 0;
          out.push({ type: "log", code: "link.stable", text: "link stable for " + c.backoff.stableMs + " ms: backoff reset" });
          out.push({ type: "persist", data: { attempt: 0, lastError: n.code } });
          return;
        case "token":
          if (nowMs < (n.tokenRenewAtMs as number) - 1000) setTimer(n, out, "token", (n.tokenRenewAtMs as number) - nowMs);
          else renewToken(n, out);
          return;
      }
      return;
    case "tokenExpiring": renewToken(n, out); return;
    case "stop": close(n, out, { code: "local.stop", next: "idle", graceful: true }); return;
  }
}

/** What can happen while closing: the close is confirmed or given up on, asked again, or its sequel changes. */
function closing(n: Draft, e: LinkEvent, out: Command[], nowMs: number): void {
  const next = n.next as AfterClose;
  switch (e.type) {
    case "transportClosed": {
      // a certificate rejection halts even when it arrives as the answer to our own close
      const halt = fatal(e.cause);
      if (halt !== null && next !== "idle" && next !== "halt") gone(n, out, nowMs, { code: halt, text: e.detail, next: "halt" });
      else gone(n, out, nowMs, { code: n.code, next: next });
      return;
    }
    case "transportCloseFailed":
      // The shell cannot close it: it may still be open. The hub drops a link silent for 1.5 x
      // keepalive (we write nothing more on it); until then no other transport may open.
      n.lingerUntilMs = nowMs + n.setup.cfg.keepaliveSec * 1500;
      out.push({ type: "log", code: "transport.unclosable", text: e.detail || "no close confirmed" });
      gone(n, out, nowMs, { code: n.code, next: next });
      return;
    case "timerFired":
      if (e.kind !== "closeGuard") return;
      out.push({ type: "closeTransport", gen: n.gen });
      setTimer(n, out, "closeGuard", CLOSE_GUARD_MS);
      return;
    case "start": if (next === "idle") n.next = "drop"; return;
    case "stop": n.next = "idle"; return;
    case "publish": accept(n, out, e.msg); return;
  }
}

// ---- transitions --------------------------------------------------------------------------

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** A state being built by one step: a copy of the last, with any state's fields. */
type Draft = Mutable<LinkBase> & {
  kind: LinkStateKind;
  dec?: DecoderState; openedEpochSec?: number; tokenRenewAtMs?: number;
  connectedAtMs?: number; lastRxMs?: number; subId?: number; next?: AfterClose;
};

function sameState(a: LinkState, b: Draft): boolean {
  const ka = Object.keys(b);
  for (let i = 0; i < ka.length; i++) if ((a as any)[ka[i]] !== (b as any)[ka[i]]) return false;
  return true;
}

function setTimer(n: Draft, out: Command[], kind: TimerKind, ms: number): void {
  const bit = 1 << TIMER_KINDS.indexOf(kind);
  if (n.timers & bit) out.push({ type: "cancelTimer", kind: kind });
  out.push({ type: "startTimer", kind: kind, ms: ms < 0 ? 0 : ms > MAX_TIMER_MS ? MAX_TIMER_MS : Math.floor(ms) });
  n.timers = n.timers | bit;
}

/** Cancel every pending timer except those in `keep` (a mask of timer bits). */
function clearTimers(n: Draft, out: Command[], keep: number): void {
  for (let i = 0; i < TIMER_KINDS.length; i++) if (n.timers & (1 << i) & ~keep) out.push({ type: "cancelTimer", kind: TIMER_KINDS[i] });
  n.timers = n.timers & keep;
}

interface Entry {
  /** a short detail; the code itself when absent */
  text?: string;
  /** the backoff delay, for `waiting` */
  delayMs?: number;
  /** timers that survive the change (a mask of timer bits) */
  keep?: number;
}

/** Leave the current state (its timers and its fields) and enter `kind`, telling the owner why. */
function enter(n: Draft, out: Command[], kind: LinkStateKind, code: string, o?: Entry): void {
  clearTimers(n, out, o && o.keep !== undefined ? o.keep : 0);
  if (kind !== n.kind) {
    // the fields only some states have go with them
    delete n.dec; delete n.openedEpochSec; delete n.tokenRenewAtMs; delete n.connectedAtMs;
    delete n.lastRxMs; delete n.subId; delete n.next;
  }
  n.kind = kind;
  n.code = code;
  n.text = (o && o.text) || code;
  const st: Status = { state: kind, code: code, text: n.text, gen: n.gen, attempt: n.attempt };
  if (o && o.delayMs !== undefined) st.delayMs = o.delayMs;
  out.push({ type: "notify", status: st });
}

/** `start` from idle or halted: connect, or wait out what a restart or a recent close asks for. */
function start(n: Draft, out: Command[], seed: number | undefined, restored: Persisted | undefined, nowMs: number): void {
  if (seed !== undefined) n.rng = seedRng(seed);
  if (restored && restored.attempt > 0 && n.lastCloseMs < 0) {
    // a boot loop must not restart at the shortest delay: resume the persisted count
    n.attempt = restored.attempt - 1;
    wait(n, out, "drop", "restored", "last error " + restored.lastError, restored.lastError, nowMs);
    return;
  }
  // Invariant 3: a stop/start right after a drop still waits out the floor (and any linger).
  const ms = n.lastCloseMs < 0 ? 0 : n.lastCloseMs + n.setup.cfg.backoff.floorMs - nowMs;
  if (ms > 0 || n.lingerUntilMs > nowMs) backOff(n, out, "start", "floor not yet elapsed since the last close", ms, nowMs);
  else open(n, out, "start");
}

function open(n: Draft, out: Command[], code: string): void {
  n.gen = n.gen + 1;
  enter(n, out, "connecting", code);
  const c = n.setup.cfg;
  out.push({ type: "openTransport", gen: n.gen, host: c.host, port: c.port, tls: c.tls });
  setTimer(n, out, "connect", c.connectTimeoutMs);
}

/**
 * Enter `waiting` for `ms`, or longer if a transport the link gave up on may still be open then
 * (lingerUntilMs): the one place a wait is lifted past the hub's drop of that link.
 */
function backOff(n: Draft, out: Command[], code: string, text: string | undefined, ms: number, nowMs: number): void {
  if (n.lingerUntilMs - nowMs > ms) ms = n.lingerUntilMs - nowMs;
  enter(n, out, "waiting", code, { text: text, delayMs: ms });
  setTimer(n, out, "backoff", ms);
}

/** Back off: draw the delay, count the attempt (unless planned), persist it. */
function wait(n: Draft, out: Command[], kind: WaitKind, code: string, text: string | undefined, lastError: string, nowMs: number): void {
  n.rng = nextRng(n.rng);
  const d = nextDelay(n.setup.cfg.backoff, kind, n.attempt, n.prevHiMs, rngUnit(n.rng));
  n.prevHiMs = d.hiMs;
  if (kind !== "planned") n.attempt = n.attempt + 1;
  backOff(n, out, code, text, d.delayMs, nowMs);
  if (kind !== "planned") out.push({ type: "persist", data: { attempt: n.attempt, lastError: lastError } });
}

/**
 * Write an encoded packet. The link builds only packets its validated configuration and its own
 * checks make valid, so an encoder's error here is a bug: it closes the link with its code.
 */
function write(n: Draft, out: Command[], bytes: Encoded): void {
  if (n.kind === "closing") return; // the link has decided to close: nothing more goes out
  if ((bytes as ProtocolError).ok === false) mqttError(n, out, bytes as ProtocolError);
  else out.push({ type: "write", gen: n.gen, bytes: bytes as Uint8Array });
}

interface CloseHow {
  code: string;
  text?: string;
  /** what follows once the transport is gone */
  next: AfterClose;
  /** say DISCONNECT first (connected only): the hub then logs no error */
  graceful?: boolean;
}

/** Ask the transport to close; what follows waits for its confirmation (invariant 1). */
function close(n: Draft, out: Command[], how: CloseHow): void {
  // a copy: the shared constant is read-only on XS (preloaded into flash)
  if (how.graceful && n.kind === "connected") write(n, out, DISCONNECT_BYTES.slice());
  enter(n, out, "closing", how.code, { text: how.text });
  n.next = how.next;
  out.push({ type: "closeTransport", gen: n.gen });
  setTimer(n, out, "closeGuard", CLOSE_GUARD_MS);
}

/** The transport is gone (or given up on): wait, halt or rest. */
function gone(n: Draft, out: Command[], nowMs: number, how: CloseHow): void {
  n.lastCloseMs = nowMs;
  const next = how.next;
  if (next === "idle") { enter(n, out, "idle", how.code, { text: how.text }); return; }
  if (next === "halt") {
    enter(n, out, "halted", how.code, { text: how.text });
    out.push({ type: "persist", data: { attempt: n.attempt, lastError: how.code } });
    return;
  }
  wait(n, out, next, how.code, how.text, how.code, nowMs);
}

/** A close the link did not ask for, while connecting, handshaking or connected. */
function closedUnasked(n: Draft, out: Command[], cause: CloseCause, detail: string | undefined, nowMs: number): void {
  const halt = fatal(cause);
  if (halt !== null) { gone(n, out, nowMs, { code: halt, text: detail, next: "halt" }); return; }
  let code = cause === "tls" ? "tls.failed" : cause === "remote" ? "remote.close" : "transport.error";
  let next: AfterClose = "drop";
  if (n.kind === "connected" && (cause === "remote" || cause === "error")) {
    // Flapping is not success (invariant 8 keeps the attempt counter). A hub that closes the
    // link within seconds of accepting it, several times in a row, is what a second device
    // with our identity looks like from here: its CONNECT kicks us (we see a close, or a reset
    // when unread bytes were pending). Ordinary drops come later and break the run.
    n.quickRemote = nowMs - (n.connectedAtMs as number) < QUICK_CLOSE_MS ? n.quickRemote + 1 : 0;
    if (n.quickRemote >= DUPLICATE_AFTER) { code = "duplicate.suspected"; next = "long"; }
  }
  gone(n, out, nowMs, { code: code, text: detail, next: next });
}

/** A close no retry can cure (invariant 7): its halting reason, or null. */
function fatal(cause: CloseCause): string | null {
  return cause === "cert" ? "tls.certRejected" : cause === "ca" ? "tls.caUnusable" : null;
}

/** A codec error (decoding what the hub sent, or encoding what we send): "protocol.mqtt.*" at its byte. */
function mqttError(n: Draft, out: Command[], e: ProtocolError): void {
  close(n, out, { code: "protocol." + e.code, text: "at byte " + e.at, next: "drop" });
}

// ---- connecting ---------------------------------------------------------------------------

/** The transport opened: sign a token if we hold a key, write CONNECT. */
function sendConnect(n: Draft, out: Command[], epochSec: number, nowMs: number): void {
  const c = n.setup.cfg;
  const auth = c.auth as { symmetricKey?: string; sasToken?: string };
  let password: string;
  let renewAtMs: number;
  if (auth.symmetricKey !== undefined) {
    const t = sasTokenWith(n.setup.sign, c.host, c.deviceId, auth.symmetricKey, Math.floor(epochSec) + c.token.lifetimeSec);
    if (t === null) { close(n, out, { code: "auth.keyInvalid", text: "the signing port refused the symmetric key", next: "halt" }); return; }
    password = t;
    renewAtMs = nowMs + (c.token.lifetimeSec - c.token.renewMarginSec) * 1000;
  } else {
    password = auth.sasToken as string;
    const se = tokenExpirySec(password);
    renewAtMs = se === null ? -1 : nowMs + (se - epochSec) * 1000;
  }
  write(n, out, encodeConnect({
    type: "connect", clientId: clientId(c.deviceId), cleanSession: false,
    keepaliveSec: c.keepaliveSec, username: n.setup.username, password: password,
  }, n.setup.alloc));
  if (n.kind !== "connecting") return; // the CONNECT could not be encoded: write closed the link
  // The connect timer keeps running: it bounds open + CONNACK together.
  enter(n, out, "handshaking", "link.handshaking", { keep: 1 } /* connect's bit */);
  n.dec = EMPTY_DECODER;
  n.openedEpochSec = epochSec;
  n.tokenRenewAtMs = renewAtMs;
}

/** The first packet of a link: CONNACK, or a protocol error. */
function connack(n: Draft, out: Command[], p: ServerPacket, nowMs: number): void {
  if (p.type !== "connack") { close(n, out, { code: "protocol.unexpected", text: p.type + " before CONNACK", next: "drop" }); return; }
  const rc = p.returnCode;
  if (rc === 0) { accepted(n, out, nowMs); return; }
  if (rc === 1 || rc === 2) { close(n, out, { code: "connack." + rc, next: "halt" }); return; }
  if (rc === 3) { close(n, out, { code: "connack.3", next: "throttled" }); return; }
  if (rc !== 4 && rc !== 5) { close(n, out, { code: "protocol.badConnack", text: "return code " + rc, next: "drop" }); return; }
  const epoch = n.openedEpochSec as number;
  if (epoch < MIN_PLAUSIBLE_EPOCH_SEC) {
    close(n, out, { code: "auth.clockNotSynced", text: "device time " + epoch, next: "long" });
    return;
  }
  if ((n.setup.cfg.auth as { symmetricKey?: string }).symmetricKey === undefined) {
    close(n, out, { code: "connack." + rc, text: "the configured token was refused", next: "halt" });
    return;
  }
  n.authFailures = n.authFailures + 1;
  if (n.authFailures >= 2) close(n, out, { code: "auth.repeated", text: "CONNACK " + rc, next: "halt" });
  else close(n, out, { code: "connack." + rc, text: "retrying later with a fresh token", next: "long" });
}

/** CONNACK 0: start the link's timers, subscribe to C2D, redeliver and send what waits. */
function accepted(n: Draft, out: Command[], nowMs: number): void {
  const c = n.setup.cfg;
  const dec = n.dec as DecoderState;
  const renewAtMs = n.tokenRenewAtMs as number;
  n.authFailures = 0;
  enter(n, out, "connected", "link.connected");
  n.dec = dec;
  n.tokenRenewAtMs = renewAtMs;
  n.connectedAtMs = nowMs;
  n.lastRxMs = nowMs;
  setTimer(n, out, "ping", c.keepaliveSec * 1000);
  setTimer(n, out, "rx", c.keepaliveSec * 1500);
  setTimer(n, out, "stable", c.backoff.stableMs);
  if (renewAtMs >= 0) setTimer(n, out, "token", renewAtMs - nowMs);
  // Subscribe to cloud-to-device messages (the hub allows at most 5 subscriptions; we use one).
  n.subId = allocId(n, 0);
  write(n, out, encodeSubscribe({ type: "subscribe", packetId: n.subId, subscriptions: [{ topic: n.setup.c2dFilter, qos: 1 }] }, n.setup.alloc));
  // Redeliver what was in flight, in order, with DUP (MQTT 3.1.1 §4.4), then the queue.
  for (let i = 0; i < n.inflight.length; i++) writePublish(n, out, n.inflight[i], true);
  pump(n, out);
}

// ---- connected ----------------------------------------------------------------------------

function renewToken(n: Draft, out: Command[]): void {
  if ((n.setup.cfg.auth as { symmetricKey?: string }).symmetricKey === undefined) close(n, out, { code: "token.expired", next: "halt", graceful: true });
  else close(n, out, { code: "token.renew", next: "planned", graceful: true });
}

function linkPacket(n: Draft, out: Command[], p: ServerPacket): void {
  switch (p.type) {
    case "puback": // first: one for every QoS 1 message
      if (acknowledge(n, p.packetId, out)) pump(n, out);
      else close(n, out, { code: "protocol.unknownPacketId", text: "PUBACK " + p.packetId, next: "drop" });
      return;
    case "pingresp":
      return;
    case "suback":
      if (p.packetId !== n.subId) { close(n, out, { code: "protocol.unexpected", text: "SUBACK " + p.packetId + " without a SUBSCRIBE", next: "drop" }); return; }
      n.subId = 0;
      if (p.granted.length !== 1 || p.granted[0] === 0x80) out.push({ type: "log", code: "c2d.refused", text: "the hub refused the cloud-to-device subscription" });
      return;
    case "publish":
      c2d(n, out, p);
      return;
    default:
      close(n, out, { code: "protocol.unexpected", text: p.type + " from the hub", next: "drop" });
  }
}

function c2d(n: Draft, out: Command[], p: PublishPacket): void {
  if (p.qos === 2) { close(n, out, { code: "protocol.qos2", text: "QoS 2 PUBLISH", next: "drop" }); return; }
  if (p.qos === 1) write(n, out, encodePuback(p.packetId));
  out.push({ type: "message", topic: p.topic, payload: p.payload, properties: parseC2dTopic(n.setup.cfg.deviceId, p.topic) });
}

// ---- telemetry ----------------------------------------------------------------------------

/**
 * A message from the application, in any state: refused (tooLarge) when no packet can carry it;
 * sent at once when connected with nothing ahead of it and room in flight; else queued (admit).
 */
function accept(n: Draft, out: Command[], msg: Outbound): void {
  const c = n.setup.cfg;
  const q: Queued = { id: msg.id, topic: telemetryTopic(c.deviceId, msg.properties), payload: msg.payload, qos: msg.qos === 1 ? 1 : 0, packetId: 0 };
  // refused here, before it is queued: a topic past MQTT's 16-bit string length, or a packet past the limit
  const topicBytes = utf8Length(q.topic);
  if (topicBytes > MAX_STRING_BYTES || publishSize(topicBytes, q.payload.length, q.qos) > c.maxPacketBytes) out.push({ type: "dropped", id: msg.id, why: "tooLarge" });
  else if (n.kind === "connected" && n.queue.length === 0 && sendable(n, q)) send(n, out, q);
  else admit(n, q, c.telemetry.queueLimit, c.telemetry.overflow, out);
}

/** Send queued messages while the in-flight window has room. */
function pump(n: Draft, out: Command[]): void {
  const q = n.queue;
  if (q.length === 0) return;
  let i = 0;
  while (i < q.length && n.kind === "connected" && sendable(n, q[i])) {
    send(n, out, q[i]);
    i++;
  }
  if (i > 0) n.queue = q.slice(i);
}

function send(n: Draft, out: Command[], q: Queued): void {
  writePublish(n, out, sending(n, q, n.subId as number), false);
  if (q.qos === 0) out.push({ type: "acked", id: q.id }); // QoS 0: done once written
}

function writePublish(n: Draft, out: Command[], m: Queued, dup: boolean): void {
  write(n, out, encodePublish({ type: "publish", topic: m.topic, payload: m.payload, qos: m.qos, dup: dup, retain: false, packetId: m.packetId }, n.setup.alloc));
}
