// The Espruino firmware on the real interpreter ($ESPRUINO_BIN, the 2v29 Linux build) against the
// IoT Hub emulator over TLS, with exactly the files `linkguard build --target espruino` writes,
// loaded the two ways docs/targets.md tells users:
//   whole    linkguard.min.js run whole (settings line and runtime together), as `espruino FILE` runs it;
//   storage  linkguard.json written to Storage, the bundle without its first line saved to
//            Storage as .bootcde (run from flash at every boot), then a power cycle.
// Everything is asserted from the emulator's side where it can be; the console is used as a
// user would (linkguard.publish/state/stop/start, process.memory()).
//
// Without ESPRUINO_BIN a developer's `npm test` skips this suite (and says how to enable it);
// under CI=true it fails instead.
// LINKGUARD_ESPRUINO_SOAK_MS shortens the memory soak (default 150000) for a quick local run;
// LINKGUARD_ESPRUINO_LOGS=DIR keeps each device's console as DIR/<device>.log.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { need, requireNeed, skipUnless } from "../helpers/needs.js";
import { startHub, HubEmulator } from "../../src/sim/hub/emulator.js";
import type { DiagRecord } from "../../src/sim/diaglog.js";
import { EspruinoDevice } from "./espruino-device.js";
import { waitFor } from "../../src/sim/device.js";

const E = need("espruino");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KEY = "ZXNwcnVpbm8tcmVhbC1lbmdpbmUta2V5LTAxMjM0NTY="; // 32 bytes
const OTHER_KEY = "b3RoZXIta2V5LXRoYXQtdGhlLWh1Yi1kb2VzLW5vdC0x";
const FLOOR_MS = 1000;
/** how long the memory soak runs (the issue asks for several minutes; the suite's budget is ~5) */
const SOAK_MS = Number(process.env.LINKGUARD_ESPRUINO_SOAK_MS) || 150_000;
const IDS = { whole: "esp-whole", storage: "esp-storage", token: "esp-token", badCa: "esp-badca", badKey: "esp-badkey" };

interface Built { dir: string; min: string; json: string; out: string }

/** `node bin/linkguard.js build --target espruino --config FILE --ca FILE --out DIR`, as a user runs it. */
function build(work: string, name: string, config: object, caFile: string): Promise<Built> {
  const cfgFile = join(work, name + ".json");
  writeFileSync(cfgFile, JSON.stringify(config));
  const out = join(work, "dist-" + name);
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [resolve("bin/linkguard.js"), "build", "--target", "espruino", "--config", cfgFile, "--ca", caFile, "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    p.stdout.on("data", (d) => { text += d; });
    p.stderr.on("data", (d) => { text += d; });
    p.on("exit", (code) => {
      if (code !== 0) { rej(new Error(`linkguard build (${name}) exited ${code}:\n${text}`)); return; }
      const dir = join(out, "espruino");
      res({ dir, min: readFileSync(join(dir, "linkguard.min.js"), "latin1"), json: readFileSync(join(dir, "linkguard.json"), "latin1"), out: text });
    });
  });
}

function deviceConfig(hub: HubEmulator, deviceId: string, extra?: object): object {
  return Object.assign({
    host: "127.0.0.1", port: hub.port, deviceId, auth: { symmetricKey: KEY },
    keepaliveSec: 30, connectTimeoutMs: 5000,
    backoff: { baseMs: 500, capMs: 3000, floorMs: FLOOR_MS, stableMs: 2000 },
  }, extra || {});
}

/** Run the whole linkguard.min.js (settings line and runtime), as `espruino linkguard.min.js` does. */
async function loadWhole(d: EspruinoDevice, b: Built): Promise<void> {
  await d.bootWith("linkguard.min.js", b.min);
}

/** The bundle without its first line (the settings), saved to Storage as .bootcde. */
function runtimeOnly(b: Built): string {
  return b.min.slice(b.min.indexOf("\n") + 1);
}

/** The Storage way: settings in Storage as linkguard.json, the runtime as .bootcde, then a power cycle. */
async function loadStorage(d: EspruinoDevice, b: Built, settings: string = b.json): Promise<void> {
  await d.writeStorage({ "linkguard.json": settings, ".bootcde": runtimeOnly(b) });
  await d.boot();
}

/**
 * What the test itself published from the console: the firmware also sends its own telemetry
 * ({"seq":…}) every telemetryMs, which may land between the test's messages.
 */
const typed = (hub: HubEmulator, id: string) => hub.received(id).filter((m) => !Buffer.from(m.payload).toString("latin1").startsWith("{\"seq\":"));

const connects = (hub: HubEmulator, id: string): DiagRecord[] =>
  hub.diagnostics().filter((r) => r.operationName === "deviceConnect" && JSON.parse(r.properties).deviceId === id);
const accepted = (hub: HubEmulator, id: string): DiagRecord[] => connects(hub, id).filter((r) => r.resultType === undefined);
const disconnects = (hub: HubEmulator, id: string): DiagRecord[] =>
  hub.diagnostics().filter((r) => r.operationName === "deviceDisconnect" && JSON.parse(r.properties).deviceId === id);

const until = (what: string, ok: () => boolean, ms = 15000): Promise<void> => waitFor(ok, ms, what, 50);

/** "linkguard waiting remote.close in 1234 ms" -> 1234 */
function delayOf(line: string): number {
  const m = / in (\d+) ms/.exec(line);
  assert.ok(m, line);
  return Number(m[1]);
}

describe("Espruino firmware on the real interpreter", { skip: skipUnless(E), timeout: 330_000 }, () => {
  let bin: string;
  let hub: HubEmulator;
  let work: string;
  const built: { [k: string]: Built } = {};
  const dev: { [k: string]: EspruinoDevice } = {};
  const figures: string[] = [];
  let soak: Promise<number[]> | null = null;

  before(async () => {
    bin = requireNeed(E);
    work = mkdtempSync(join(tmpdir(), "linkguard-espruino-suite-"));
    hub = await startHub({
      registry: { hubName: "127.0.0.1", devices: Object.values(IDS).map((deviceId) => ({ deviceId, symmetricKey: KEY })) },
      lingerMs: { min: 200, max: 400 }, seed: 11,
    });
    const caFile = join(work, "ca.pem");
    writeFileSync(caFile, hub.caPem);
    const list: [string, object][] = [
      ["whole", deviceConfig(hub, IDS.whole)],
      ["storage", deviceConfig(hub, IDS.storage)],
      // renews its token 6 s after each connect
      ["token", deviceConfig(hub, IDS.token, { token: { lifetimeSec: 60, renewMarginSec: 54 } })],
      ["badCa", deviceConfig(hub, IDS.badCa)],
      // a key the hub does not have: every token, fresh or not, gets CONNACK 5
      ["badKey", deviceConfig(hub, IDS.badKey, { auth: { symmetricKey: OTHER_KEY } })],
    ];
    // two builds at a time (CI has two cores)
    for (let i = 0; i < list.length; i += 2) {
      const part = list.slice(i, i + 2);
      const r = await Promise.all(part.map(([n, c]) => build(work, n, c, caFile)));
      part.forEach(([n], j) => { built[n] = r[j]; });
    }
    for (const n of Object.keys(IDS)) dev[n] = new EspruinoDevice(bin, n);
  });

  after(async () => {
    for (const d of Object.values(dev)) { await d.off(); d.saveLog(); d.dispose(); }
    await hub?.close();
    if (work) rmSync(work, { recursive: true, force: true });
    console.error("real-engine espruino: " + figures.join("; "));
  });

  test("linkguard build says plainly that Espruino checks no certificate, and ships the CA as DER", () => {
    assert.match(built.whole.out, /Espruino checks no certificate/);
    const settings = JSON.parse(built.whole.json);
    assert.doesNotMatch(settings.ca, /BEGIN CERTIFICATE/);
    assert.deepEqual(new Uint8Array(Buffer.from(settings.ca, "base64")), hub.caDer);
    const bytes = Buffer.byteLength(runtimeOnly(built.whole));
    figures.push(`bundle=${bytes} B`);
  });

  test("both ways of loading connect, and the emulator verifies their SAS tokens", async () => {
    // the Storage way: .bootcde alone boots and says it has no settings; then linkguard.json
    const s = dev.storage;
    await s.writeStorage({ ".bootcde": runtimeOnly(built.storage) });
    await s.boot();
    await s.waitFor(/linkguard: no settings/, 5000);
    await s.off();
    await s.writeStorage({ "linkguard.json": built.storage.json });
    await Promise.all([loadWhole(dev.whole, built.whole), s.boot()]);
    await until("both connected", () => hub.connected(IDS.whole) && hub.connected(IDS.storage));
    assert.equal(accepted(hub, IDS.whole).length, 1);
    assert.equal(accepted(hub, IDS.storage).length, 1);
    assert.equal(connects(hub, IDS.whole).length, 1, "no refused CONNECT before");
    // the hub counts the link from its CONNACK; the device, once it has read it
    await dev.whole.waitFor(/linkguard connected link\.connected/, 5000);
    await s.waitFor(/linkguard connected link\.connected/, 5000);
    assert.equal(await dev.whole.ask("linkguard.state()"), "connected");
    assert.equal(await s.ask("linkguard.state()"), "connected");
  });

  test("two devices with different ids draw different first delays", async () => {
    const fromW = dev.whole.lines.length, fromS = dev.storage.lines.length;
    const before = hub.stats().connectsAccepted;
    const t0 = Date.now();
    hub.inject(IDS.whole, { kind: "drop", lingerMs: 200 });
    hub.inject(IDS.storage, { kind: "drop", lingerMs: 200 });
    const w = delayOf(await dev.whole.waitFor(/waiting remote\.close in \d+ ms/, 5000, fromW));
    const s = delayOf(await dev.storage.waitFor(/waiting remote\.close in \d+ ms/, 5000, fromS));
    await until("both back", () => hub.stats().connectsAccepted >= before + 2 && hub.connected(IDS.whole) && hub.connected(IDS.storage));
    figures.push(`first delays whole=${w} ms storage=${s} ms`);
    assert.notEqual(w, s, "the same first delay on two devices: the jitter is not seeded per device");
    for (const id of [IDS.whole, IDS.storage]) {
      const back = Date.parse(accepted(hub, id).at(-1)!.time);
      assert.ok(back - t0 >= FLOOR_MS, `${id} reconnected ${back - t0} ms after the drop, inside the ${FLOOR_MS} ms floor`);
    }
    assert.equal(hub.stats().linkCreationConflicts, 0);
    // the soak runs on the Storage device from here, while the other tests go on
    soak = runSoak(dev.storage);
  });

  test("the console API works on the minified build (publish, state, stop, start)", async () => {
    const d = dev.whole;
    assert.equal(await d.ask("typeof linkguard.publish"), "function");
    const n = typed(hub, IDS.whole).length;
    assert.equal(typeof (await d.ask("linkguard.publish(\"console-1\")")), "number");
    await until("telemetry", () => typed(hub, IDS.whole).length > n);
    assert.equal(Buffer.from(typed(hub, IDS.whole).at(-1)!.payload).toString("latin1"), "console-1");
    const c = await d.ask("linkguard.counts()");
    assert.ok(c.sent >= 1);
    const drops = disconnects(hub, IDS.whole).length;
    await d.ask("linkguard.stop()");
    await until("hub sees the device go", () => !hub.connected(IDS.whole));
    assert.equal(await d.ask("linkguard.state()"), "idle");
    const gone = disconnects(hub, IDS.whole).slice(drops);
    assert.equal(gone.length, 1);
    assert.equal(gone[0].resultType, undefined, "a clean DISCONNECT, not " + gone[0].resultType);
    const acc = accepted(hub, IDS.whole).length;
    const from = d.lines.length;
    await d.ask("linkguard.start()");
    await until("connected again", () => accepted(hub, IDS.whole).length > acc && hub.connected(IDS.whole));
    await d.waitFor(/linkguard connected link\.connected/, 5000, from);
    assert.equal(await d.ask("linkguard.state()"), "connected");
  });

  test("telemetry and a cloud-to-device message arrive", async () => {
    const d = dev.whole;
    const n = typed(hub, IDS.whole).length;
    const from = d.lines.length;
    await d.ask("[linkguard.publish(\"t-1\"), linkguard.publish(\"t-2\"), linkguard.publish(\"t-3\")]");
    hub.sendC2d(IDS.whole, "c2d-hello", { color: "red" });
    await until("3 messages", () => typed(hub, IDS.whole).length >= n + 3);
    assert.deepEqual(typed(hub, IDS.whole).slice(n).map((m) => Buffer.from(m.payload).toString("latin1")), ["t-1", "t-2", "t-3"]);
    await d.waitFor(new RegExp(`linkguard c2d devices/${IDS.whole}/messages/devicebound/\\S* 9 bytes`), 5000, from);
    await until("C2D acknowledged", () => hub.pendingC2d(IDS.whole) === 0, 5000);
  });

  test("an injected drop: no reconnect inside the floor, no 409002, and telemetry resumes", async () => {
    const d = dev.whole;
    const acc = accepted(hub, IDS.whole).length;
    const t0 = Date.now();
    hub.inject(IDS.whole, { kind: "drop", lingerMs: 400 });
    await until("reconnected", () => accepted(hub, IDS.whole).length > acc && hub.connected(IDS.whole));
    const back = Date.parse(accepted(hub, IDS.whole).at(-1)!.time) - t0;
    figures.push(`reconnect after drop=${back} ms (floor ${FLOOR_MS})`);
    assert.ok(back >= FLOOR_MS, `reconnected ${back} ms after the drop`);
    const s = hub.stats();
    assert.equal(s.linkCreationConflicts, 0);
    assert.equal(s.conflictsWithOpenLink, 0);
    assert.equal(hub.diagnostics().filter((r) => r.resultType === "409002").length, 0);
    const n = typed(hub, IDS.whole).length;
    await d.ask("linkguard.publish(\"after-drop\")");
    await until("telemetry after the drop", () => typed(hub, IDS.whole).length > n);
  });

  test("a packet larger than the socket's send space goes through", async () => {
    const d = dev.whole;
    const n = typed(hub, IDS.whole).length;
    // 6 KB and 20 KB: beyond a TCP send buffer's free space at once and beyond one TLS record (16 KB)
    await d.ask("[linkguard.publish(\"a\".repeat(6000)), linkguard.publish(\"b\".repeat(20000))]");
    await until("both large messages", () => typed(hub, IDS.whole).length >= n + 2, 20000);
    const got = typed(hub, IDS.whole).slice(n).map((m) => m.payload.length);
    assert.deepEqual(got, [6000, 20000]);
    await d.ask("linkguard.publish(\"small-after\")");
    await until("a message queued behind them", () => typed(hub, IDS.whole).length >= n + 3);
    assert.equal(await d.ask("linkguard.state()"), "connected");
  });

  test("token renewal with a short lifetime is a planned close, then a reconnect", async () => {
    const d = dev.token;
    await loadWhole(d, built.token);
    await until("two links, one after the other", () => accepted(hub, IDS.token).length >= 2, 20000);
    await d.waitFor(/linkguard closing token\.renew/, 1000);
    const dis = disconnects(hub, IDS.token);
    assert.ok(dis.length >= 1);
    assert.equal(dis[0].resultType, undefined, "the first link ended with a DISCONNECT, not " + dis[0].resultType);
    const [first, second] = accepted(hub, IDS.token).map((r) => Date.parse(r.time));
    assert.ok(Date.parse(dis[0].time) <= second, "the old link was gone before the new one");
    assert.ok(second - first >= 6000, `renewed after ${second - first} ms`);
    assert.equal(hub.stats().conflictsWithOpenLink, 0);
    assert.equal(hub.stats().linkCreationConflicts, 0);
    await d.off();
  });

  test("an unusable CA (PEM text in the settings: mbedTLS parses only DER) halts with its reason", async () => {
    const d = dev.badCa;
    // settings as an earlier linkguard wrote them, or as a user might edit them: the CA as PEM
    const settings = JSON.parse(built.badCa.json);
    settings.ca = hub.caPem;
    await loadStorage(d, built.badCa, JSON.stringify(settings));
    const line = await d.waitFor(/linkguard halted /, 10000);
    assert.match(line, /halted tls\.caUnusable.*'ca'/);
    await sleep(2 * FLOOR_MS + 500);
    assert.equal(d.matching(/linkguard connecting/).length, 1, "one attempt, then no retry");
    assert.equal(connects(hub, IDS.badCa).length, 0);
    assert.equal(await d.ask("linkguard.state()"), "halted");
    await d.off();
  });

  test("CONNACK 5 even with a fresh token halts with its reason", async () => {
    const d = dev.badKey;
    await loadWhole(d, built.badKey);
    await d.waitFor(/linkguard halted auth\.repeated/, 15000);
    await sleep(2000);
    const refused = connects(hub, IDS.badKey);
    assert.equal(refused.length, 2, "one refusal, one retry with a fresh token, then no more");
    assert.ok(refused.every((r) => r.resultType === "401003"));
    assert.equal(await d.ask("linkguard.state()"), "halted");
    await d.off();
  });

  test("memory stays flat while connected, within the budget", async () => {
    assert.ok(soak, "the soak started");
    const samples = await soak!;
    const first = samples[0], last = samples[samples.length - 1];
    const d = dev.storage;
    assert.equal(await d.ask("linkguard.state()"), "connected");
    // an ESP32 runs .bootcde from memory-mapped flash (jsvNewNativeString: a function's code stays
    // there, one JsVar per function) and keeps mbedTLS in the C heap; the Linux build copies the
    // code into RAM and allocates mbedTLS from JsVars. Take both shares out to get the ESP32 figure.
    const sh = await d.dumpShares();
    const esp32 = sh.total - sh.unlinked - (sh.codeBlocks - sh.codeStrings);
    figures.push(`JsVars connected (Storage way) on Linux=${sh.total}: code text ${sh.codeBlocks} in ${sh.codeStrings} functions, mbedTLS ${sh.unlinked}, runtime data ${sh.total - sh.unlinked - sh.codeBlocks}; as an ESP32 holds them=${esp32} (budget 2000)`);
    const w = await dev.whole.dumpShares();
    figures.push(`JsVars connected (whole file uploaded to RAM) on Linux=${w.total}: code text ${w.codeBlocks} in ${w.codeStrings} functions, mbedTLS ${w.unlinked}, runtime data ${w.total - w.unlinked - w.codeBlocks}; as an ESP32 holds them=${w.total - w.unlinked}`);
    assert.ok(esp32 <= 2000, `${esp32} JsVars while connected as an ESP32 would hold them`);
    await d.ask("linkguard.stop()");
    await until("stopped", () => !hub.connected(IDS.storage));
    await sleep(300);
    const stopped = await d.jsVars();
    figures.push(`JsVars connected (Storage way, Linux) first=${first} last=${last} min=${Math.min(...samples)} max=${Math.max(...samples)}`);
    figures.push(`JsVars after stop (no TLS session)=${stopped}`);
    assert.ok(last - first <= 40, `JsVars grew from ${first} to ${last} over the soak: ${samples.join(", ")}`);
  });

  /**
   * Publish at 2/s from the console for SOAK_MS; the device prints JsVars (after a GC) every 15 s.
   * One line typed for the whole soak: the Linux build's console input races a busy interpreter.
   */
  async function runSoak(d: EspruinoDevice): Promise<number[]> {
    await sleep(1500);
    const n0 = hub.received(IDS.storage).length;
    const from = d.lines.length;
    await d.ask("[global.soakTimer = setInterval(function () { linkguard.publish(\"soak\"); }, 500), global.memTimer = setInterval(function () { print(\"@@mem=\" + process.memory().usage); }, 15000), process.memory().usage]");
    await sleep(SOAK_MS);
    await d.ask("[clearInterval(global.soakTimer), clearInterval(global.memTimer)]");
    await sleep(1000);
    const samples = d.matching(/^@@mem=\d+$/, from).map((l) => Number(l.slice(6)));
    samples.push(await d.jsVars());
    const got = hub.received(IDS.storage).length - n0;
    figures.push(`soak ${SOAK_MS / 1000} s: ${got} messages received, JsVars ${samples.join(",")}`);
    assert.ok(got >= (SOAK_MS / 500) * 0.9, `only ${got} soak messages arrived`);
    return samples;
  }
});
