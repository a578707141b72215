// linkguard for Moddable (XS): read mc/config, set the clock with SNTP, run the link, send
// telemetry, drive the status LED by link state. The manifest includes the SDK's network
// setup, which calls this module's default export once Wi-Fi is up.
//
// mc/config (written by `linkguard build --target moddable`):
//   linkguard   the complete device configuration (validated, defaults filled in)
//   board       { name, statusLed: { pin, activeLow } | null, button: {...} | null, patterns }
//   ca          the CA resource, default "DigiCertGlobalRootG2.der"
//   sntp        time server, default "pool.ntp.org"
//   telemetryMs telemetry interval, default 60000

import config from "mc/config";
import Timer from "timer";
import SNTP from "sntp";
import Time from "time";
import Resource from "Resource";
import Digital from "pins/digital";
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
  const write = (on: boolean) => { lit = on; Digital.write(pin, on !== activeLow ? 1 : 0); };
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

/** SNTP before the first connect: with a wrong clock every SAS token is already expired. */
function syncClock(host: string, done: (ok: boolean) => void): void {
  let finished = false;
  const finish = (ok: boolean) => { if (!finished) { finished = true; done(ok); } };
  try {
    new SNTP({ host: host }, (message: number, value?: number) => {
      if (message === 1 && value !== undefined) { Time.set(value); finish(true); }
      else if (message === -1) finish(false);
    });
  } catch {
    finish(false);
  }
  Timer.set(() => finish(Date.now() / 1000 >= MIN_PLAUSIBLE_EPOCH_SEC), 20000);
}

export default function main(): void {
  const c: any = config;
  if (!c.linkguard) { trace("linkguard: no config.linkguard in the manifest (run `linkguard build --target moddable`)\n"); return; }
  const cfg = deviceConfig(c.linkguard);
  const led = statusLed(c.board);
  const caName: string = typeof c.ca === "string" ? c.ca : "DigiCertGlobalRootG2.der";
  const every: number = typeof c.telemetryMs === "number" && c.telemetryMs > 0 ? c.telemetryMs : 60000;
  let seq = 0;
  // After a drop, the first connected link carries the diagnostics (why it fell, how often)
  // to the hub as a message marked linkguard=diagnostics, so the owner can see it there.
  let dropped = false;
  const link = runLink({
    cfg: cfg,
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
  syncClock(typeof c.sntp === "string" ? c.sntp : "pool.ntp.org", (ok) => {
    // Start either way: if the clock is still wrong, the hub refuses the token and the link
    // reports auth.clockNotSynced (and backs off) instead of looping on CONNACK 5.
    if (!ok) trace("linkguard: SNTP failed; starting with the clock as it is\n");
    link.start();
    Timer.repeat(() => {
      link.publish(ascii(`{"seq":${seq++},"ticks":${Time.ticks}}`), 1);
    }, every);
  });
}
