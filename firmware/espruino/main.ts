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

function main(): void {
  const st = settings();
  if (!st || !st.config) { console.log("linkguard: no settings"); return; } // docs/targets.md says how to give them
  const board = st.board || {};
  const led = statusLed(board.statusLed ? { pin: board.statusLed.pin, activeLow: board.statusLed.activeLow, patterns: board.patterns || {} } : null);
  let sent = 0, acked = 0, seq = 0;
  const link: Link = runLink({
    cfg: st.config,
    ca: st.ca,
    onStatus: function (s: Status) {
      led(s.state);
      // the code and its detail: the sentences for codes stay on the host (src/core/reasons.ts)
      console.log("linkguard " + s.state + " " + s.code + (s.delayMs !== undefined ? " in " + s.delayMs + " ms" : "") + (s.text !== s.code ? ": " + s.text : ""));
    },
    onLog: function (code, text) { console.log("linkguard " + code + ": " + text); },
    onAcked: function () { acked++; },
    onMessage: function (topic, payload) { console.log("linkguard c2d " + topic + " " + payload.length + " bytes"); },
  });
  // telemetry here is JSON of numbers and ASCII names: its binary string is its bytes.
  // A function expression, not a declaration: Espruino binds declarations only when it reaches
  // them, and the minifier may move one below the code that reads it (guards-espruino.ts).
  const publish = function (text: string): number { sent++; return link.publish(E.toUint8Array(text), 1); };
  const api = {
    publish: publish,
    // the link's own functions (they use no `this`): no wrapper, one function object fewer each
    start: link.start,
    stop: link.stop,
    state: function () { return link.state().kind; },
    counts: function () { return { sent: sent, acked: acked }; },
  };
  global.linkguard = api;
  if (board.button && board.button.pin !== null && board.button.pin !== undefined) {
    try {
      setWatch(function () { publish("{\"button\":1}"); }, board.button.pin, { repeat: true, edge: board.button.activeLow ? "falling" : "rising", debounce: 50 });
    } catch (e) { /* no such pin */ }
  }
  const every = st.telemetryMs > 0 ? st.telemetryMs : 60000;
  whenClockSet(st.sntp, function () {
    link.start();
    setInterval(function () { publish("{\"seq\":" + seq++ + ",\"upMs\":" + Math.floor(Date.now()) + "}"); }, every);
  });
}

main();
