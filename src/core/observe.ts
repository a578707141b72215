// Feeding the diagnostics from the link's commands, and publishing them to the hub.
// Every shell (Node, Moddable, Espruino) calls observe() for each command it executes, so the
// ring and counters mean the same on every target.

import { Command, Outbound } from "./link.js";
import { Diagnostics } from "./diagnostics.js";
import { explain } from "./reasons.js";
import { utf8Length, writeUtf8 } from "./mqtt/utf8.js";

/** The property that marks a telemetry message as linkguard diagnostics (routable on the hub). */
const DIAGNOSTICS_PROPERTY = "linkguard";
const DIAGNOSTICS_VALUE = "diagnostics";

/** Record what a command says about the link. Returns nothing; never throws. */
export function observe(d: Diagnostics, c: Command, nowMs: number): void {
  if (c.type === "notify") {
    const st = c.status;
    const why = explain(st.code, st.text);
    d.record({ atMs: nowMs, state: st.state, code: st.code, reason: st.delayMs === undefined ? why : why + "; next try in " + st.delayMs + " ms" });
    if (st.state === "connecting") d.connectAttempted();
    else if (st.state === "connected") d.connected(nowMs);
    else if (st.state === "waiting" || st.state === "halted" || (st.state === "idle" && st.code !== "idle")) {
      if (st.code === "start" || st.code === "restored") return;
      d.dropped(nowMs, st.code, why);
      if (st.code === "duplicate.suspected") d.suspectedDuplicate();
    }
  } else if (c.type === "log") {
    d.record({ atMs: nowMs, state: "", code: c.code, reason: c.text });
  } else if (c.type === "dropped") {
    d.queueDropped(1);
    d.record({ atMs: nowMs, state: "", code: "telemetry." + c.why, reason: "message " + c.id + " not sent (" + c.why + ")" });
  }
}

/**
 * A telemetry message carrying the counters and the ring as JSON, marked with the property
 * linkguard=diagnostics (and content type application/json) so a hub route can separate it.
 */
export function diagnosticsMessage(d: Diagnostics, id: number, nowMs: number): Outbound {
  const text = JSON.stringify({ atMs: nowMs, counters: d.counters(nowMs), events: d.snapshot() });
  const payload = new Uint8Array(utf8Length(text));
  writeUtf8(text, payload, 0);
  const props: { [k: string]: string } = {};
  props[DIAGNOSTICS_PROPERTY] = DIAGNOSTICS_VALUE;
  props["$.ct"] = "application/json";
  props["$.ce"] = "utf-8";
  return { id: id, payload: payload, qos: 1, properties: props };
}
