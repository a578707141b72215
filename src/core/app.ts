// The commands that belong to the application (status, logs, delivery reports, cloud-to-device
// messages), handed to a device shell's callbacks. One place, so every shell tells the same.

import type { Command } from "./link.js";
import type { LinkCallbacks } from "./ports.js";

/** Hands `c` to its callback; false when `c` is not the application's (the shell runs it). */
export function deliver(cb: LinkCallbacks, c: Command): boolean {
  switch (c.type) {
    case "notify": if (cb.onStatus) cb.onStatus(c.status); return true;
    case "log": if (cb.onLog) cb.onLog(c.code, c.text); return true;
    case "acked": if (cb.onAcked) cb.onAcked(c.id); return true;
    case "dropped": if (cb.onDropped) cb.onDropped(c.id, c.why); return true;
    case "message": if (cb.onMessage) cb.onMessage(c.topic, c.payload, c.properties); return true;
  }
  return false;
}
