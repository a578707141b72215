// A stand-in for the Espruino runtime, faithful to what ENGINES.md observed, for running the
// device bundle in a Node `vm` context:
// - sockets (require("net"), require("tls")): connect(options, cb); events data/end/close/
//   error; write/end; no destroy, no setTimeout. data arrives as binary strings; write() of a
//   Uint8Array sends its text "1,2,3" (as Espruino does). The TLS connect callback fires when
//   TCP connects, before the handshake ends (writes queue); TLS 1.2 with RSA key exchange only.
//   No certificate is verified (network.c: MBEDTLS_SSL_VERIFY_NONE); a `ca` that is not DER (a
//   PEM string, say) throws "mbedtls_x509_crt_parse of 'ca': Invalid format" from connect.
//   A refused connect can be made to throw synchronously (refuseSync).
// - clearTimeout(undefined) throws; timer ids are numbers; Date.now() is fractional.
// - E.toString / E.toUint8Array / E.hwRand; Storage (readJSON / writeJSON); crypto.SHA256.
// - the globals Espruino lacks are deleted from the context (Map, Set, Symbol, WeakMap,
//   Array.from, Object.freeze, Promise.race, ...), and Array/String/Function.prototype read as
//   undefined (so Array.prototype.slice.call throws), while instances keep their methods.
import vm from "node:vm";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { createHash, X509Certificate } from "node:crypto";

export interface Standin {
  context: vm.Context;
  /** exceptions thrown by the bundle inside callbacks (a real device would print them) */
  errors: Error[];
  console: string[];
  /** pin -> every value written, in order */
  pins: { [pin: string]: number[] };
  storage: { [file: string]: string };
  /** sockets opened, by module */
  connects: { net: number; tls: number };
  /** the next n connects throw synchronously, as a refused connect can on Espruino */
  refuseSync: number;
  /** every socket still open */
  open(): number;
  run(code: string): unknown;
  dispose(): void;
}

const MISSING_GLOBALS = ["Map", "Set", "WeakMap", "WeakSet", "Symbol", "BigInt", "TextEncoder", "TextDecoder", "queueMicrotask", "setImmediate", "WeakRef", "Proxy", "Reflect"];

export function makeStandin(): Standin {
  const errors: Error[] = [];
  const out: string[] = [];
  const pins: { [pin: string]: number[] } = {};
  const storage: { [file: string]: string } = {};
  const timers = new Map<number, NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let nextTimer = 1;
  let disposed = false;
  const ctx = vm.createContext({});
  // the context's own constructors, before they are hidden
  const U8 = vm.runInContext("Uint8Array", ctx) as Uint8ArrayConstructor;
  const AB = vm.runInContext("ArrayBuffer", ctx) as ArrayBufferConstructor;

  const guard = (fn: Function, self?: unknown) => (...a: unknown[]) => {
    if (disposed) return;
    try { fn.apply(self, a); } catch (e) { errors.push(e as Error); }
  };

  /** Espruino passes setTimeout's and setInterval's extra arguments to fn, as browsers do */
  function setT(fn: Function, ms: number, repeat: boolean, args: unknown[]): number {
    if (typeof fn !== "function") throw new Error("setTimeout: not a function");
    const id = nextTimer++;
    const t = repeat ? setInterval(() => guard(fn)(...args), Math.max(1, ms)) : setTimeout(() => { timers.delete(id); guard(fn)(...args); }, Math.max(0, ms));
    timers.set(id, t);
    return id;
  }
  function clearT(id: unknown): void {
    // Espruino: clearTimeout(undefined) throws; clearTimeout(null) clears nothing
    if (id === undefined) throw new Error("clearTimeout(undefined): Espruino throws here");
    if (id === null) return;
    const t = timers.get(id as number);
    if (t) { clearTimeout(t); clearInterval(t); timers.delete(id as number); }
  }

  /** an Espruino-style socket around a Node one */
  function wrap(s: Socket, connectEvent: string, cb: (() => void) | undefined) {
    sockets.add(s);
    const handlers: { [ev: string]: Function[] } = {};
    // Espruino runs a socket's listeners, the connect callback among them, with `this` = the socket
    const emit = (ev: string, ...a: unknown[]) => { for (const h of handlers[ev] || []) guard(h, k)(...a); };
    s.once(connectEvent, () => { if (cb) guard(cb, k)(); emit("connect"); });
    s.on("data", (b: Buffer) => emit("data", b.toString("latin1")));
    s.on("end", () => emit("end"));
    s.on("error", (e: Error) => emit("error", { message: e.message, type: "Error" }));
    s.on("close", (hadError: boolean) => { sockets.delete(s); emit("close", hadError); });
    const k = {
      on(ev: string, fn: Function) { (handlers[ev] = handlers[ev] || []).push(fn); },
      // Espruino writes String(data): a Uint8Array goes out as "1,2,3"
      write(data: unknown) { if (!s.destroyed) s.write(Buffer.from(typeof data === "string" ? data : String(data), "latin1")); },
      end() { s.end(); setTimeout(() => s.destroy(), 50).unref(); },
    };
    return k;
  }

  const st: Standin = {
    context: ctx, errors, console: out, pins, storage, connects: { net: 0, tls: 0 }, refuseSync: 0,
    open: () => sockets.size,
    run: (code) => vm.runInContext(code, ctx, { filename: "linkguard.js" }),
    dispose() {
      disposed = true;
      for (const t of timers.values()) { clearTimeout(t); clearInterval(t); }
      timers.clear();
      for (const s of sockets) s.destroy();
    },
  };

  function refuse(): void {
    if (st.refuseSync > 0) { st.refuseSync--; throw new Error("Unable to connect"); }
  }

  const modules: { [name: string]: unknown } = {
    net: {
      connect(o: { host: string; port: number }, cb?: () => void) {
        refuse();
        st.connects.net++;
        return wrap(netConnect({ host: o.host, port: o.port }), "connect", cb);
      },
    },
    tls: {
      connect(o: { host: string; port: number; ca?: string }, cb?: () => void) {
        refuse();
        if (o.ca !== undefined) {
          let ok = !/-----BEGIN/.test(o.ca);
          try { if (ok) new X509Certificate(Buffer.from(o.ca, "latin1")); } catch { ok = false; }
          if (!ok) { const e = new Error("HTTPS init failed! mbedtls_x509_crt_parse of 'ca': Invalid format"); e.name = "InternalError"; throw e; }
        }
        st.connects.tls++;
        // TLS 1.2 only, RSA key exchange only, no SNI (the Linux build); the callback on TCP
        // connect; the chain is not verified, whatever `ca` says
        const s = tlsConnect({
          host: o.host, port: o.port, rejectUnauthorized: false,
          minVersion: "TLSv1.2", maxVersion: "TLSv1.2", ciphers: "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES128-SHA",
        });
        return wrap(s, "connect", cb);
      },
    },
    Storage: {
      readJSON(f: string, noExceptions?: boolean) {
        if (storage[f] === undefined) return undefined;
        try { return vm.runInContext("(" + storage[f] + ")", ctx); } catch (e) { if (noExceptions) return undefined; throw e; }
      },
      writeJSON(f: string, v: unknown) { storage[f] = JSON.stringify(v); return true; },
      read(f: string) { return storage[f]; },
      write(f: string, v: string) { storage[f] = v; return true; },
    },
    crypto: {
      SHA256(x: string | Uint8Array) {
        const h = createHash("sha256").update(typeof x === "string" ? Buffer.from(x, "latin1") : Buffer.from(x.buffer, x.byteOffset, x.byteLength)).digest();
        const ab = new AB(32);
        new U8(ab).set(h);
        return ab;
      },
    },
  };

  const g = {
    E: {
      toString(u8: Uint8Array) { let s = ""; for (let i = 0; i < u8.length; i++) s += String.fromCharCode(u8[i] & 255); return s; },
      toUint8Array(s: string) { const b = new U8(s.length); for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 255; return b; },
      hwRand() { return (Math.random() * 4294967296) | 0; },
    },
    // binary strings both ways, as on Espruino
    atob(s: string) { return Buffer.from(s, "base64").toString("latin1"); },
    btoa(s: string) { return Buffer.from(s, "latin1").toString("base64"); },
    require(name: string) {
      if (!(name in modules)) throw new Error('Module "' + name + '" not found');
      return modules[name];
    },
    setTimeout: (fn: Function, ms: number, ...args: unknown[]) => setT(fn, ms, false, args),
    setInterval: (fn: Function, ms: number, ...args: unknown[]) => setT(fn, ms, true, args),
    clearTimeout: clearT,
    clearInterval: clearT,
    digitalWrite(pin: unknown, v: number | boolean) { (pins[String(pin)] = pins[String(pin)] || []).push(v ? 1 : 0); },
    setWatch() { return 1; },
    console: { log: (...a: unknown[]) => { out.push(a.map(String).join(" ")); } },
  };
  Object.assign(ctx, g);
  vm.runInContext(`
    var global = this, P = Proxy;
    ${JSON.stringify(MISSING_GLOBALS)}.forEach(function (n) { delete global[n]; });
    delete Object.freeze; delete Object.isFrozen; delete Array.from; delete Object.getPrototypeOf(Uint8Array).from;
    delete ArrayBuffer.isView; delete ArrayBuffer.prototype.slice; delete Number.isInteger; delete Number.MAX_SAFE_INTEGER;
    delete Math.imul; delete Promise.race; delete Promise.allSettled; delete Promise.any;
    (function () {
      var realNow = Date.now;
      Date.now = function () { return realNow() + 0.375; };          // fractional, as on Espruino
    })();
    // Array.prototype.x, String.prototype.x, Function.prototype.x read as undefined (instances keep their methods)
    ["Array", "String", "Function"].forEach(function (n) {
      var C = global[n];
      // a bound function has no own "prototype", so the proxy may report it as undefined
      global[n] = new P(C.bind(null), { get: function (t, k) { return k === "prototype" ? undefined : C[k]; } });
    });
  `, ctx);
  return st;
}

