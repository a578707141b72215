// A synchronous driver for the xsnap worker (@agoric/xsnap's build of Moddable's XS).
//
// Protocol (ENGINES.md; xsnap-worker.c): netstrings on fd 3 (to XS) and fd 4 (from XS).
// `e<code>` evaluates a script; the reply is `.` + meter JSON + "\x01" + the result's bytes
// (when the script's value is an ArrayBuffer), or `!` + the error text. While a script runs,
// `issueCommand(buffer)` in XS arrives here as `?` + bytes and is answered with `/` + bytes.
//
// The pipes are FIFOs opened blocking, so evaluate() returns synchronously: the CoreEngine
// interface hands events to a core and expects its commands back in the same call.
// Each side holds one end only: when either process dies, the other sees end-of-file.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { closeSync, constants, existsSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface Meter { compute: number; allocate: number; currentHeapCount: number }
export interface XsReply { bytes: Uint8Array; meter: Meter }

export class XsError extends Error {}

export interface XsWorkerOptions {
  /** shown in ps and in errors */
  name?: string;
  /** compute units per evaluation before XS aborts it (xsnap -l); default 1e9 */
  meteringLimit?: number;
  /** the script parser's buffer in KiB (xsnap -s); default 8192 */
  parserBufferKb?: number;
  /** answers issueCommand() calls from XS */
  onCommand?: (bytes: Uint8Array) => Uint8Array;
}

/** The xsnap-worker binary that `npm ci` built. */
export function xsnapWorkerPath(): string {
  const pkg = createRequire(import.meta.url).resolve("@agoric/xsnap/package.json");
  const os = process.platform === "darwin" ? "mac" : "lin";
  const bin = join(dirname(pkg), "xsnap-native", "xsnap", "build", "bin", os, "release", "xsnap-worker");
  if (!existsSync(bin)) throw new Error("xsnap-worker not built at " + bin + " (run npm ci)");
  return bin;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class XsWorker {
  private readonly child: ChildProcess;
  private readonly toXs: number;
  private readonly fromXs: number;
  private readonly dir: string;
  private readonly onCommand: ((bytes: Uint8Array) => Uint8Array) | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  readonly name: string;

  constructor(o: XsWorkerOptions = {}) {
    this.name = o.name || "linkguard-xs";
    this.onCommand = o.onCommand;
    this.dir = mkdtempSync(join(tmpdir(), "linkguard-xsnap-"));
    const a = join(this.dir, "to-xs"), b = join(this.dir, "from-xs");
    execFileSync("mkfifo", [a, b]);
    // to XS: the child reads (fd 3), we write
    const holdA = openSync(a, constants.O_RDWR);
    const childIn = openSync(a, constants.O_RDONLY);
    this.toXs = openSync(a, constants.O_WRONLY);
    // from XS: the child writes (fd 4), we read
    const holdB = openSync(b, constants.O_RDWR);
    const childOut = openSync(b, constants.O_WRONLY);
    this.fromXs = openSync(b, constants.O_RDONLY);
    const args = [this.name, "-l", String(o.meteringLimit || 1e9), "-s", String(o.parserBufferKb || 8192)];
    this.child = spawn(xsnapWorkerPath(), args, { stdio: ["ignore", "inherit", "inherit", childIn, childOut] });
    for (const fd of [holdA, childIn, holdB, childOut]) closeSync(fd);
    this.child.unref();
    this.child.on("error", () => { /* reported by the next read: end of file */ });
  }

  /** Evaluate a script in XS; returns its ArrayBuffer result (or no bytes) and the meter. */
  evaluate(code: string): XsReply {
    this.send("e", enc.encode(code));
    for (;;) {
      const m = this.receive();
      const kind = m[0];
      if (kind === 0x3f /* ? */) {
        const answer = this.onCommand ? this.onCommand(m.subarray(1)) : new Uint8Array(0);
        this.send("/", answer);
        continue;
      }
      if (kind === 0x21 /* ! */) throw new XsError(this.name + ": " + dec.decode(m.subarray(1)));
      if (kind !== 0x2e /* . */) throw new XsError(this.name + ": unexpected reply " + JSON.stringify(String.fromCharCode(kind)));
      const sep = m.indexOf(1);
      if (sep < 0) return { bytes: m.subarray(1), meter: { compute: 0, allocate: 0, currentHeapCount: 0 } };
      const meter = JSON.parse(dec.decode(m.subarray(1, sep))) as Meter;
      return { bytes: m.slice(sep + 1), meter };
    }
  }

  /** Evaluate a script whose value is an ArrayBuffer of UTF-8 text; returns the text. */
  evaluateText(code: string): string {
    return dec.decode(this.evaluate(code).bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { this.send("q", new Uint8Array(0)); } catch { /* already gone */ }
    closeSync(this.toXs);
    closeSync(this.fromXs);
    if (this.child.exitCode === null) this.child.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private send(kind: string, body: Uint8Array): void {
    if (this.closed && kind !== "q") throw new XsError(this.name + ": closed");
    const head = Buffer.from((body.length + 1) + ":" + kind, "latin1");
    const msg = Buffer.concat([head, body, Buffer.from(",")]);
    let off = 0;
    while (off < msg.length) off += writeSync(this.toXs, msg, off, msg.length - off);
  }

  private fill(n: number): void {
    const chunk = Buffer.alloc(65536);
    while (this.buf.length < n) {
      const got = readSync(this.fromXs, chunk, 0, chunk.length, null);
      if (got === 0) throw new XsError(this.name + ": the xsnap worker exited");
      this.buf = Buffer.concat([this.buf, chunk.subarray(0, got)]);
    }
  }

  private receive(): Uint8Array {
    let colon = -1;
    for (;;) {
      colon = this.buf.indexOf(0x3a);
      if (colon >= 0) break;
      if (this.buf.length > 20) throw new XsError(this.name + ": bad netstring length");
      this.fill(this.buf.length + 1);
    }
    const len = Number(this.buf.subarray(0, colon).toString("latin1"));
    if (!(len >= 0)) throw new XsError(this.name + ": bad netstring length");
    this.fill(colon + 1 + len + 1);
    const body = new Uint8Array(this.buf.subarray(colon + 1, colon + 1 + len));
    if (this.buf[colon + 1 + len] !== 0x2c) throw new XsError(this.name + ": netstring without a trailing comma");
    this.buf = this.buf.subarray(colon + 2 + len);
    if (body.length === 0) throw new XsError(this.name + ": empty message");
    return body;
  }
}
