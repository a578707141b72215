// The Espruino transport (src/platform/espruino/shell.ts espruinoTransport), built as for the
// device (ES5, rollup) and run on Node with a fake require("tls") whose sockets do only what the
// test says: above all, a socket whose end() brings no "close" (Espruino has no destroy()). The
// transport must then say transportCloseFailed, and never report a close it did not see.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

interface FakeSocket { handlers: { [ev: string]: Function[] }; ends: number; endThrows: boolean; emit(ev: string, ...a: unknown[]): void; connected(): void }

const sockets: FakeSocket[] = [];
let dir = "";
let espruinoTransport: (ca?: string) => any;

function fakeSocket(cb: () => void): FakeSocket & { on(ev: string, f: Function): void; write(d: string): void; end(): void } {
  const k = {
    handlers: {} as { [ev: string]: Function[] }, ends: 0, endThrows: false,
    on(ev: string, f: Function) { (k.handlers[ev] = k.handlers[ev] || []).push(f); },
    // Espruino runs a socket's listeners, the connect callback among them, with `this` = the socket
    emit(ev: string, ...a: unknown[]) { for (const f of k.handlers[ev] || []) f.apply(k, a); },
    connected() { cb.call(k); },
    write() {},
    end() { k.ends++; if (k.endThrows) throw new Error("not connected"); },
  };
  sockets.push(k);
  return k;
}

before(async () => {
  const g = globalThis as any;
  g.require = (name: string) => {
    if (name === "tls" || name === "net") return { connect: (_o: unknown, cb: () => void) => fakeSocket(cb) };
    throw new Error('Module "' + name + '" not found');
  };
  g.E = { toString: (b: Uint8Array) => Buffer.from(b).toString("latin1"), toUint8Array: (s: string) => new Uint8Array(Buffer.from(s, "latin1")), hwRand: () => 1 };
  g.atob = (s: string) => Buffer.from(s, "base64").toString("latin1");
  dir = mkdtempSync(join(tmpdir(), "linkguard-esptransport-"));
  const rc = await import(pathToFileURL(join(process.cwd(), "rollup.config.mjs")).href);
  const { rollup } = await import("rollup");
  const bundle = await rollup({ input: join(rc.ROOT, "src/platform/espruino/shell.ts"), plugins: [rc.ts("tsconfig.espruino.json", "ES5", { noEmitHelpers: true, importHelpers: false })] });
  await bundle.write({ file: join(dir, "shell.mjs"), format: "es" });
  await bundle.close();
  espruinoTransport = (await import(pathToFileURL(join(dir, "shell.mjs")).href)).espruinoTransport;
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const tick = () => new Promise((r) => setTimeout(r, 5));

/** A transport whose report records what it says. */
function opened(tls = true) {
  const seen: string[] = [];
  const t = espruinoTransport();
  t.open(1, "hub", 8883, tls, (e: any) => {
    switch (e.type) {
      case "transportOpened": seen.push("opened " + e.gen); return;
      case "transportData": seen.push("data " + e.gen + " " + e.bytes.length); return;
      case "transportClosed": seen.push("closed " + e.gen + " " + e.cause + (e.detail ? " " + e.detail : "")); return;
      case "transportCloseFailed": seen.push("closeFailed " + e.gen + " " + e.detail); return;
      default: seen.push("unexpected " + JSON.stringify(e));
    }
  });
  const k = sockets[sockets.length - 1];
  k.connected();
  return { t, k, seen };
}

test("end() that brings no close: the second close request is transportCloseFailed, never a close", async () => {
  const { t, k, seen } = opened();
  k.emit("data", "\x20\x02\x00\x00");
  t.close(1);
  await tick();
  assert.equal(k.ends, 1);
  assert.deepEqual(seen, ["opened 1", "data 1 4"], "nothing reported while the close is pending");
  t.close(1); // the core's close guard asks again
  await tick();
  assert.equal(k.ends, 1, "end() is all there is: not called again");
  assert.deepEqual(seen, ["opened 1", "data 1 4", "closeFailed 1 no close event after end()"]);
  assert.ok(!seen.some((s) => s.startsWith("closed")), "no close it did not see");
});

test("a close that comes after all is reported as it is: local", async () => {
  const { t, k, seen } = opened();
  t.close(1);
  t.close(1);
  await tick();
  k.emit("close");
  assert.deepEqual(seen.slice(1), ["closeFailed 1 no close event after end()", "closed 1 local"]);
});

test("end() that throws is transportCloseFailed, not a close", async () => {
  const { t, k, seen } = opened();
  k.endThrows = true;
  t.close(1);
  await tick();
  assert.deepEqual(seen, ["opened 1", "closeFailed 1 end() threw: not connected"]);
});

test("what the socket shows maps to the shared causes: an error during the TLS handshake, EOF, the CA", async () => {
  let o = opened();
  o.k.emit("error", { message: "SSL - handshake failure" });
  o.k.emit("close");
  assert.deepEqual(o.seen, ["opened 1", "closed 1 tls SSL - handshake failure"], "no bytes yet: the handshake never finished");
  o = opened();
  o.k.emit("data", "x");
  o.k.emit("close");
  assert.equal(o.seen[2], "closed 1 remote");
  o = opened();
  o.k.emit("error", { message: "mbedtls_x509_crt_parse of 'ca': Invalid format" });
  o.k.emit("close");
  assert.match(o.seen[1], /^closed 1 ca /);
  // a socket of an older generation says nothing once a new one is open
  const old = o.k;
  o.t.open(2, "hub", 8883, true, (e: any) => { if (e.type === "transportClosed") assert.fail("stale close"); });
  old.emit("close");
});
