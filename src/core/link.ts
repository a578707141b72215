// The link state machine: step(state, event, nowMs) -> { state, commands }.
//
// Pure: no I/O, no clock, no timers, no randomness of its own. The shell executes the
// commands and feeds back events; the state is a plain object that `step` never mutates
// (it returns a new one), so a model checker can keep and compare states.
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

/** A message in the outbound queue or in flight. */
export interface Queued { id: number; topic: string; payload: Uint8Array; qos: 0 | 1; packetId: number }

/** What a link needs besides the configuration: derived strings and the signing port. */
export interface LinkSetup {
  cfg: DeviceConfig;
  username: string;
  c2dFilter: string;
  sign: SignFn;
  /** where encoded packets are allocated; default new Uint8Array (Node passes Buffer.allocUnsafe's pool) */
  alloc?: (n: number) => Uint8Array;
}

export interface LinkState {
  readonly kind: LinkStateKind;
  readonly setup: LinkSetup;
  /** generation of the current or last transport; events of other generations are stale */
  readonly gen: number;
  /** bit per TimerKind (TIMER_BITS) that the shell holds pending for us */
  readonly timers: number;
  readonly rng: number;
  /** failed attempts since the link was last stable */
  readonly attempt: number;
  readonly prevHiMs: number;
  /** monotonic ms of the last confirmed transport close; -1 if none */
  readonly lastCloseMs: number;
  readonly connectedAtMs: number;
  readonly lastRxMs: number;
  /** consecutive remote closes within the stable period after CONNACK */
  readonly quickRemote: number;
  /** consecutive CONNACK 4/5 with a fresh token */
  readonly authFailures: number;
  readonly openedEpochSec: number;
  readonly tokenRenewAtMs: number;
  readonly dec: DecoderState;
  readonly nextPacketId: number;
  /** packet id of our SUBSCRIBE awaiting SUBACK; 0 if none */
  readonly subId: number;
  readonly queue: readonly Queued[];
  readonly inflight: readonly Queued[];
  /** what to do once the transport confirms its close (state closing) */
  readonly after: "wait" | "idle" | "halt";
  readonly afterWait: WaitKind;
  readonly code: string;
  readonly text: string;
}

export interface Step { state: LinkState; commands: Command[] }

export const TIMER_KINDS: readonly TimerKind[] = ["connect", "ping", "rx", "stable", "token", "backoff", "closeGuard"];
const TIMER_BITS: { [k: string]: number } = { connect: 1, ping: 2, rx: 4, stable: 8, token: 16, backoff: 32, closeGuard: 64 };

/** Remote closes this soon after CONNACK, this many times in a row, mean another device has our identity. */
export const DUPLICATE_AFTER = 3;
/** A close this soon after CONNACK counts towards DUPLICATE_AFTER; a later one resets the count. */
export const QUICK_CLOSE_MS = 5000;
/** Messages in flight (sent, awaiting PUBACK) at once. */
export const MAX_INFLIGHT = 8;
/** Before this (2023-11-14), the device clock has not been set: SAS tokens it signs are already expired. */
export const MIN_PLAUSIBLE_EPOCH_SEC = 1700000000;
/** ms to wait for a transport to confirm its close before asking again */
export const CLOSE_GUARD_MS = 10000;
/** setTimeout's largest delay on every engine */
const MAX_TIMER_MS = 0x7fffffff;

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
    alloc: alloc,
  };
  return {
    kind: "idle", setup: setup, gen: 0, timers: 0, rng: seedRng(seed === undefined ? 1 : seed),
    attempt: 0, prevHiMs: 0, lastCloseMs: -1, connectedAtMs: 0, lastRxMs: 0, quickRemote: 0,
    authFailures: 0, openedEpochSec: 0, tokenRenewAtMs: 0, dec: EMPTY_DECODER,
    nextPacketId: 1, subId: 0, queue: [], inflight: [], after: "wait", afterWait: "drop",
    code: "idle", text: "",
  };
}

const NO_COMMANDS: Command[] = [];

/** The state machine. Never throws on any event; stale and irrelevant events change nothing. */
export function step(s: LinkState, e: LinkEvent, nowMs: number): Step {
  // Invariant 4: events of another generation are stale.
  if ((e.type === "transportOpened" || e.type === "transportData" || e.type === "transportClosed") && e.gen !== s.gen) {
    return { state: s, commands: NO_COMMANDS };
  }
  const n = Object.assign({}, s) as Mutable<LinkState>;
  const out: Command[] = [];
  switch (e.type) {
    case "start": onStart(n, out, e.seed, e.restored, nowMs); break;
    case "stop": onStop(n, out, nowMs); break;
    case "transportOpened": onOpened(n, out, e.epochSec, nowMs); break;
    case "transportData": onData(n, out, e.bytes, nowMs); break;
    case "transportClosed": onClosed(n, out, e.cause, e.detail, nowMs); break;
    case "timerFired": onTimer(n, out, e.kind, nowMs); break;
    case "publish": onPublish(n, out, e.msg); break;
    case "tokenExpiring": if (n.kind === "connected") renewToken(n, out, nowMs); break;
  }
  if (out.length === 0 && sameState(s, n)) return { state: s, commands: NO_COMMANDS };
  return { state: n, commands: out };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Draft = Mutable<LinkState>;

function sameState(a: LinkState, b: Draft): boolean {
  const ka = Object.keys(b);
  for (let i = 0; i < ka.length; i++) if ((a as any)[ka[i]] !== (b as any)[ka[i]]) return false;
  return true;
}

// ---- timers -------------------------------------------------------------------------------

function setTimer(n: Draft, out: Command[], kind: TimerKind, ms: number): void {
  const bit = TIMER_BITS[kind];
  if (n.timers & bit) out.push({ type: "cancelTimer", kind: kind });
  out.push({ type: "startTimer", kind: kind, ms: ms < 0 ? 0 : ms > MAX_TIMER_MS ? MAX_TIMER_MS : Math.floor(ms) });
  n.timers = n.timers | bit;
}

/** Cancel every pending timer except those in `keep` (a TIMER_BITS mask). */
function clearTimers(n: Draft, out: Command[], keep: number): void {
  for (let i = 0; i < TIMER_KINDS.length; i++) {
    const k = TIMER_KINDS[i];
    if (n.timers & TIMER_BITS[k] & ~keep) out.push({ type: "cancelTimer", kind: k });
  }
  n.timers = n.timers & keep;
}

// ---- transitions --------------------------------------------------------------------------

/** Leave the current state (cancelling its timers) and enter `kind`, telling the owner why. */
function enter(n: Draft, out: Command[], kind: LinkStateKind, code: string, text: string | undefined, delayMs?: number, keep?: number): void {
  clearTimers(n, out, keep === undefined ? 0 : keep);
  n.kind = kind;
  n.code = code;
  n.text = text || code;
  const st: Status = { state: kind, code: code, text: n.text, gen: n.gen, attempt: n.attempt };
  if (delayMs !== undefined) st.delayMs = delayMs;
  out.push({ type: "notify", status: st });
}

function beginConnect(n: Draft, out: Command[], code: string): void {
  n.gen = n.gen + 1;
  n.dec = EMPTY_DECODER;
  n.subId = 0;
  enter(n, out, "connecting", code, undefined);
  const c = n.setup.cfg;
  out.push({ type: "openTransport", gen: n.gen, host: c.host, port: c.port, tls: c.tls });
  setTimer(n, out, "connect", c.connectTimeoutMs);
}

/** The transport is gone (confirmed): wait, halt or rest, as decided. */
function afterClose(n: Draft, out: Command[], nowMs: number, after: "wait" | "idle" | "halt", kind: WaitKind, code: string, text: string | undefined): void {
  n.lastCloseMs = nowMs;
  n.dec = EMPTY_DECODER;
  if (after === "idle") { enter(n, out, "idle", code, text); return; }
  if (after === "halt") {
    enter(n, out, "halted", code, text);
    out.push({ type: "persist", data: { attempt: n.attempt, lastError: code } });
    return;
  }
  wait(n, out, kind, code, text);
}

/** `lastError`: what to persist as the last error when it is not `code` (a restart keeps the one before it). */
function wait(n: Draft, out: Command[], kind: WaitKind, code: string, text: string | undefined, lastError?: string): void {
  n.rng = nextRng(n.rng);
  const d = nextDelay(n.setup.cfg.backoff, kind, n.attempt, n.prevHiMs, rngUnit(n.rng));
  n.prevHiMs = d.hiMs;
  if (kind !== "planned") n.attempt = n.attempt + 1;
  enter(n, out, "waiting", code, text, d.delayMs);
  setTimer(n, out, "backoff", d.delayMs);
  if (kind !== "planned") out.push({ type: "persist", data: { attempt: n.attempt, lastError: lastError === undefined ? code : lastError } });
}

/** Send bytes on the current transport. */
/**
 * Write an encoded packet. The link only builds packets its validated configuration and its own
 * checks make valid, so an encoder's error here is a bug: it closes the link with its code.
 */
function write(n: Draft, out: Command[], bytes: Encoded): void {
  if ((bytes as ProtocolError).ok === false) mqttError(n, out, bytes as ProtocolError);
  else out.push({ type: "write", gen: n.gen, bytes: bytes as Uint8Array });
}

/** Ask the transport to close; what follows waits for its confirmation (invariant 1). */
function close(n: Draft, out: Command[], code: string, text: string | undefined, after: "wait" | "idle" | "halt", kind: WaitKind, graceful: boolean): void {
  // a copy: the shared constant is read-only on XS (frozen into flash when the core is preloaded)
  if (graceful && n.kind === "connected") write(n, out, DISCONNECT_BYTES.slice());
  n.after = after;
  n.afterWait = kind;
  enter(n, out, "closing", code, text);
  out.push({ type: "closeTransport", gen: n.gen });
  setTimer(n, out, "closeGuard", CLOSE_GUARD_MS);
}

// ---- events -------------------------------------------------------------------------------

function onStart(n: Draft, out: Command[], seed: number | undefined, restored: Persisted | undefined, nowMs: number): void {
  if (n.kind === "closing") { if (n.after === "idle") { n.after = "wait"; n.afterWait = "drop"; } return; }
  if (n.kind !== "idle" && n.kind !== "halted") return; // invariant 5
  if (seed !== undefined) n.rng = seedRng(seed);
  if (n.kind === "halted") { n.authFailures = 0; n.quickRemote = 0; }
  if (restored && restored.attempt > 0 && n.lastCloseMs < 0) {
    n.attempt = restored.attempt - 1;
    wait(n, out, "drop", "restored", "last error " + restored.lastError, restored.lastError);
    return;
  }
  const floor = n.setup.cfg.backoff.floorMs;
  if (n.lastCloseMs >= 0 && nowMs - n.lastCloseMs < floor) {
    // Invariant 3: a stop/start right after a drop still waits out the floor.
    const d = floor - (nowMs - n.lastCloseMs);
    enter(n, out, "waiting", "start", "floor not yet elapsed since the last close", d);
    setTimer(n, out, "backoff", d);
    return;
  }
  beginConnect(n, out, "start");
}

function onStop(n: Draft, out: Command[], nowMs: number): void {
  switch (n.kind) {
    case "idle": return;
    case "halted":
    case "waiting":
      enter(n, out, "idle", "local.stop", undefined);
      return;
    case "closing":
      n.after = "idle";
      return;
    default:
      close(n, out, "local.stop", undefined, "idle", "drop", true);
  }
}

function onOpened(n: Draft, out: Command[], epochSec: number, nowMs: number): void {
  if (n.kind !== "connecting") return;
  const c = n.setup.cfg;
  let password: string;
  const auth = c.auth as { symmetricKey?: string; sasToken?: string };
  if (auth.symmetricKey !== undefined) {
    const expiry = Math.floor(epochSec) + c.token.lifetimeSec;
    const t = sasTokenWith(n.setup.sign, c.host, c.deviceId, auth.symmetricKey, expiry);
    if (t === null) { close(n, out, "auth.repeated", "the symmetric key is not base64", "halt", "long", false); return; }
    password = t;
    n.tokenRenewAtMs = nowMs + (c.token.lifetimeSec - c.token.renewMarginSec) * 1000;
  } else {
    password = auth.sasToken as string;
    const se = tokenExpirySec(password);
    n.tokenRenewAtMs = se === null ? -1 : nowMs + (se - epochSec) * 1000;
  }
  n.openedEpochSec = epochSec;
  const bytes = encodeConnect({
    type: "connect", clientId: clientId(c.deviceId), cleanSession: false,
    keepaliveSec: c.keepaliveSec, username: n.setup.username, password: password,
  }, n.setup.alloc);
  write(n, out, bytes);
  if (n.kind !== "connecting") return; // the CONNECT could not be encoded: write closed the link
  // The connect timer keeps running: it bounds open + CONNACK together.
  enter(n, out, "handshaking", "link.handshaking", undefined, undefined, TIMER_BITS.connect);
}

function onClosed(n: Draft, out: Command[], cause: CloseCause, detail: string | undefined, nowMs: number): void {
  const halt = fatal(cause);
  switch (n.kind) {
    case "closing":
      // A certificate rejection is fatal even when it arrives as the answer to our own close.
      if (halt !== null && n.after === "wait") afterClose(n, out, nowMs, "halt", "long", halt, detail);
      else afterClose(n, out, nowMs, n.after, n.afterWait, n.code, undefined);
      return;
    case "connecting":
    case "handshaking":
    case "connected":
      break;
    default:
      return;
  }
  const wasConnected = n.kind === "connected";
  if (halt !== null) { afterClose(n, out, nowMs, "halt", "long", halt, detail); return; }
  let code = cause === "tls" ? "tls.failed" : cause === "remote" ? "remote.close" : "transport.error";
  let kind: WaitKind = "drop";
  if (wasConnected && (cause === "remote" || cause === "error")) {
    // Flapping is not success (invariant 8 keeps the attempt counter). A hub that closes the
    // link within seconds of accepting it, several times in a row, is what a second device
    // with our identity looks like from here: its CONNECT kicks us (we see a close, or a reset
    // when unread bytes were pending). Ordinary drops come later and break the run.
    if (nowMs - n.connectedAtMs < QUICK_CLOSE_MS) n.quickRemote = n.quickRemote + 1;
    else n.quickRemote = 0;
    if (n.quickRemote >= DUPLICATE_AFTER) { code = "duplicate.suspected"; kind = "long"; }
  }
  afterClose(n, out, nowMs, "wait", kind, code, detail);
}

/** A close no retry can cure (invariant 7): its halting reason, or null. */
function fatal(cause: CloseCause): string | null {
  return cause === "cert" ? "tls.certRejected" : cause === "ca" ? "tls.caUnusable" : null;
}

function onTimer(n: Draft, out: Command[], kind: TimerKind, nowMs: number): void {
  const bit = TIMER_BITS[kind];
  if (!(n.timers & bit)) return; // not ours (cancelled or stale)
  n.timers = n.timers & ~bit;
  const c = n.setup.cfg;
  switch (kind) {
    case "backoff":
      if (n.kind === "waiting") beginConnect(n, out, "link.opening");
      return;
    case "connect":
      if (n.kind === "connecting" || n.kind === "handshaking")
        close(n, out, "connect.timeout", n.kind === "connecting" ? "the transport did not open" : "no CONNACK", "wait", "drop", false);
      return;
    case "closeGuard":
      if (n.kind === "closing") {
        out.push({ type: "closeTransport", gen: n.gen });
        setTimer(n, out, "closeGuard", CLOSE_GUARD_MS);
      }
      return;
    case "ping":
      if (n.kind === "connected") {
        write(n, out, PINGREQ_BYTES.slice()); // a copy, as for DISCONNECT_BYTES
        setTimer(n, out, "ping", c.keepaliveSec * 1000);
      }
      return;
    case "rx":
      if (n.kind === "connected") {
        const limit = c.keepaliveSec * 1500;
        const quiet = nowMs - n.lastRxMs;
        if (quiet >= limit) close(n, out, "keepalive.timeout", "silent for " + quiet + " ms", "wait", "drop", false);
        else setTimer(n, out, "rx", limit - quiet);
      }
      return;
    case "stable":
      if (n.kind === "connected") {
        n.attempt = 0;
        n.prevHiMs = 0;
        n.quickRemote = 0;
        out.push({ type: "log", code: "link.stable", text: "link stable for " + c.backoff.stableMs + " ms: backoff reset" });
        out.push({ type: "persist", data: { attempt: 0, lastError: n.code } });
      }
      return;
    case "token":
      if (n.kind === "connected") {
        if (nowMs < n.tokenRenewAtMs - 1000) setTimer(n, out, "token", n.tokenRenewAtMs - nowMs);
        else renewToken(n, out, nowMs);
      }
      return;
  }
}

function renewToken(n: Draft, out: Command[], nowMs: number): void {
  const auth = n.setup.cfg.auth as { symmetricKey?: string };
  if (auth.symmetricKey === undefined) close(n, out, "token.expired", undefined, "halt", "long", true);
  else close(n, out, "token.renew", undefined, "wait", "planned", true);
}

// ---- received packets ---------------------------------------------------------------------

function onData(n: Draft, out: Command[], bytes: Uint8Array, nowMs: number): void {
  if (n.kind !== "handshaking" && n.kind !== "connected") return;
  const r = feed(n.dec, bytes, n.setup.cfg.maxPacketBytes, fromServer);
  n.dec = r.dec;
  n.lastRxMs = nowMs;
  for (let i = 0; i < r.packets.length; i++) {
    if (n.kind === "handshaking") onHandshakePacket(n, out, r.packets[i], nowMs);
    else if (n.kind === "connected") onLinkPacket(n, out, r.packets[i]);
    else return; // the link is closing: the rest of the bytes are moot
  }
  if (r.error !== null && (n.kind === "handshaking" || n.kind === "connected")) mqttError(n, out, r.error);
}

/** A codec error (decoding what the hub sent, or encoding what we send): "protocol.mqtt.*" at its byte. */
function mqttError(n: Draft, out: Command[], e: ProtocolError): void {
  protocolError(n, out, "protocol." + e.code, "at byte " + e.at);
}

function protocolError(n: Draft, out: Command[], code: string, text: string): void {
  close(n, out, code, text, "wait", "drop", false);
}

function onHandshakePacket(n: Draft, out: Command[], p: ServerPacket, nowMs: number): void {
  if (p.type !== "connack") { protocolError(n, out, "protocol.unexpected", p.type + " before CONNACK"); return; }
  const rc = p.returnCode;
  if (rc === 0) { connected(n, out, nowMs); return; }
  if (rc === 1 || rc === 2) { close(n, out, "connack." + rc, undefined, "halt", "long", false); return; }
  if (rc === 3) { close(n, out, "connack.3", undefined, "wait", "throttled", false); return; }
  if (rc === 4 || rc === 5) {
    if (n.openedEpochSec < MIN_PLAUSIBLE_EPOCH_SEC) {
      close(n, out, "auth.clockNotSynced", "device time " + n.openedEpochSec, "wait", "long", false);
      return;
    }
    n.authFailures = n.authFailures + 1;
    const fresh = (n.setup.cfg.auth as { symmetricKey?: string }).symmetricKey !== undefined;
    if (!fresh || n.authFailures >= 2) close(n, out, fresh ? "auth.repeated" : "connack." + rc, fresh ? "CONNACK " + rc : "the configured token was refused", "halt", "long", false);
    else close(n, out, "connack." + rc, "retrying later with a fresh token", "wait", "long", false);
    return;
  }
  protocolError(n, out, "protocol.badConnack", "return code " + rc);
}

function connected(n: Draft, out: Command[], nowMs: number): void {
  const c = n.setup.cfg;
  n.connectedAtMs = nowMs;
  n.lastRxMs = nowMs;
  n.authFailures = 0;
  enter(n, out, "connected", "link.connected", undefined);
  setTimer(n, out, "ping", c.keepaliveSec * 1000);
  setTimer(n, out, "rx", c.keepaliveSec * 1500);
  setTimer(n, out, "stable", c.backoff.stableMs);
  if (n.tokenRenewAtMs >= 0) setTimer(n, out, "token", n.tokenRenewAtMs - nowMs);
  // Subscribe to cloud-to-device messages (the hub allows at most 5 subscriptions; we use one).
  n.subId = allocId(n);
  write(n, out, encodeSubscribe({ type: "subscribe", packetId: n.subId, subscriptions: [{ topic: n.setup.c2dFilter, qos: 1 }] }, n.setup.alloc));
  // Redeliver what was in flight, in order, with DUP (MQTT 3.1.1 §4.4), then the queue.
  for (let i = 0; i < n.inflight.length; i++) writePublish(n, out, n.inflight[i], true);
  pump(n, out);
}

function onLinkPacket(n: Draft, out: Command[], p: ServerPacket): void {
  switch (p.type) {
    case "pingresp":
      return;
    case "puback": {
      const inf = n.inflight;
      for (let i = 0; i < inf.length; i++) {
        if (inf[i].packetId === p.packetId) {
          const next = inf.slice();
          next.splice(i, 1);
          n.inflight = next;
          out.push({ type: "acked", id: inf[i].id });
          pump(n, out);
          return;
        }
      }
      protocolError(n, out, "protocol.unknownPacketId", "PUBACK " + p.packetId);
      return;
    }
    case "suback":
      if (p.packetId !== n.subId) { protocolError(n, out, "protocol.unexpected", "SUBACK " + p.packetId + " without a SUBSCRIBE"); return; }
      n.subId = 0;
      if (p.granted.length !== 1 || p.granted[0] === 0x80) out.push({ type: "log", code: "c2d.refused", text: "the hub refused the cloud-to-device subscription" });
      return;
    case "publish":
      onC2d(n, out, p);
      return;
    default:
      protocolError(n, out, "protocol.unexpected", p.type + " from the hub");
  }
}

function onC2d(n: Draft, out: Command[], p: PublishPacket): void {
  if (p.qos === 2) { protocolError(n, out, "protocol.qos2", "QoS 2 PUBLISH"); return; }
  if (p.qos === 1) write(n, out, encodePuback(p.packetId));
  out.push({ type: "message", topic: p.topic, payload: p.payload, properties: parseC2dTopic(n.setup.cfg.deviceId, p.topic) });
}

// ---- telemetry ----------------------------------------------------------------------------

function onPublish(n: Draft, out: Command[], msg: Outbound): void {
  const c = n.setup.cfg;
  const q: Queued = { id: msg.id, topic: telemetryTopic(c.deviceId, msg.properties), payload: msg.payload, qos: msg.qos === 1 ? 1 : 0, packetId: 0 };
  // refused here, before it is queued: a topic past MQTT's 16-bit string length, or a packet past the limit
  const topicBytes = utf8Length(q.topic);
  if (topicBytes > MAX_STRING_BYTES || publishSize(topicBytes, q.payload.length, q.qos) > c.maxPacketBytes) {
    out.push({ type: "dropped", id: msg.id, why: "tooLarge" });
    return;
  }
  if (n.kind === "connected" && n.queue.length === 0 && (q.qos === 0 || n.inflight.length < MAX_INFLIGHT)) {
    send(n, out, q);
    return;
  }
  let queue = n.queue;
  if (queue.length + n.inflight.length >= c.telemetry.queueLimit) {
    if (c.telemetry.overflow === "refuse-new" || queue.length === 0) {
      out.push({ type: "dropped", id: msg.id, why: "refused" });
      return;
    }
    out.push({ type: "dropped", id: queue[0].id, why: "overflow" });
    queue = queue.slice(1);
  } else {
    queue = queue.slice();
  }
  (queue as Queued[]).push(q);
  n.queue = queue;
}

/** Send queued messages while the in-flight window has room. */
function pump(n: Draft, out: Command[]): void {
  if (n.queue.length === 0) return;
  let i = 0;
  const q = n.queue;
  while (i < q.length && n.kind === "connected" && (q[i].qos === 0 || n.inflight.length < MAX_INFLIGHT)) {
    send(n, out, q[i]);
    i++;
  }
  if (i > 0) n.queue = q.slice(i);
}

function send(n: Draft, out: Command[], q: Queued): void {
  if (q.qos === 1) {
    const m: Queued = { id: q.id, topic: q.topic, payload: q.payload, qos: 1, packetId: allocId(n) };
    const inf = n.inflight.slice();
    inf.push(m);
    n.inflight = inf;
    writePublish(n, out, m, false);
  } else {
    writePublish(n, out, q, false);
    out.push({ type: "acked", id: q.id });
  }
}

function writePublish(n: Draft, out: Command[], m: Queued, dup: boolean): void {
  write(n, out, encodePublish({ type: "publish", topic: m.topic, payload: m.payload, qos: m.qos, dup: dup, retain: false, packetId: m.packetId }, n.setup.alloc));
}

/** The next free packet id in 1..65535 (not in flight, not our pending SUBSCRIBE). */
function allocId(n: Draft): number {
  let id = n.nextPacketId;
  for (;;) {
    let used = id === n.subId;
    for (let i = 0; i < n.inflight.length && !used; i++) if (n.inflight[i].packetId === id) used = true;
    if (!used) break;
    id = id >= 65535 ? 1 : id + 1;
  }
  n.nextPacketId = id >= 65535 ? 1 : id + 1;
  return id;
}
