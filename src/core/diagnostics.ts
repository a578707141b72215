// Why the link fell: a bounded ring of link events plus counters. No timers, no clock: the
// caller passes the time of each fact. Defence in depth: nothing that looks like a SAS
// token or signature is ever stored, and the caller's secrets are redacted on the way in.

export interface LinkEvent {
  /** monotonic ms of the fact */
  atMs: number;
  /** link state after the fact, e.g. "waiting" */
  state: string;
  /** hub code (404104), CONNACK code, or a stable string code ("mqtt.lengthTooLong"); "" if none */
  code: number | string;
  reason: string;
}

export interface DiagnosticsCounters {
  /** CONNACKs accepted */
  connects: number;
  /** transports opened for a connect */
  connectAttempts: number;
  /** drops by code (as a string key) */
  drops: { [code: string]: number };
  /** links closed soon after CONNACK, as a duplicate identity would cause */
  suspectedDuplicates: number;
  /** telemetry dropped by the queue's overflow policy */
  queueDrops: number;
  /** total ms connected (closed periods, plus the open one up to nowMs when given) */
  connectedMs: number;
  lastError: { atMs: number; code: number | string; reason: string } | null;
}

export interface DiagnosticsOptions {
  /** events kept; the oldest is overwritten; default 32 */
  capacity?: number;
  /** strings to redact from every stored text, e.g. the device key */
  secrets?: string[];
}

export const DEFAULT_CAPACITY = 32;
/** longest stored text; longer reasons are cut */
export const MAX_TEXT = 160;
const REDACTED = "[redacted]";

/** every occurrence of each non-empty secret replaced by "[redacted]" */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (let i = 0; i < secrets.length; i++) {
    const s = secrets[i];
    if (typeof s !== "string" || s.length === 0) continue;
    let at = out.indexOf(s);
    while (at >= 0) {
      out = out.substring(0, at) + REDACTED + out.substring(at + s.length);
      at = out.indexOf(s, at + REDACTED.length);
    }
  }
  return out;
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** end of the run of non-space characters from i */
function tokenEnd(s: string, i: number): number {
  let j = i;
  while (j < s.length && s.charCodeAt(j) > 32) j++;
  return j;
}

/**
 * Strips anything that looks like a credential: "SharedAccessSignature ..." up to the end
 * of its token, and "sig=..." up to the next "&" or space (case-insensitive).
 */
export function stripCredentials(text: string): string {
  let out = text;
  let lower = out.toLowerCase();
  let at = lower.indexOf("sharedaccesssignature");
  while (at >= 0) {
    let j = at + 21;
    while (j < out.length && out.charCodeAt(j) === 32) j++;
    const end = tokenEnd(out, j);
    out = out.substring(0, at) + REDACTED + out.substring(end);
    lower = out.toLowerCase();
    at = lower.indexOf("sharedaccesssignature", at + REDACTED.length);
  }
  at = lower.indexOf("sig=");
  while (at >= 0) {
    if (at === 0 || !isWordChar(out.charCodeAt(at - 1))) {
      let j = at + 4;
      while (j < out.length && out.charCodeAt(j) > 32 && out.charAt(j) !== "&") j++;
      out = out.substring(0, at + 4) + REDACTED + out.substring(j);
      lower = out.toLowerCase();
      at = lower.indexOf("sig=", at + 4 + REDACTED.length);
    } else {
      at = lower.indexOf("sig=", at + 4);
    }
  }
  return out;
}

/** A bounded event ring and link counters. */
export class Diagnostics {
  private ring: LinkEvent[];
  private next: number;
  private count: number;
  private secrets: string[];
  private c: DiagnosticsCounters;
  /** ms at which the current connected period began, or -1 */
  private upSinceMs: number;

  constructor(opts?: DiagnosticsOptions) {
    const o = opts || {};
    const cap = o.capacity === undefined ? DEFAULT_CAPACITY : o.capacity;
    if (!(cap >= 1) || Math.floor(cap) !== cap) throw new RangeError("diagnostics capacity must be an integer >= 1");
    this.ring = [];
    for (let i = 0; i < cap; i++) this.ring.push({ atMs: 0, state: "", code: "", reason: "" });
    this.next = 0;
    this.count = 0;
    this.secrets = o.secrets ? o.secrets.slice() : [];
    this.c = Diagnostics.zero();
    this.upSinceMs = -1;
  }

  private static zero(): DiagnosticsCounters {
    return { connects: 0, connectAttempts: 0, drops: {}, suspectedDuplicates: 0, queueDrops: 0, connectedMs: 0, lastError: null };
  }

  /** text made safe to keep: credentials stripped, secrets redacted, length bounded */
  clean(text: string): string {
    const t = stripCredentials(redact(String(text), this.secrets));
    return t.length > MAX_TEXT ? t.substring(0, MAX_TEXT) : t;
  }

  private cleanCode(code: number | string): number | string {
    return typeof code === "number" ? code : this.clean(code);
  }

  get capacity(): number { return this.ring.length; }
  get size(): number { return this.count; }

  /** Appends an event, overwriting the oldest when full. The slot objects are reused. */
  record(e: LinkEvent): void {
    const slot = this.ring[this.next];
    slot.atMs = e.atMs;
    slot.state = this.clean(e.state);
    slot.code = this.cleanCode(e.code);
    slot.reason = this.clean(e.reason);
    this.next = (this.next + 1) % this.ring.length;
    if (this.count < this.ring.length) this.count++;
  }

  /** copies of the stored events, oldest first */
  snapshot(): LinkEvent[] {
    const out: LinkEvent[] = [];
    const cap = this.ring.length;
    const start = (this.next - this.count + cap) % cap;
    for (let i = 0; i < this.count; i++) {
      const s = this.ring[(start + i) % cap];
      out.push({ atMs: s.atMs, state: s.state, code: s.code, reason: s.reason });
    }
    return out;
  }

  connectAttempted(): void { this.c.connectAttempts++; }

  /** a CONNACK 0 at atMs: a connected period begins */
  connected(atMs: number): void {
    this.c.connects++;
    if (this.upSinceMs < 0) this.upSinceMs = atMs;
  }

  /** the transport closed (or a connect failed) at atMs for code/reason */
  dropped(atMs: number, code: number | string, reason: string): void {
    const key = String(this.cleanCode(code));
    this.c.drops[key] = (this.c.drops[key] || 0) + 1;
    if (this.upSinceMs >= 0) {
      if (atMs > this.upSinceMs) this.c.connectedMs += atMs - this.upSinceMs;
      this.upSinceMs = -1;
    }
    this.error(atMs, code, reason);
  }

  /** the last error seen, without counting a drop */
  error(atMs: number, code: number | string, reason: string): void {
    this.c.lastError = { atMs: atMs, code: this.cleanCode(code), reason: this.clean(reason) };
  }

  suspectedDuplicate(): void { this.c.suspectedDuplicates++; }

  queueDropped(n: number): void { if (n > 0) this.c.queueDrops += n; }

  /** a copy of the counters; with nowMs, connectedMs includes the open connected period */
  counters(nowMs?: number): DiagnosticsCounters {
    const c = this.c;
    const drops: { [code: string]: number } = {};
    const keys = Object.keys(c.drops);
    for (let i = 0; i < keys.length; i++) drops[keys[i]] = c.drops[keys[i]];
    let up = c.connectedMs;
    if (nowMs !== undefined && this.upSinceMs >= 0 && nowMs > this.upSinceMs) up += nowMs - this.upSinceMs;
    const last = c.lastError;
    return {
      connects: c.connects, connectAttempts: c.connectAttempts, drops: drops,
      suspectedDuplicates: c.suspectedDuplicates, queueDrops: c.queueDrops, connectedMs: up,
      lastError: last === null ? null : { atMs: last.atMs, code: last.code, reason: last.reason },
    };
  }

  /** forgets events and counters */
  clear(): void {
    this.next = 0;
    this.count = 0;
    this.c = Diagnostics.zero();
    this.upSinceMs = -1;
  }
}
