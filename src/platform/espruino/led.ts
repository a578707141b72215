// The status LED: one blink pattern per link state, from the board profile (hardware/*.json).
// A pattern is [onMs, offMs]: [1, 0] is steady on, [0, 1] steady off.

export interface LedProfile {
  pin: any;
  activeLow?: boolean;
  /** link state -> [onMs, offMs] */
  patterns: { [state: string]: number[] };
}

/**
 * The LED's state. The functions below read it as an argument (setTimeout passes it to ledTick)
 * or as `this` (show): declared once, not closures, which would hold JsVars as long as the
 * device runs.
 */
interface Led {
  /** shows the pattern of a link state */
  show(state: string): void;
  profile: LedProfile;
  /** the pending blink's timer, or undefined */
  timer: any;
  pattern: number[];
  lit: boolean;
}

function ledWrite(l: Led, on: boolean): void {
  l.lit = on;
  digitalWrite(l.profile.pin, on !== !!l.profile.activeLow ? 1 : 0);
}

function ledTick(l: Led): void {
  const on = l.pattern[0], off = l.pattern[1];
  l.timer = undefined;
  if (on <= 0 || off <= 0) { ledWrite(l, on > 0); return; }
  ledWrite(l, !l.lit);
  l.timer = setTimeout(ledTick, l.lit ? on : off, l);
}

function ledShow(this: Led, state: string): void {
  const l = this;
  const next = l.profile.patterns[state] || [0, 1];
  if (next[0] === l.pattern[0] && next[1] === l.pattern[1]) return;
  l.pattern = next;
  if (l.timer !== undefined) clearTimeout(l.timer);
  l.lit = false;
  ledTick(l);
}

function noLed(): void { /* no LED on this board */ }

/** The board's status LED, or one that shows nothing; call show as a method (`led.show(state)`). */
export function statusLed(p: LedProfile | null | undefined): { show(state: string): void } {
  if (!p || p.pin === null || p.pin === undefined) return { show: noLed };
  const l: Led = { show: ledShow, profile: p, timer: undefined, pattern: [0, 1], lit: false };
  return l;
}
