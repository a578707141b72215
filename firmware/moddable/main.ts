// linkguard for Moddable (XS): read mc/config, set the clock with SNTP, run the link, send
// telemetry, drive the status LED by link state. The manifest includes the SDK's network
// setup, which calls this module's default export once Wi-Fi is up.
//
// mc/config (written by `linkguard build --target moddable`):
//   linkguard   the complete device configuration (validated, defaults filled in)
//   board       { name, statusLed: { pin, activeLow } | null, button: {...} | null, patterns }
//   ca          the CA resource, default "DigiCertGlobalRootG2.der"
//   sntp        time server, default "pool.ntp.org"; "" (or "off") skips SNTP and starts with the
//               clock as it is (right on a host or a board with an RTC; on a bare ESP32 the hub
//               then refuses the token and the link reports auth.clockNotSynced)
//   sntpTimeoutMs how long to wait for SNTP before starting anyway, ms, default 20000
//   telemetryMs telemetry interval, ms, default 60000
// Each can also be given on mcconfig's command line (`mcconfig ... sntp= telemetryMs=5000`),
// which passes it as a string: numbers are read from strings too.
//
// Telemetry is {"seq", "ticks"} plus, where the build has XS instrumentation (debug builds, or
// `mcconfig -i`), "heap": the XS slot and chunk heaps in use right after a garbage collection,
// in bytes, so the owner can see from the hub that the device's memory stays flat.

import config from "mc/config";
import Timer from "timer";
import SNTP from "sntp";
import Time from "time";
import Resource from "Resource";
import Net from "net";
import Instrumentation from "instrumentation";
import Debug from "debug";
import ledWrite from "linkguard/led";
import { runLink } from "../../src/platform/moddable/shell.js";
import { MIN_PLAUSIBLE_EPOCH_SEC } from "../../src/core/link.js";
import { explain } from "../../src/core/reasons.js";
import type { Status } from "../../src/core/link.js";
import type { DeviceConfig } from "../../src/core/config.js";

/**
 * mc/config's objects are preloaded and frozen (JSON.stringify on them throws): copy every
 * field by hand into plain objects the link can own.
 */
function deviceConfig(c: any): DeviceConfig {
  const b = c.backoff, t = c.token, q = c.telemetry, a = c.auth;
  const backoff: DeviceConfig["backoff"] = {
    jitter: b.jitter, baseMs: b.baseMs, factor: b.factor, capMs: b.capMs, floorMs: b.floorMs, stableMs: b.stableMs,
  };
  if (b.fleet) backoff.fleet = { devices: b.fleet.devices, admitPerS: b.fleet.admitPerS };
  return {
    host: c.host, port: c.port, deviceId: c.deviceId,
    auth: a.symmetricKey !== undefined ? { symmetricKey: a.symmetricKey } : { sasToken: a.sasToken },
    tls: c.tls, keepaliveSec: c.keepaliveSec, connectTimeoutMs: c.connectTimeoutMs,
    backoff: backoff,
    token: { lifetimeSec: t.lifetimeSec, renewMarginSec: t.renewMarginSec },
    telemetry: { queueLimit: q.queueLimit, overflow: q.overflow },
    maxPacketBytes: c.maxPacketBytes,
  };
}

type Pattern = [number, number];

function statusLed(board: any): (state: string) => void {
  const led = board && board.statusLed;
  if (!led || typeof led.pin !== "number") return () => { /* no LED on this board */ };
  const pin: number = led.pin;
  const activeLow = !!led.activeLow;
  const patterns: { [state: string]: Pattern } = {};
  const p = board.patterns || {};
  for (const k of Object.keys(p)) patterns[k] = [p[k][0], p[k][1]];
  let timer: Timer | undefined;
  let lit = false;
  let pattern: Pattern = [0, 1];
  const write = (on: boolean) => { lit = on; ledWrite(pin, on !== activeLow ? 1 : 0); };
  const tick = () => {
    timer = undefined;
    if (pattern[0] <= 0 || pattern[1] <= 0) { write(pattern[0] > 0); return; }
    write(!lit);
    timer = Timer.set(tick, lit ? pattern[0] : pattern[1]);
  };
  return (state: string) => {
    const next = patterns[state] || [0, 1];
    if (next[0] === pattern[0] && next[1] === pattern[1]) return;
    pattern = next;
    if (timer !== undefined) Timer.clear(timer);
    lit = false;
    tick();
  };
}

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/** A number from mc/config: the manifest gives numbers, mcconfig's command line strings. */
function num(v: unknown, dflt: number): number {
  const n = typeof v === "string" && v !== "" ? Number(v) : v;
  return typeof n === "number" && n > 0 && n === n ? n : dflt;
}

/**
 * How the clock was set: "ok", "skipped" (configured off), "timeout" (no answer within
 * timeoutMs) or "failed: <why>" (the SNTP module reported an error).
 */
type ClockResult = string;

/** SNTP before the first connect: with a wrong clock every SAS token is already expired. */
function syncClock(host: string, timeoutMs: number, done: (r: ClockResult) => void): void {
  if (host === "" || host === "off") { done("skipped"); return; }
  let finished = false;
  let timer: Timer | undefined;
  let sntp: SNTP | undefined;
  const finish = (r: ClockResult) => {
    if (finished) return;
    finished = true;
    if (timer !== undefined) Timer.clear(timer);
    done(r);
  };
  timer = Timer.set(() => {
    timer = undefined;
    // the SDK's SNTP retries every 5 s on its own: stop it, the link starts now
    try { if (sntp) (sntp as unknown as { close(): void }).close(); } catch { /* closed already */ }
    finish("timeout");
  }, timeoutMs);
  try {
    sntp = new SNTP({ host: host }, (message: number, value?: unknown) => {
      if (message === 1 && typeof value === "number") { Time.set(value); finish("ok"); }
      else if (message === -1) finish("failed: " + String(value === undefined ? "no reason given" : value));
    });
  } catch (e) {
    finish("failed: " + String(e));
  }
}

/** The MAC address where the platform has one (the SDK's Net module), for the jitter seed. */
function macAddress(): string {
  try { return String(Net.get("MAC") || ""); } catch { return ""; }
}

/** The XS heaps in use after a collection (bytes), where the build is instrumented; "" elsewhere. */
function heapJson(): string {
  try {
    if (Instrumentation.get(Instrumentation.map("XS Slot Heap Used")) === undefined) return "";
    Debug.gc(); // live data only: without it the figure is wherever the sawtooth happens to be
    const slots = Instrumentation.get(Instrumentation.map("XS Slot Heap Used"));
    const chunks = Instrumentation.get(Instrumentation.map("XS Chunk Heap Used"));
    if (typeof slots === "number" && typeof chunks === "number") return `,"heap":{"slots":${slots},"chunks":${chunks}}`;
  } catch { /* no instrumentation in this build */ }
  return "";
}

export default function main(): void {
  const c: any = config;
  if (!c.linkguard) { trace("linkguard: no config.linkguard in the manifest (run `linkguard build --target moddable`)\n"); return; }
  const cfg = deviceConfig(c.linkguard);
  const led = statusLed(c.board);
  const caName: string = typeof c.ca === "string" ? c.ca : "DigiCertGlobalRootG2.der";
  const every = num(c.telemetryMs, 60000);
  let seq = 0;
  // After a drop, the first connected link carries the diagnostics (why it fell, how often)
  // to the hub as a message marked linkguard=diagnostics, so the owner can see it there.
  let dropped = false;
  const link = runLink({
    cfg: cfg,
    unique: macAddress(),
    ca: cfg.tls && Resource.exists(caName) ? new Resource(caName) : undefined,
    onStatus: (s: Status) => {
      led(s.state);
      if (s.state === "waiting") dropped = true;
      else if (s.state === "connected" && dropped) { dropped = false; link.publishDiagnostics(); }
      trace(`linkguard ${s.state} ${s.code}${s.delayMs !== undefined ? " in " + s.delayMs + " ms" : ""}: ${explain(s.code, s.text)}\n`);
    },
    onLog: (code, text) => trace(`linkguard ${code}: ${text}\n`),
    onDropped: (id, why) => trace(`linkguard telemetry ${id} dropped: ${why}\n`),
    onMessage: (topic, payload) => trace(`linkguard c2d ${topic} (${payload.length} bytes)\n`),
  });
  led("idle");
  const sntpHost = typeof c.sntp === "string" ? c.sntp : "pool.ntp.org";
  const sntpMs = num(c.sntpTimeoutMs, 20000);
  syncClock(sntpHost, sntpMs, (r) => {
    // Start either way: if the clock is still wrong, the hub refuses the token and the link
    // reports auth.clockNotSynced (and backs off) instead of looping on CONNACK 5. What
    // happened is traced and kept in the diagnostics the link sends after a drop.
    const epoch = Math.floor(Date.now() / 1000);
    const clock = epoch >= MIN_PLAUSIBLE_EPOCH_SEC ? "the clock reads " + epoch : "the clock is NOT set (" + epoch + ")";
    if (r === "timeout") link.note("clock.sntpTimeout", `no answer from ${sntpHost} within ${sntpMs} ms; starting anyway, ${clock}`);
    else if (r === "skipped") link.note("clock.sntpSkipped", `SNTP is off (config.sntp); ${clock}`);
    else if (r !== "ok") link.note("clock.sntpFailed", `SNTP ${sntpHost} ${r}; starting anyway, ${clock}`);
    link.start();
    Timer.repeat(() => {
      link.publish(ascii(`{"seq":${seq++},"ticks":${Time.ticks}${heapJson()}}`), 1);
    }, every);
  });
}
