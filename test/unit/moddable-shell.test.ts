// The Moddable shell (src/platform/moddable/shell.ts) on Node, built by rollup as for the device,
// with the SDK's modules (timer, time, preference, socket, securesocket) replaced by fakes that
// behave as the SDK's do where it matters here: SecureSocket.write() with no argument returns the
// free send space and throws "can't write all data" for more. The real engine runs the same shell
// in test/engines/moddable.test.ts; this covers what the emulator cannot provoke.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import mqttPacket from "mqtt-packet";
import { testConfig } from "../helpers/config.js";

const FAKES: { [id: string]: string } = {
  timer: `export default class Timer { static set(f, ms) { return setTimeout(f, ms); } static repeat(f, ms) { return setInterval(f, ms); } static clear(t) { clearTimeout(t); } }`,
  time: `export default { get ticks() { return Date.now(); } }`,
  preference: `const m = {}; export default { get(d, k) { return m[d + "/" + k]; }, set(d, k, v) { m[d + "/" + k] = v; } }`,
  socket: `export class Socket { constructor() { throw new Error("plaintext is not used here"); } }`,
  securesocket: `export default class SecureSocket {
    constructor(o) { this.free = 896; this.written = []; this.incoming = []; this.closed = false; this.closedInCallback = false; this.inCallback = false; globalThis.__sockets.push(this); }
    emit(msg, v) { this.inCallback = true; try { this.callback(msg, v); } finally { this.inCallback = false; } }
    write(data) {
      if (data === undefined) return this.free;
      if (data.byteLength > this.free) throw new Error("can't write all data");
      this.free -= data.byteLength;
      this.written.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
    }
    read() { const b = this.incoming.shift(); return b ? b.buffer : new ArrayBuffer(0); }
    close() { this.closed = true; if (this.inCallback) this.closedInCallback = true; }
  }`,
};

let dir = "";
let runLink: (o: any) => any;
const sockets: any[] = [];
(globalThis as any).__sockets = sockets;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "linkguard-modshell-"));
  const rc = await import(pathToFileURL(join(process.cwd(), "rollup.config.mjs")).href);
  const { rollup } = await import("rollup");
  const bundle = await rollup({
    input: join(rc.ROOT, "src/platform/moddable/shell.ts"),
    plugins: [{ name: "sdk-fakes", resolveId: (id: string) => (FAKES[id] !== undefined ? "\0fake:" + id : null), load: (id: string) => (id.startsWith("\0fake:") ? FAKES[id.slice(6)] : null) }, rc.ts("tsconfig.moddable.json", "ES2020")],
  });
  await bundle.write({ file: join(dir, "shell.mjs"), format: "es" });
  await bundle.close();
  runLink = (await import(pathToFileURL(join(dir, "shell.mjs")).href)).runLink;
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** Splits a byte stream into MQTT packets with mqtt-packet's parser. */
function packets(bytes: Uint8Array): any[] {
  const out: any[] = [];
  const p = mqttPacket.parser({ protocolVersion: 4 });
  p.on("packet", (x: any) => out.push(x));
  p.parse(Buffer.from(bytes));
  return out;
}

const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((b) => Buffer.from(b)));

test("a packet larger than the free send space goes out in pieces, in order, and what is queued behind it follows", async () => {
  const statuses: string[] = [];
  const link = runLink({ cfg: testConfig({ host: "hub.example.net" }), onStatus: (s: any) => statuses.push(s.state) });
  link.start();
  const k = sockets[sockets.length - 1];
  k.emit(1); // connected (SecureSocket: after the handshake)
  assert.equal(packets(concat(k.written))[0].cmd, "connect");
  k.incoming.push(new Uint8Array([0x20, 2, 0, 0])); // CONNACK 0
  k.emit(2, 4);
  assert.equal(link.state().kind, "connected");
  k.free = 100; // less than the next message
  const big = new Uint8Array(1000).fill(0x61);
  link.publish(big, 1);
  link.publish(new Uint8Array([1, 2, 3]), 1);
  for (let i = 0; i < 40 && k.written.length < 30; i++) { k.free = 100; k.emit(3, 100); await tick(1); }
  assert.ok(k.written.slice(1).every((b: Uint8Array) => b.length <= 100), "no write past the free space");
  const got = packets(concat(k.written)).filter((p) => p.cmd === "publish");
  assert.equal(got.length, 2, "both messages, whole");
  assert.equal(got[0].payload.length, 1000);
  assert.deepEqual(Array.from(got[1].payload), [1, 2, 3]);
  assert.ok(!k.closed, "the link stays up");
  link.stop();
  await tick(20);
  assert.equal(link.state().kind, "idle");
});

test("an exception inside step() is reported, and the transport is closed outside its callback so the link backs off", async () => {
  const logs: string[] = [];
  const statuses: string[] = [];
  // a configuration without `token` makes step(transportOpened) throw (it reads token.lifetimeSec)
  const cfg: any = testConfig();
  delete cfg.token;
  const link = runLink({ cfg, onLog: (code: string, text: string) => logs.push(code + " " + text), onStatus: (s: any) => statuses.push(s.state + " " + s.code) });
  link.start();
  const k = sockets[sockets.length - 1];
  k.emit(1);
  assert.match(logs.join("\n"), /^shell\.stepFailed transportOpened: TypeError/m);
  await tick(20);
  assert.ok(k.closed, "the transport was closed");
  assert.ok(!k.closedInCallback, "never closed from inside its own callback");
  assert.match(statuses.join("\n"), /^waiting transport\.error$/m);
  assert.equal(link.state().kind, "waiting");
  link.stop();
  assert.equal(link.state().kind, "idle");
});
