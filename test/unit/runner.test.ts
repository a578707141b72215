// The one runner every shell runs (src/platform/runner.ts): events one at a time, commands in
// order through the ports, exceptions caught at the edge and reported, and the one mapping from
// what a transport saw to a CloseCause.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Command, LinkEvent, TimerKind } from "../../src/core/link.js";
import { Report, Transport, Timers } from "../../src/core/ports.js";
import { closeCause, runner, RunnerOptions, SAW_ASKED, SAW_CA, SAW_CERT, SAW_ERROR, SAW_TCP, SAW_UP } from "../../src/platform/runner.js";

/** Ports that record every call; the engine answers each event with what `script` gives. */
function harness(script: (e: LinkEvent) => Command[], extra?: Partial<RunnerOptions>) {
  const calls: string[] = [];
  const events: LinkEvent[] = [];
  let sink: Report | null = null;
  let timerSink: Report | null = null;
  const transport: Transport = {
    open(gen, host, port, tls, s) { calls.push("open " + gen); sink = s; },
    write(gen, bytes) { calls.push("write " + gen + " " + bytes.length); },
    close(gen) { calls.push("close " + gen); },
  };
  const timers: Timers = {
    start(kind: TimerKind, ms: number, s: Report) { calls.push("start " + kind + " " + ms); timerSink = s; },
    cancel(kind: TimerKind) { calls.push("cancel " + kind); },
  };
  const r = runner(Object.assign({
    engine: { handle(e: LinkEvent) { events.push(e); return script(e); } },
    transport, timers,
    clock: { nowMs: () => 7, epochSec: () => 1_800_000_000 },
  }, extra || {}) as RunnerOptions);
  return { r, calls, events, sink: () => sink!, timerSink: () => timerSink! };
}

test("closeCause: one mapping from what a transport saw, for every platform", () => {
  assert.equal(closeCause(SAW_ERROR, false), "error", "refused plaintext");
  assert.equal(closeCause(SAW_ERROR, true), "error", "refused TLS: TCP was never reached");
  assert.equal(closeCause(SAW_TCP | SAW_ERROR, true), "tls", "an error after TCP, before the handshake");
  assert.equal(closeCause(SAW_TCP, true), "tls", "EOF during the handshake");
  assert.equal(closeCause(SAW_TCP | SAW_UP, true), "remote", "EOF on an open link");
  assert.equal(closeCause(SAW_TCP | SAW_UP | SAW_ERROR, true), "error");
  assert.equal(closeCause(SAW_TCP | SAW_UP | SAW_ASKED, true), "local");
  assert.equal(closeCause(SAW_ERROR | SAW_CERT | SAW_ASKED, true), "cert", "a rejected certificate is said even as the answer to our close");
  assert.equal(closeCause(SAW_ERROR | SAW_CA, true), "ca");
});

test("events raised while a step runs wait their turn; commands run in order through the ports", () => {
  let depth = 0, maxDepth = 0;
  const h = harness((e) => {
    depth++; maxDepth = Math.max(maxDepth, depth);
    let out: Command[] = [];
    if (e.type === "start") out = [{ type: "openTransport", gen: 1, host: "h", port: 1, tls: true }, { type: "startTimer", kind: "connect", ms: 100 }];
    if (e.type === "transportOpened") out = [{ type: "write", gen: 1, bytes: new Uint8Array(3) }, { type: "cancelTimer", kind: "connect" }];
    depth--;
    return out;
  });
  h.r.start();
  h.sink()({ type: "transportOpened", gen: 1 }); // as a platform would, from its own callback
  h.timerSink()({ type: "timerFired", kind: "ping" });
  assert.deepEqual(h.calls, ["open 1", "start connect 100", "write 1 3", "cancel connect"]);
  assert.deepEqual(h.events.map((e) => e.type), ["start", "transportOpened", "timerFired"]);
  assert.deepEqual(h.events[1], { type: "transportOpened", gen: 1, epochSec: 1_800_000_000 });
  assert.equal(maxDepth, 1);
});

test("a report from inside a command waits until the commands before it have run", () => {
  const calls: string[] = [];
  const events: string[] = [];
  const r = runner({
    engine: { handle(e: LinkEvent) { events.push(e.type); return e.type === "start" ? [{ type: "openTransport", gen: 1, host: "h", port: 1, tls: false }, { type: "log", code: "after", text: "" }] : []; } },
    // a transport that reports during open (it must not; the runner copes anyway)
    transport: { open(gen, _h, _p, _t, s) { calls.push("open"); s({ type: "transportClosed", gen: gen, cause: "error", detail: "refused" }); }, write() {}, close() {} },
    timers: { start() {}, cancel() {} },
    clock: { nowMs: () => 0, epochSec: () => 0 },
    app: { onLog: (code) => calls.push("log " + code) },
  });
  r.start();
  assert.deepEqual(calls, ["open", "log after"]);
  assert.deepEqual(events, ["start", "transportClosed"]);
});

test("step() that throws is reported as shell.stepFailed and the live transport is asked to close", () => {
  const faults: string[] = [];
  const h = harness((e) => {
    if (e.type === "start") return [{ type: "openTransport", gen: 4, host: "h", port: 1, tls: true }];
    if (e.type === "transportOpened") throw new TypeError("boom");
    return [];
  }, { onFault: (code, text) => faults.push(code + " " + text) });
  h.r.start();
  h.sink()({ type: "transportOpened", gen: 4 });
  assert.deepEqual(faults, ["shell.stepFailed transportOpened: TypeError: boom"]);
  assert.deepEqual(h.calls, ["open 4", "close 4"]);
  // once the transport reported its close, a later failure closes nothing
  h.sink()({ type: "transportClosed", gen: 4, cause: "local" });
  h.r.post({ type: "transportOpened", gen: 4, epochSec: 0 });
  assert.deepEqual(h.calls, ["open 4", "close 4"]);
});

test("an application callback that throws is reported as shell.exception (to onLog by default); the rest runs", () => {
  const logs: string[] = [];
  const h = harness((e) => e.type === "start" ? [
    { type: "notify", status: { state: "connecting", code: "start", text: "start", gen: 1, attempt: 0 } },
    { type: "openTransport", gen: 1, host: "h", port: 1, tls: true },
  ] : [], { app: { onStatus: () => { throw new Error("app bug"); }, onLog: (code, text) => logs.push(code + " " + text) } });
  h.r.start();
  assert.deepEqual(logs, ["shell.exception notify: Error: app bug"]);
  assert.deepEqual(h.calls, ["open 1"]);
});

test("a transportOpened a port reports gets the wall clock; persist and start go through Storage", () => {
  const saved: unknown[] = [];
  const h = harness((e) => e.type === "start" ? [{ type: "persist", data: { attempt: 2, lastError: "x" } }] : [], {
    storage: { load: () => ({ attempt: 1, lastError: "remote.close" }), save: (d) => { saved.push(d); } },
  });
  h.r.start(9);
  assert.deepEqual(h.events[0], { type: "start", seed: 9, restored: { attempt: 1, lastError: "remote.close" } });
  assert.deepEqual(saved, [{ attempt: 2, lastError: "x" }]);
  h.r.post({ type: "transportOpened", gen: 3 });
  assert.deepEqual(h.events[1], { type: "transportOpened", gen: 3, epochSec: 1_800_000_000 });
  h.r.post({ type: "transportOpened", gen: 3, epochSec: 5 });
  assert.deepEqual(h.events[2], { type: "transportOpened", gen: 3, epochSec: 5 }, "a stamped one is kept as it is");
});
