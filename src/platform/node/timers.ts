// Timers for the node shell: at most one pending timer per kind (DESIGN.md invariant 6 holds
// in the core; this only makes "start again" replace the pending one, as ports.Timers says).

import type { TimerKind } from "../../core/link.js";
import type { Report, Timers } from "../../core/ports.js";

export class NodeTimers implements Timers {
  private pending: { [kind: string]: NodeJS.Timeout } = {};

  start(kind: TimerKind, ms: number, report: Report): void {
    this.cancel(kind);
    const t = setTimeout(() => {
      if (this.pending[kind] === t) delete this.pending[kind];
      report({ type: "timerFired", kind: kind });
    }, ms);
    this.pending[kind] = t;
  }

  cancel(kind: TimerKind): void {
    const t = this.pending[kind];
    if (t !== undefined) {
      clearTimeout(t);
      delete this.pending[kind];
    }
  }

  /** kinds with a pending timer */
  kinds(): string[] {
    return Object.keys(this.pending);
  }

  cancelAll(): void {
    const ks = Object.keys(this.pending);
    for (let i = 0; i < ks.length; i++) this.cancel(ks[i] as TimerKind);
  }
}
