// The Espruino bundle: ES5 syntax, nothing Espruino lacks, and a device that connects,
// publishes QoS 1, gets PUBACKs and survives drops, run under a stand-in of Espruino's
// socket, timer, Storage and E API against the IoT Hub emulator (TLS and plaintext).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { readdirSync, readFileSync } from "node:fs";
import { espruinoBundle, scan, Bundle, mangledProps, stringLiterals, varsAfterReturn } from "./bundle.js";
import { makeStandin, Standin } from "./standin.js";
import { startHub, HubEmulator } from "../../src/sim/hub/emulator.js";
import { validateConfig } from "../../src/core/config.js";

const DEVICE = "esp-0001";
const KEY = "ZXNwcnVpbm8tZGV2aWNlLWtleS0wMTIzNDU2Nzg5YWI="; // 32 bytes
const registry = { hubName: "127.0.0.1", devices: [{ deviceId: DEVICE, symmetricKey: KEY }] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await sleep(20);
  }
}

let b: Bundle;
before(async () => { b = await espruinoBundle(); });

describe("the Espruino bundle's source", () => {
  test("parses as ES5 and uses nothing Espruino lacks (readable and minified)", () => {
    assert.deepEqual(scan(b.code), []);
    assert.deepEqual(scan(b.min), []);
  });

  test("has no compiler helpers (no __spreadArray, __extends, __assign, __read)", () => {
    assert.doesNotMatch(b.code, /__spreadArray|__extends|__assign|__read|__values|__generator|__awaiter/);
    assert.doesNotMatch(b.code, /\.prototype\.\w+\.(call|apply)\(/);
  });

  test("declares no var after a return (Espruino never runs it: the assignments leak to an outer name)", () => {
    assert.deepEqual(varsAfterReturn(b.min), []);
    assert.deepEqual(varsAfterReturn(b.code), []);
    assert.equal(varsAfterReturn("function f(){ return g((o = 1, o)); var o; }").length, 1);
    assert.deepEqual(varsAfterReturn("function f(){ var o; return g((o = 1, o)); }"), []);
  });

  test("the scanner catches what it should", () => {
    const bad = scan("var a = new Map(); Array.prototype.slice.call(arguments); Object.freeze({}); x.buffer.slice(0); Array.from([]); l: for(;;) break l;");
    assert.equal(bad.length, 6, bad.join("\n"));
    assert.deepEqual(scan("var f = Object.freeze || function (o) { return o; };"), []);
    assert.throws(() => scan("let x = 1;"));
    assert.throws(() => scan("var f = (a) => a;"));
  });

  test("size: minified and gzipped (reported, not asserted: see docs/targets.md)", () => {
    const min = Buffer.byteLength(b.min);
    const gz = gzipSync(b.min, { level: 9 }).length;
    console.log(`# espruino bundle: ${min} bytes minified, ${gz} bytes gzipped (goal 16384 minified)`);
    assert.ok(min > 0);
  });
});

describe("the property names the minifier shortens (rollup.config.mjs ESPRUINO_MANGLED_PROPS)", () => {
  /** Every key, at any depth, of some JSON values. */
  const keysOf = (...vs: unknown[]): Set<string> => {
    const out = new Set<string>();
    const walk = (v: unknown): void => {
      if (v === null || typeof v !== "object") return;
      for (const k of Object.keys(v)) { out.add(k); walk((v as { [k: string]: unknown })[k]); }
    };
    vs.forEach(walk);
    return out;
  };

  test("are never named by a string in the bundle (no computed access, quoted key or defineProperty)", async () => {
    const literals = stringLiterals(b.code);
    assert.deepEqual((await mangledProps()).filter((p) => literals.has(p)), []);
  });

  test("are no key of what the device reads or writes as JSON, no Status field and no Espruino API", async () => {
    const sym = validateConfig({ host: "h.example.net", deviceId: "d", auth: { symmetricKey: KEY }, backoff: { fleet: { devices: 10, admitPerS: 1 } } });
    const tok = validateConfig({ host: "h.example.net", deviceId: "d", auth: { sasToken: "SharedAccessSignature sr=h.example.net%2Fdevices%2Fd&sig=b&se=1" } });
    assert.ok(sym.ok && tok.ok, JSON.stringify([sym, tok]));
    const boards = readdirSync("hardware").filter((f) => f.endsWith(".json")).map((f) => JSON.parse(readFileSync("hardware/" + f, "utf8")));
    const outside = keysOf(
      sym.ok && sym.config, tok.ok && tok.config, ...boards,
      { config: 0, board: 0, ca: 0, telemetryMs: 0, sntp: 0 }, // the settings (linkguard build, Storage linkguard.json)
      { attempt: 0, lastError: 0 }, // Persisted (Storage linkguard.st)
      { state: 0, code: 0, text: 0, gen: 0, delayMs: 0 }, // Status, printed by the firmware
      { publish: 0, start: 0, stop: 0, counts: 0 }, // global.linkguard, used from the console (its state() returns a string)
      // what the bundle calls on Espruino's objects
      { write: 0, on: 0, end: 0, connect: 0, toString: 0, toUint8Array: 0, hwRand: 0, readJSON: 0, writeJSON: 0, SHA256: 0, setSNTP: 0, message: 0, host: 0, port: 0 },
    );
    assert.deepEqual((await mangledProps()).filter((p) => outside.has(p)), []);
  });
});

describe("the stand-in itself", () => {
  test("behaves like Espruino where the bundle could trip", () => {
    const st = makeStandin();
    try {
      assert.equal(st.run("typeof Array.prototype"), "undefined");
      assert.throws(() => st.run("Array.prototype.slice.call([1])"));
      assert.equal(st.run("[1, 2, 3].slice(1).length"), 2);
      assert.equal(st.run("typeof Map + typeof Set + typeof Symbol + typeof Object.freeze + typeof Array.from"), "undefinedundefinedundefinedundefinedundefined");
      assert.throws(() => st.run("clearTimeout(undefined)"));
      assert.equal(st.run("clearTimeout(null)"), undefined);
      assert.notEqual(st.run("Date.now() % 1"), 0);
      assert.equal(st.run("E.toString(new Uint8Array([104, 105, 255]))"), "hi\xff");
      assert.equal(st.run("typeof require('tls').connect({ host: '127.0.0.1', port: 1 }).destroy"), "undefined");
    } finally {
      st.dispose();
    }
  });
});

interface Device { st: Standin; counts(): { sent: number; acked: number }; state(): string; stop(): void; start(): void }

function boot(code: string, settings: object): Device {
  const st = makeStandin();
  st.run("var LINKGUARD_SETTINGS = " + JSON.stringify(settings) + ";\n" + code);
  const api = () => st.run("global.linkguard") as any;
  return {
    st,
    counts: () => { const c = api().counts(); return { sent: c.sent, acked: c.acked }; },
    state: () => api().state(),
    stop: () => api().stop(),
    start: () => api().start(),
  };
}

/** The settings as linkguard build writes them: the CA (when TLS) as base64 of its DER. */
function settings(port: number, tls: boolean, ca?: string): object {
  const r = validateConfig({
    host: "127.0.0.1", port, deviceId: DEVICE, auth: { symmetricKey: KEY }, tls,
    keepaliveSec: 30, connectTimeoutMs: 5000,
    backoff: { baseMs: 200, capMs: 1000, floorMs: 400, stableMs: 1000 },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return {
    config: r.config, telemetryMs: 100, ca,
    board: { statusLed: { pin: "D2", activeLow: false }, button: { pin: "D0", activeLow: true }, patterns: { connected: [1, 0], waiting: [50, 50], connecting: [20, 20], handshaking: [20, 20] } },
  };
}

for (const mode of ["tls", "plaintext"] as const) {
  describe(`an Espruino device over ${mode === "tls" ? "require(\"tls\")" : "require(\"net\")"} against the emulator`, () => {
    let hub: HubEmulator;
    let dev: Device;
    before(async () => {
      hub = await startHub({ registry, plaintext: mode === "plaintext", lingerMs: { min: 50, max: 150 }, seed: 7 });
      dev = boot(b.min, settings(hub.port, mode === "tls", mode === "tls" ? Buffer.from(hub.caDer).toString("base64") : undefined));
    });
    after(async () => {
      dev?.st.dispose();
      await hub?.close();
    });

    test("connects, publishes QoS 1 and gets PUBACKs", async () => {
      await until("connected", () => hub.connected(DEVICE));
      await until("3 acknowledged", () => dev.counts().acked >= 3);
      assert.ok(hub.received(DEVICE).length >= 3);
      assert.equal(dev.st.connects[mode === "tls" ? "tls" : "net"], 1);
      assert.deepEqual(dev.st.errors, []);
    });

    test("survives two drops: reconnects after the floor, never a second open link", async () => {
      for (let i = 0; i < 2; i++) {
        const before = hub.stats().connectsAccepted;
        hub.inject(DEVICE, { kind: "drop", lingerMs: 50 });
        await until("reconnected", () => hub.stats().connectsAccepted > before && dev.state() === "connected");
      }
      const acked = dev.counts().acked;
      await until("acks after the drops", () => dev.counts().acked >= acked + 2);
      const s = hub.stats();
      assert.equal(s.conflictsWithOpenLink, 0);
      assert.equal(s.linkCreationConflicts, 0);
      assert.ok(dev.st.open() <= 1);
      assert.deepEqual(dev.st.errors, []);
    });

    test("persists the backoff state to Storage and drives the status LED", () => {
      assert.ok(dev.st.storage["linkguard.st"] !== undefined);
      assert.ok((dev.st.pins["D2"] || []).length >= 2, "LED written at least twice");
      assert.equal(dev.st.pins["D2"].at(-1), 1, "steady on while connected");
    });

    test("a connect that throws synchronously is a close, then a backoff, not a crash", async () => {
      const before = hub.stats().connectsAccepted;
      dev.st.refuseSync = 1;
      hub.inject(DEVICE, { kind: "drop", lingerMs: 20 });
      await until("reconnected after a refused connect", () => hub.stats().connectsAccepted > before && dev.state() === "connected");
      assert.equal(dev.st.refuseSync, 0);
      assert.deepEqual(dev.st.errors, []);
      // the device prints the reason code and its detail; the sentence is describe(code) on the host
      assert.ok(dev.st.console.some((l) => /waiting (transport\.error|tls\.failed) in \d+ ms: /.test(l)), dev.st.console.join("\n"));
    });

    test("stop sends DISCONNECT and closes with end() (no destroy); the hub sees no drop", async () => {
      dev.stop();
      await until("idle", () => dev.state() === "idle" && dev.st.open() === 0);
      await until("hub notices", () => !hub.connected(DEVICE));
      assert.deepEqual(dev.st.errors, []);
    });
  });
}

describe("an Espruino device and its CA", () => {
  test("a CA that does not sign the hub still connects: Espruino checks no certificate, and linkguard claims no tls.certRejected", async () => {
    const hub = await startHub({ registry, lingerMs: { min: 50, max: 50 } });
    const other = await startHub({ registry, lingerMs: { min: 50, max: 50 } }); // a different CA
    const dev = boot(b.min, settings(hub.port, true, Buffer.from(other.caDer).toString("base64")));
    try {
      await until("connected", () => hub.connected(DEVICE));
      assert.ok(!dev.st.console.some((l) => /certRejected/.test(l)), dev.st.console.join("\n"));
    } finally {
      dev.st.dispose();
      await hub.close();
      await other.close();
    }
  });

  test("a PEM CA (mbedTLS parses only DER) halts with tls.caUnusable after one attempt", async () => {
    const hub = await startHub({ registry, lingerMs: { min: 50, max: 50 } });
    const dev = boot(b.min, settings(hub.port, true, hub.caPem));
    try {
      await until("halted", () => dev.state() === "halted");
      assert.ok(dev.st.console.some((l) => /halted tls\.caUnusable/.test(l)), dev.st.console.join("\n"));
      await sleep(1000);
      assert.equal(dev.st.console.filter((l) => /connecting/.test(l)).length, 1, dev.st.console.join("\n"));
      assert.equal(hub.stats().connectAttempts, 0);
    } finally {
      dev.st.dispose();
      await hub.close();
    }
  });
});
