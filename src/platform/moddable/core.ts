// The core as one Moddable module ("linkguard/core", preloaded: it lives in flash) and, built
// as a script, as the global `linkguard` that the XS conformance suite loads into xsnap.
// Only what a device needs: the link, its reason table and the codec (the configuration
// validator stays on the host: `linkguard build` validates before anything reaches a device).

export { createLink, step, TIMER_KINDS, MIN_PLAUSIBLE_EPOCH_SEC } from "../../core/link.js";
export { describe, explain, REASONS } from "../../core/reasons.js";
export type { LinkState, LinkEvent, Command, Status, Persisted, Outbound, CloseCause, TimerKind } from "../../core/link.js";
export { encode, feed, decodePacket, anyPacket, fromServer, EMPTY_DECODER } from "../../core/mqtt/index.js";
export type { Packet } from "../../core/mqtt/index.js";
export { hmacSha256 } from "../../core/crypto/hmac.js";
// what the Moddable shell and firmware (modules/main.js) import from "linkguard/core": every
// name they import must be exported here, or XS aborts the app at load (`import x not found`);
// `linkguard build --target moddable` checks it (src/bundle/guards-moddable.ts)
export { deliver } from "../../core/app.js";
export { Diagnostics } from "../../core/diagnostics.js";
export { observe, diagnosticsMessage } from "../../core/observe.js";
export { seedFrom } from "../../core/rand.js";
// the runner every shell shares (src/platform/runner.ts), preloaded with the core: its module-level
// functions then live in flash, not in the app's RAM
export { runner, deviceLink, closeCause, SAW_TCP, SAW_UP, SAW_ERROR, SAW_CERT, SAW_CA, SAW_ASKED } from "../runner.js";
export type { HmacFn } from "../../core/crypto/hmac.js";
export type { DeviceConfig } from "../../core/config.js";
