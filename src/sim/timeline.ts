// A device's link over time, as the shell saw the core's `notify` commands, and how to show
// it: terminal lines (colourised on a TTY), reconnect delays, percentiles.

import { describe } from "../core/link.js";

export interface TimelineEntry {
  /** ms since the run began */
  atMs: number;
  deviceId: string;
  state: string;
  code: string;
  /** the core's status text (never a key or token) */
  text: string;
  attempt: number;
  gen: number;
  /** the backoff chosen, when entering `waiting` */
  delayMs?: number;
}

export interface DelayStats { min: number; p50: number; p99: number; max: number }

/** Nearest-rank percentile of sorted values (0 for none). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function delayStats(values: readonly number[]): DelayStats {
  const s = values.slice().sort((a, b) => a - b);
  return { min: s.length ? s[0] : 0, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : 0 };
}

/**
 * Reconnect delays measured on a timeline: from entering `waiting` after a close to the next
 * `connecting` (the transport is opened then). Waits cut by the end of the run are left out.
 */
export function reconnectDelays(tl: readonly TimelineEntry[]): number[] {
  const out: number[] = [];
  let waitAt = -1;
  for (let i = 0; i < tl.length; i++) {
    const e = tl[i];
    if (e.state === "waiting") {
      if (waitAt < 0) waitAt = e.atMs;
    } else if (e.state === "connecting" && waitAt >= 0) {
      out.push(e.atMs - waitAt);
      waitAt = -1;
    } else if (e.state !== "waiting") {
      waitAt = -1;
    }
  }
  return out;
}

// ---- terminal -----------------------------------------------------------------------------

const ESC = "\u001b[";
export const COLORS: { [name: string]: string } = Object.freeze({
  reset: ESC + "0m", dim: ESC + "2m", bold: ESC + "1m", red: ESC + "31m", green: ESC + "32m",
  yellow: ESC + "33m", blue: ESC + "34m", magenta: ESC + "35m", cyan: ESC + "36m", gray: ESC + "90m",
});

/** The colour of each link state (terminal and HTML use the same palette). */
export const STATE_COLOR: { [state: string]: string } = Object.freeze({
  idle: "gray", connecting: "cyan", handshaking: "blue", connected: "green", closing: "yellow", waiting: "magenta", halted: "red",
});

export const STATE_HEX: { [state: string]: string } = Object.freeze({
  idle: "#9e9e9e", connecting: "#4dd0e1", handshaking: "#5c6bc0", connected: "#43a047", closing: "#fbc02d", waiting: "#ce93d8", halted: "#e53935",
});

export class Painter {
  constructor(readonly enabled: boolean) {}
  paint(color: string, s: string): string {
    if (!this.enabled) return s;
    const c = COLORS[color];
    return c ? c + s + COLORS.reset : s;
  }
}

/** Whether a stream should get colours: a TTY, unless NO_COLOR is set (no-color.org). */
export function wantsColor(stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
}

export function fmtSec(ms: number): string {
  return (ms / 1000).toFixed(3) + "s";
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** "  12.345s  dev-0001  waiting      remote.close        wait 2.31 s  attempt 1  — text" */
export function formatEntry(e: TimelineEntry, p: Painter, showDevice: boolean): string {
  const t = pad(fmtSec(e.atMs), 9);
  const dev = showDevice ? pad(e.deviceId, 10) + " " : "";
  const st = p.paint(STATE_COLOR[e.state] || "reset", pad(e.state, 11));
  let extra = "";
  if (e.delayMs !== undefined) extra = p.paint("bold", "wait " + (e.delayMs / 1000).toFixed(2) + " s") + "  attempt " + e.attempt + "  ";
  return "  " + p.paint("dim", t) + "  " + dev + st + " " + pad(e.code, 20) + " " + extra + p.paint("dim", "— " + e.text);
}

/** A `log` command of the core: "  12.345s  link.stable: link stable for 2000 ms: backoff reset" */
export function formatLog(atMs: number, code: string, text: string, p: Painter): string {
  return "  " + p.paint("dim", pad(fmtSec(atMs), 9)) + "  " + pad("", 11) + " " + p.paint("dim", code + ": " + text);
}

/** A hub diagnostic line: "  12.400s  hub  409002 LinkCreationConflict  dev-0001  (why)" */
export function formatHubLine(atMs: number, key: string, deviceId: string, why: string | undefined, p: Painter): string {
  const bad = key.indexOf("409002") === 0 || key.indexOf("400027") === 0;
  const color = bad ? "red" : key.indexOf("404104") === 0 ? "yellow" : "gray";
  return "  " + p.paint("dim", pad(fmtSec(atMs), 9)) + "  " + p.paint("bold", "hub") + "        " + p.paint(color, key) + "  " + deviceId + (why ? p.paint("dim", "  (" + why + ")") : "");
}

/** The reason table entry of a code, for summaries. */
export function reasonText(code: string): string {
  return describe(code);
}
