// linkguard for Espruino: read the settings, set the clock, run the link, send telemetry,
// show the link state on the status LED. Upload dist/espruino/linkguard.min.js (it begins
// with the settings `linkguard build` wrote), or upload the bundle alone and the settings
// to Storage as "linkguard.json".
//
// Settings: { config: <complete device configuration>, board?: <hardware profile>,
//             ca?: <PEM or Storage file name>, telemetryMs?: number, sntp?: string }
// On the console: `linkguard.publish("text")`, `linkguard.stop()`, `linkguard.start()`.

import { runLink, Link } from "../../src/platform/espruino/shell.js";
import { statusLed } from "../../src/platform/espruino/led.js";
import { MIN_PLAUSIBLE_EPOCH_SEC, Status } from "../../src/core/link.js";

function settings(): any {
  if (typeof LINKGUARD_SETTINGS !== "undefined") return LINKGUARD_SETTINGS;
  try { return require("Storage").readJSON("linkguard.json", true); } catch (e) { return undefined; }
}

/** Start SNTP if the firmware has it; call `go` once the clock is plausible or after 15 s. */
function whenClockSet(server: string | undefined, go: () => void): void {
  try { require("Wifi").setSNTP(server || "pool.ntp.org", 0); } catch (e) { /* no Wifi module (Linux build, tests) */ }
  let waited = 0;
  function check(): void {
    if (Date.now() / 1000 >= MIN_PLAUSIBLE_EPOCH_SEC || waited >= 15000) { go(); return; }
    waited += 500;
    setTimeout(check, 500);
  }
  check();
}

// The running link and the console's counts: module-level, one per device, so that the
// callbacks and the console API below are functions declared once, not closures made in main()
// (each closure holds its scope chain in JsVars for as long as the device runs).
let link: Link;
let led: { show(state: string): void };
let sent = 0, acked = 0, seq = 0;

function onStatus(s: Status): void {
  led.show(s.state);
  // the code and its detail: the sentences for codes stay on the host (src/core/reasons.ts)
  console.log("linkguard " + s.state + " " + s.code + (s.delayMs !== undefined ? " in " + s.delayMs + " ms" : "") + (s.text !== s.code ? ": " + s.text : ""));
}

function onLog(code: string, text: string): void { console.log("linkguard " + code + ": " + text); }

function onAcked(): void { acked++; }

function onMessage(topic: string, payload: Uint8Array): void { console.log("linkguard c2d " + topic + " " + payload.length + " bytes"); }

/** telemetry here is JSON of numbers and ASCII names: its binary string is its bytes */
function publish(text: string): number { sent++; return link.publish(E.toUint8Array(text), 1); }

function telemetry(): void { publish("{\"seq\":" + seq++ + ",\"upMs\":" + Math.floor(Date.now()) + "}"); }

function button(): void { publish("{\"button\":1}"); }

/** The console API: `linkguard.publish("text")`, `linkguard.stop()`, `linkguard.start()`, state(), counts(). */
const API = {
  publish: publish,
  start: function () { link.start(); },
  stop: function () { link.stop(); },
  state: function () { return link.state().kind; },
  counts: function () { return { sent: sent, acked: acked }; },
};

function main(): void {
  const st = settings();
  if (!st || !st.config) { console.log("linkguard: no settings"); return; } // docs/targets.md says how to give them
  const board = st.board || {};
  led = statusLed(board.statusLed ? { pin: board.statusLed.pin, activeLow: board.statusLed.activeLow, patterns: board.patterns || {} } : null);
  link = runLink({ cfg: st.config, ca: st.ca, onStatus: onStatus, onLog: onLog, onAcked: onAcked, onMessage: onMessage });
  global.linkguard = API;
  if (board.button && board.button.pin !== null && board.button.pin !== undefined) {
    try {
      setWatch(button, board.button.pin, { repeat: true, edge: board.button.activeLow ? "falling" : "rising", debounce: 50 });
    } catch (e) { /* no such pin */ }
  }
  const every = st.telemetryMs > 0 ? st.telemetryMs : 60000;
  whenClockSet(st.sntp, function () {
    link.start();
    setInterval(telemetry, every);
  });
}

main();
