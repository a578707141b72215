// The commands `linkguard hub` takes while it runs (stdin, or its loopback control port), and
// how it shows each device's traffic. One command a line; a bad command is an error line,
// never the end of the hub. Nothing here prints a key or a token: telemetry and C2D lines show
// the topic, the size and a short printable preview of the payload.
import { diagProperties, type DiagRecord } from "./diaglog.js";
import { checkFault, type Fault } from "./faults.js";
import type { C2dEvent, HubEmulator, ReceivedMessage } from "./hub/emulator.js";

/** linger of `dropLinger` unless given: longer than an immediate reconnect, shorter than linkguard's default 2 s floor */
export const DROP_LINGER_MS = 1500;

export const COMMAND_HELP = `commands (one a line; DEV is a device id, or * for every device; MS is milliseconds,
or seconds with an s: 1500, 1500ms, 1.5s):
  drop DEV [LINGER]       a network drop: the hub destroys the socket; its view of the link lingers
                          LINGER (default: random in --linger), then 404104
  dropLinger DEV [LINGER] a drop whose linger is long (default ${DROP_LINGER_MS} ms): a device that reconnects
                          inside it is a 409002 LinkCreationConflict; one that waits its floor is not
  halfOpen DEV            the hub stops reading the link and ignores its close until 1.5 x keepalive
  withholdConnack DEV     the device's next CONNECT is never answered (then drop DEV to make it reconnect)
  delayConnack DEV MS     the device's next CONNECT is answered after MS
  connack DEV N           the device's next CONNECT is answered CONNACK N (1-5), then closed
  expireToken DEV         the hub treats the device's token as expired: 401003, 404104; that token gets CONNACK 5
  throttle DEV MS         every CONNECT of the device during MS gets CONNACK 3 and a 429001
  refuseTls [N | MS]      cut the next N TLS handshakes (default 1), or every handshake during MS (e.g. 5s);
                          whichever device comes next: TLS cannot tell them apart
  garbage DEV [BYTES]     write BYTES (default 8) bytes that are no MQTT packet on the device's link
  clone DEV MS            a second client with the device's identity and key, for MS
  storm [LINGER]          every link dropped at once (a hub restart)
  inject DEV JSON         any fault as data, e.g. inject dev-0001 {"kind":"drop","lingerMs":5000}
  c2d DEV TEXT            queue a cloud-to-device message (QoS 1) with TEXT as its payload
  status                  devices the hub has seen, connected or not, counters and 409002 counts
  help                    this list
  quit                    stop the hub (as Ctrl-C does)
Next-CONNECT faults (withholdConnack, delayConnack, connack, throttle) wait for the device to
reconnect; follow them with drop DEV to make it reconnect now.`;

export type Reply = { ok: true; lines: string[] } | { ok: false; error: string };

/** What the commands act on and read. */
export interface ConsoleContext {
  hub: HubEmulator;
  /** the registry's device ids */
  deviceIds: readonly string[];
  /** the hub's random linger range (for the text of drop) */
  lingerMs: { min: number; max: number };
  traffic: TrafficTally;
  /** stops the hub (quit) */
  stop: () => void;
}

/** What the hub command counts per device from the hub's callbacks, for status. */
export class TrafficTally {
  readonly seen = new Set<string>();
  readonly conflicts = new Map<string, number>();
  readonly c2dAcked = new Map<string, number>();

  diag(rec: DiagRecord): void {
    let id: string;
    try {
      id = diagProperties(rec).deviceId;
    } catch {
      return;
    }
    this.seen.add(id);
    if (rec.resultType === "409002") this.conflicts.set(id, (this.conflicts.get(id) ?? 0) + 1);
  }

  telemetry(deviceId: string): void {
    this.seen.add(deviceId);
  }

  c2d(e: C2dEvent): void {
    if (e.kind === "acked") this.c2dAcked.set(e.deviceId, (this.c2dAcked.get(e.deviceId) ?? 0) + 1);
  }
}

/** Wall-clock time of a line: HH:MM:SS.mmm (local). */
export function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." + p(d.getMilliseconds(), 3);
}

/** Printable ASCII only (anything else as "."), at most `max` characters, quoted. */
export function preview(bytes: Uint8Array, max = 48): string {
  let s = "";
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
  }
  return '"' + s + '"' + (bytes.length > max ? "…" : "");
}

/** A topic as a line may show it: no control characters. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ".");
}

export function formatTelemetry(deviceId: string, m: ReceivedMessage): string {
  return clock(m.atMs) + " " + deviceId + " telemetry " + m.payload.length + " B" + (m.dup ? " DUP" : "") + " qos " + m.qos +
    " " + printable(m.topic) + " " + preview(m.payload);
}

export function formatC2d(e: C2dEvent, nowMs: number): string {
  const head = clock(nowMs) + " " + e.deviceId + " c2d #" + e.seq + " ";
  switch (e.kind) {
    case "queued":
      return head + "queued " + e.payload.length + " B " + preview(e.payload);
    case "sent":
      return head + (e.dup ? "sent again (DUP)" : "sent") + " as packet " + e.packetId;
    case "acked":
      return head + "acknowledged (PUBACK " + e.packetId + ")";
  }
}

/** "1500", "1500ms", "1.5s" -> ms; null if none. */
export function parseMs(text: string | undefined): number | null {
  if (text === undefined) return null;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (!m) return null;
  const v = m[2] === "s" ? Number(m[1]) * 1000 : Number(m[1]);
  return Number.isFinite(v) && v <= 0x7fffffff ? Math.round(v) : null;
}

const fail = (error: string): Reply => ({ ok: false, error });
const done = (...lines: string[]): Reply => ({ ok: true, lines });

/** The command names, lower case -> the name help shows. */
const NAMES: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries([
  "drop", "dropLinger", "halfOpen", "withholdConnack", "delayConnack", "connack", "expireToken", "throttle",
  "refuseTls", "garbage", "clone", "storm", "inject", "c2d", "status", "help", "quit",
].map((n) => [n.toLowerCase(), n])));

/** Runs one command line. Never throws for what a user can type. */
export function runCommand(line: string, ctx: ConsoleContext): Reply {
  const text = line.trim();
  if (text === "" || text.startsWith("#")) return done();
  const words = text.split(/\s+/);
  const name = NAMES[words[0].toLowerCase()];
  if (!name) return fail(`unknown command ${JSON.stringify(words[0])} (help lists the commands)`);
  const args = words.slice(1);
  const usage = (u: string): Reply => fail(`${name}: usage: ${u}`);
  const device = (): string | Reply => {
    const id = args[0];
    if (id === undefined) return fail(`${name}: needs a device id (or * for every device)`);
    if (id !== "*" && ctx.deviceIds.indexOf(id) < 0) return fail(`${name}: unknown device ${JSON.stringify(id)} (the hub has ${describeIds(ctx.deviceIds)})`);
    return id;
  };
  const inject = (id: string, fault: Fault, what: string): Reply => {
    try {
      ctx.hub.inject(id, fault);
    } catch (e) {
      return fail(`${name}: ${(e as Error).message}`);
    }
    const live = id === "*" ? "" : ctx.hub.connected(id) ? "" : ` (${id} is not connected now)`;
    return done(`ok: ${what}${live}`);
  };
  const noMore = (n: number, u: string): Reply | null => (args.length > n ? usage(u) : null);

  switch (name) {
    case "help":
      return done(...COMMAND_HELP.split("\n"));
    case "status":
      return args.length > 0 ? usage("status") : done(...status(ctx));
    case "quit":
      if (args.length > 0) return usage("quit");
      ctx.stop();
      return done("ok: stopping");
    case "storm": {
      const u = "storm [LINGER]";
      const extra = noMore(1, u);
      if (extra) return extra;
      const lingerMs = parseMs(args[0]);
      if (args[0] !== undefined && lingerMs === null) return usage(u);
      return inject("*", lingerMs === null ? { kind: "storm" } : { kind: "storm", lingerMs }, "storm: every link dropped" + lingerText(lingerMs, ctx));
    }
    case "refuseTls": {
      const u = "refuseTls [N | MS with a unit, e.g. 5s]";
      const extra = noMore(1, u);
      if (extra) return extra;
      const a = args[0];
      if (a === undefined) return inject("*", { kind: "refuseTls", count: 1 }, "refuseTls: the next TLS handshake will be cut");
      if (/^\d+$/.test(a) && Number(a) >= 1 && Number(a) <= 1000) {
        return inject("*", { kind: "refuseTls", count: Number(a) }, `refuseTls: the next ${a} TLS handshake(s) will be cut`);
      }
      const ms = /(ms|s)$/.test(a) ? parseMs(a) : null;
      if (ms === null) return usage(u);
      return inject("*", { kind: "refuseTls", ms }, `refuseTls: every TLS handshake in the next ${ms} ms will be cut`);
    }
  }

  const id = device();
  if (typeof id !== "string") return id;
  switch (name) {
    case "drop":
    case "dropLinger": {
      const u = name + " DEV [LINGER]";
      const extra = noMore(2, u);
      if (extra) return extra;
      let lingerMs = parseMs(args[1]);
      if (args[1] !== undefined && lingerMs === null) return usage(u);
      if (name === "dropLinger" && lingerMs === null) lingerMs = DROP_LINGER_MS;
      const fault: Fault = lingerMs === null ? { kind: "drop" } : { kind: "drop", lingerMs };
      return inject(id, fault, `${name}: ${id}'s link dropped` + lingerText(lingerMs, ctx) +
        (name === "dropLinger" ? "; a CONNECT inside it is a 409002" : ""));
    }
    case "halfOpen":
      return noMore(1, "halfOpen DEV") ?? inject(id, { kind: "halfOpen" }, `halfOpen: the hub no longer reads ${id}'s link (until 1.5 x keepalive)`);
    case "withholdConnack":
      return noMore(1, "withholdConnack DEV") ?? inject(id, { kind: "withholdConnack" }, `withholdConnack: ${id}'s next CONNECT will not be answered`);
    case "expireToken":
      return noMore(1, "expireToken DEV") ?? inject(id, { kind: "expireToken" }, `expireToken: ${id}'s token is expired in the hub's view`);
    case "delayConnack":
    case "throttle":
    case "clone": {
      const u = name + " DEV MS";
      const ms = parseMs(args[1]);
      if (ms === null || args.length > 2) return usage(u);
      const what = name === "delayConnack" ? `delayConnack: ${id}'s next CONNACK after ${ms} ms`
        : name === "throttle" ? `throttle: ${id}'s CONNECTs in the next ${ms} ms get CONNACK 3`
        : `clone: a second client as ${id} for ${ms} ms`;
      return inject(id, { kind: name as "delayConnack" | "throttle" | "clone", ms }, what);
    }
    case "connack": {
      const code = Number(args[1]);
      if (args.length !== 2 || !/^[1-5]$/.test(args[1])) return usage("connack DEV N (N from 1 to 5)");
      return inject(id, { kind: "connack", code: code as 1 | 2 | 3 | 4 | 5 }, `connack: ${id}'s next CONNECT will be answered CONNACK ${code}`);
    }
    case "garbage": {
      const u = "garbage DEV [BYTES]";
      if (args.length > 2 || (args[1] !== undefined && !/^\d{1,5}$/.test(args[1]))) return usage(u);
      const bytes = args[1] === undefined ? undefined : Number(args[1]);
      return inject(id, bytes === undefined ? { kind: "garbage" } : { kind: "garbage", bytes }, `garbage: ${bytes ?? 8} bytes on ${id}'s link`);
    }
    case "inject": {
      const json = text.slice(text.indexOf(args[0], words[0].length) + args[0].length).trim();
      let v: unknown;
      try {
        v = JSON.parse(json);
      } catch {
        return fail(`inject: ${json === "" ? "needs a fault as JSON" : "not JSON: " + json}`);
      }
      const f = checkFault(v);
      if (!f) return fail(`inject: not a fault: ${json} (kinds: see src/sim/faults.ts)`);
      return inject(id, f, `inject: ${JSON.stringify(f)} on ${id}`);
    }
    case "c2d": {
      if (id === "*") return fail("c2d: needs one device id, not *");
      const payload = text.slice(text.indexOf(id, words[0].length) + id.length).replace(/^\s/, "");
      if (payload === "") return usage("c2d DEV TEXT");
      ctx.hub.sendC2d(id, payload);
      return done(`ok: c2d queued for ${id} (${Buffer.byteLength(payload)} B)` + (ctx.hub.connected(id) ? "" : `; ${id} is not connected now: it is delivered when it is`));
    }
  }
  return fail(`unknown command ${JSON.stringify(words[0])}`);
}

function lingerText(lingerMs: number | null, ctx: ConsoleContext): string {
  return lingerMs === null ? `; the hub's view lingers ${ctx.lingerMs.min}-${ctx.lingerMs.max} ms` : `; the hub's view lingers ${lingerMs} ms`;
}

function describeIds(ids: readonly string[]): string {
  if (ids.length === 0) return "no devices";
  if (ids.length <= 4) return ids.join(", ");
  return ids.length + " devices: " + ids.slice(0, 3).join(", ") + " … " + ids[ids.length - 1];
}

/** The status view: every device the hub has seen or holds connected, then the hub's counters. */
export function status(ctx: ConsoleContext): string[] {
  const { hub, traffic } = ctx;
  const ids = ctx.deviceIds.filter((id) => traffic.seen.has(id) || hub.connected(id) || hub.openLinks(id) > 0);
  const connected = ctx.deviceIds.filter((id) => hub.connected(id)).length;
  const out = [`status at ${clock(Date.now())}: ${connected} of ${ctx.deviceIds.length} device(s) connected in the hub's view`];
  if (ids.length > 0) {
    out.push("  " + ["device".padEnd(14), "hub's view".padEnd(12), "open links", "telemetry", "c2d acked", "c2d pending", "409002"].join("  "));
    for (const id of ids) {
      out.push("  " + [
        id.padEnd(14), (hub.connected(id) ? "connected" : "disconnected").padEnd(12), String(hub.openLinks(id)).padStart(10),
        String(hub.received(id).length).padStart(9), String(traffic.c2dAcked.get(id) ?? 0).padStart(9),
        String(hub.pendingC2d(id)).padStart(11), String(traffic.conflicts.get(id) ?? 0).padStart(6),
      ].join("  "));
    }
  }
  const rest = ctx.deviceIds.length - ids.length;
  if (rest > 0) out.push(`  ${rest} other device(s) not seen yet`);
  const s = hub.stats();
  out.push(`  connects accepted ${s.connectsAccepted} of ${s.connectAttempts} attempts; 409002 LinkCreationConflict ${s.linkCreationConflicts}` +
    ` (with the previous link still open ${s.conflictsWithOpenLink}; caused by clones ${s.cloneConflicts}); throttled ${s.throttled};` +
    ` TLS handshakes refused ${s.tlsRefused}; faults injected ${s.faultsInjected}`);
  const diag = Object.keys(s.diagnostics).sort().map((k) => `${k} x${s.diagnostics[k]}`).join(", ");
  out.push(`  diagnostics: ${diag || "none"}`);
  return out;
}
