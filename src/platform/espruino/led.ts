// The status LED: one blink pattern per link state, from the board profile (hardware/*.json).
// A pattern is [onMs, offMs]: [1, 0] is steady on, [0, 1] steady off.

export interface LedProfile {
  pin: any;
  activeLow?: boolean;
  /** link state -> [onMs, offMs] */
  patterns: { [state: string]: number[] };
}

export function statusLed(p: LedProfile | null | undefined): (state: string) => void {
  if (!p || p.pin === null || p.pin === undefined) return function () { /* no LED on this board */ };
  let t: any;
  let pattern: number[] = [0, 1];
  let lit = false;
  function write(on: boolean): void {
    lit = on;
    digitalWrite(p!.pin, on !== !!p!.activeLow ? 1 : 0);
  }
  function tick(): void {
    t = undefined;
    const on = pattern[0], off = pattern[1];
    if (on <= 0 || off <= 0) { write(on > 0); return; }
    write(!lit);
    t = setTimeout(tick, lit ? on : off);
  }
  return function (state: string): void {
    const next = p!.patterns[state] || [0, 1];
    if (next[0] === pattern[0] && next[1] === pattern[1]) return;
    pattern = next;
    if (t !== undefined) clearTimeout(t);
    lit = false;
    tick();
  };
}
