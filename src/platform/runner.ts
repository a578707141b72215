// The one loop every shell runs (Node, Moddable, Espruino): it hands events to the core one at
// a time, runs the commands the core returns, in order, through the platform's ports
// (core/ports.ts), and feeds back as events what the ports report. It decides nothing about the
// link: which close halts and which retries is the core's. What it does decide, the same on
// every platform: an event raised while a step runs waits its turn (the core is never
// re-entered), and an exception from the core, a callback or the platform is caught here, at the
// edge, and reported ("shell.stepFailed", "shell.exception") instead of killing the loop.
//
// Written once for three engines: ES5 after compilation, no Map/Set/Symbol/iterators/async, no
// closure per event, nothing called at load time (ENGINES.md).

import type { CloseCause, Command, LinkEvent, LinkState } from "../core/link.js";
import { step } from "../core/link.js";
import type { Clock, DeviceLink, LinkCallbacks, PortEvent, Storage, Timers, Transport, WallClock } from "../core/ports.js";
import { deliver } from "../core/app.js";

// What an adapter saw of a transport, as bits: closeCause() turns them into the CloseCause the
// core reads, the same way on every platform.
/** the TCP connection was made (or a reset came from a peer that TCP reached) */
export const SAW_TCP = 1;
/** the transport was usable: TLS handshake done (or bytes came through it); plaintext: connected */
export const SAW_UP = 2;
/** the platform reported an error */
export const SAW_ERROR = 4;
/** the platform named the peer's certificate as rejected */
export const SAW_CERT = 8;
/** the platform could not use the configured CA certificate */
export const SAW_CA = 16;
/** the device asked for the close (close(gen)) */
export const SAW_ASKED = 32;

/**
 * The cause of a transport's end from what its adapter saw. A certificate or CA failure is said
 * even when it ends a close the device asked for (the core halts on both); before the transport
 * was up, a TLS failure needs the TCP connection to have been made, or nothing says it was TLS.
 */
export function closeCause(seen: number, tls: boolean): CloseCause {
  if (seen & SAW_CERT) return "cert";
  if (seen & SAW_CA) return "ca";
  if (seen & SAW_ASKED) return "local";
  if (seen & SAW_UP) return seen & SAW_ERROR ? "error" : "remote";
  return tls && seen & SAW_TCP ? "tls" : "error";
}

/** One step of the core: the core in this engine (deviceLink below), or in another (Node's XS engine, node/engine.ts). */
export interface Engine { handle(e: LinkEvent, nowMs: number): Command[] }

export interface RunnerOptions {
  engine: Engine;
  transport: Transport;
  timers: Timers;
  /** monotonic ms for each step, wall-clock seconds for each transportOpened */
  clock: Clock & WallClock;
  /** where `persist` goes and `start` reads from; default none */
  storage?: Storage;
  /** the application's callbacks (core/app.ts deliver) */
  app?: LinkCallbacks;
  /** every command, before it runs: the diagnostics (core/observe.ts), Node's observers */
  onCommand?: (c: Command, nowMs: number) => void;
  /** a fault caught at the edge: code "shell.stepFailed" or "shell.exception", one line of text; default app.onLog */
  onFault?: (code: string, text: string) => void;
}

export interface Runner {
  /** where start reads the persisted record (RunnerOptions.storage) */
  storage?: Storage;
  /**
   * Hands an event to the core; one raised while a step runs waits its turn. The ports report
   * through it (it is their Report): a transportOpened gets the wall clock's epochSec here.
   */
  post(e: LinkEvent | PortEvent): void;
  /** posts start, with the persisted record if storage has one (Storage.load never throws) */
  start(seed?: number): void;
}

export function runner(o: RunnerOptions): Runner {
  const tr = o.transport;
  const queue: LinkEvent[] = [];
  let busy = false;
  /** the generation last opened and not reported closed: closed if a step fails */
  let live = 0;

  /** where a fault caught at the edge is said; the saying itself must not throw */
  const fault = o.onFault || (o.app && o.app.onLog) || function () { /* nobody listens */ };

  function post(e: LinkEvent | PortEvent): void {
    if (e.type === "transportOpened") {
      if ((e as { epochSec?: number }).epochSec === undefined) e = { type: "transportOpened", gen: e.gen, epochSec: o.clock.epochSec() };
    } else if ((e.type === "transportClosed" || e.type === "transportCloseFailed") && e.gen === live) {
      live = 0;
    }
    queue.push(e as LinkEvent);
    if (busy) return;
    busy = true;
    try {
      while (queue.length > 0) {
        const ev = queue.shift() as LinkEvent;
        const t = o.clock.nowMs();
        let cs: Command[];
        try {
          cs = o.engine.handle(ev, t);
        } catch (x) {
          // A core bug or an engine quirk (a frozen buffer): the event is lost and the state is
          // the one before it. A live transport is closed, so the link backs off and reconnects
          // instead of waiting for bytes whose meaning it never learnt; its close is reported
          // as the transport sees it.
          try { fault("shell.stepFailed", ev.type + ": " + String(x)); } catch (y) { /* see fault */ }
          if (live !== 0) tr.close(live);
          continue;
        }
        // the commands, in order, through the ports
        for (let i = 0; i < cs.length; i++) {
          const c = cs[i];
          try {
            if (o.onCommand) o.onCommand(c, t);
            switch (c.type) {
              case "openTransport": live = c.gen; tr.open(c.gen, c.host, c.port, c.tls, post); break;
              case "write": tr.write(c.gen, c.bytes); break;
              case "closeTransport": tr.close(c.gen); break;
              case "startTimer": o.timers.start(c.kind, c.ms, post); break;
              case "cancelTimer": o.timers.cancel(c.kind); break;
              case "persist": if (o.storage) o.storage.save(c.data); break;
              default: if (o.app) deliver(o.app, c);
            }
          } catch (x) {
            // an application callback or the platform threw: say so, run the rest
            try { fault("shell.exception", c.type + ": " + String(x)); } catch (y) { /* see fault */ }
          }
        }
      }
    } finally {
      busy = false;
    }
  }

  return { post: post, start: runnerStart, storage: o.storage };
}

/** A runner, or a device link, as start sees it: its post and where the persisted record is. */
interface Starter { post(e: LinkEvent): void; storage?: Storage }

/**
 * Runner.start and DeviceLink.start: posts start, with the persisted record if storage has one
 * (Storage.load never throws). At module level and reading `this`, like the device link's
 * other methods below: a function object shared, not a closure per link (JsVars on Espruino).
 */
function runnerStart(this: Starter, seed?: number): void {
  this.post({ type: "start", seed: seed, restored: this.storage ? this.storage.load() : undefined });
}

/** The options of a runner whose core runs in this engine (the device shells). */
export type DeviceOptions = Pick<RunnerOptions, "transport" | "timers" | "clock" | "storage" | "app" | "onCommand" | "onFault"> & { engine?: Engine };

/**
 * The core in this engine as a DeviceLink: the link state, stepped in place by stepInPlace, the
 * runner's post, and the next message id. One object whose methods are the module-level
 * functions below, reading it through `this`: call them as methods (link.start(), not a
 * detached start()).
 */
interface LocalLink extends Engine, Starter, DeviceLink {
  current: LinkState;
  nextId: number;
}

/**
 * One step of the core in this engine, as a method of a LocalLink. At module level, never a
 * closure: on Espruino every function object made at run time keeps a copy of its source text
 * when the code runs from RAM, and step's text, which the minifier inlines here, is most of the
 * core (inlined into a closure, it cost 558 JsVars more).
 */
function stepInPlace(this: LocalLink, e: LinkEvent, nowMs: number): Command[] {
  const x = step(this.current, e, nowMs);
  this.current = x.state;
  return x.commands;
}

function linkPublish(this: LocalLink, payload: Uint8Array, qos: 0 | 1, properties?: { [k: string]: string }): number {
  const id = this.nextId++;
  this.post({ type: "publish", msg: { id: id, payload: payload, qos: qos, properties: properties } });
  return id;
}

function linkStop(this: LocalLink): void {
  this.post({ type: "stop" });
}

function linkState(this: LocalLink): LinkState {
  return this.current;
}

/**
 * A device shell's DeviceLink: the core stepped in place from `s`, run by a runner on the
 * device's ports. Message ids are numbered here.
 */
export function deviceLink(s: LinkState, o: DeviceOptions): DeviceLink {
  const l = {
    current: s, handle: stepInPlace, nextId: 1, storage: o.storage,
    publish: linkPublish, start: runnerStart, stop: linkStop, state: linkState,
  } as LocalLink; // and post, the runner's, just below
  o.engine = l;
  l.post = runner(o as RunnerOptions).post; // o is the shell's own object literal: completed, not copied
  return l;
}
