// Timers for the node shell: at most one pending timer per kind (DESIGN.md invariant 6 holds
// in the core; this only makes "start again" replace the pending one, as ports.Timers says).

import { Timers } from "../../core/ports.js";

export class NodeTimers implements Timers {
  private pending: { [kind: string]: NodeJS.Timeout } = {};

  start(kind: string, ms: number, fire: () => void): void {
    this.cancel(kind);
    const t = setTimeout(() => {
      if (this.pending[kind] === t) delete this.pending[kind];
      fire();
    }, ms);
    this.pending[kind] = t;
  }

  cancel(kind: string): void {
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
    for (let i = 0; i < ks.length; i++) this.cancel(ks[i]);
  }
}
