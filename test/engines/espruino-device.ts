// One Espruino interpreter (the Linux build, $ESPRUINO_BIN) as a device for the real-engine suite.
// Each device runs in a temp folder of its own: the Linux build keeps Storage in a fake flash file
// (espruino.flash) in its current directory. Code and Storage files reach it from files (as
// `espruino file.js` runs a file; Storage written with the device off, as an upload tool does),
// and a test talks to it as a user would on its console (stdin/stdout REPL): typing expressions.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class EspruinoDevice {
  readonly dir: string;
  /** every console line so far (ANSI codes and prompts removed) */
  readonly lines: string[] = [];
  private proc: ChildProcess | null = null;
  private partial = "";
  private asks = 0;
  /** characters received on stdout so far (typeSlowly paces itself by them) */
  private received = 0;

  constructor(readonly bin: string, readonly name: string) {
    this.dir = mkdtempSync(join(tmpdir(), "linkguard-espruino-" + name + "-"));
  }

  /**
   * Power on: start the interpreter (it runs Storage's .bootcde, if any, as a board does at boot),
   * and run `script` (a file in this device's folder) as `espruino script.js` does: the way a file
   * reaches the Linux build without its console (see ask for why the console is kept for short lines).
   */
  async boot(script?: string): Promise<void> {
    const p = spawn(this.bin, script ? [script] : [], { cwd: this.dir, stdio: ["pipe", "pipe", "pipe"] });
    this.proc = p;
    p.stdout!.setEncoding("latin1");
    p.stdout!.on("data", (d: string) => this.take(d));
    p.stderr!.on("data", () => { /* the interpreter's own start-up notes */ });
    p.stdin!.on("error", () => { /* closed at power-off */ });
    await this.waitFor(/espruino\.com/, 5000);
    await sleep(200);
  }

  private take(d: string): void {
    this.received += d.length;
    // eslint-disable-next-line no-control-regex
    const text = this.partial + d.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() as string;
    for (const l of parts) this.lines.push(l.replace(/^>+/, "").replace(/\r/g, ""));
  }

  /** Power off (the process exits only on SIGKILL once its console has no more input). */
  async off(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await gone;
  }

  /** Keep the console for a post-mortem: LINKGUARD_ESPRUINO_LOGS=DIR writes DIR/<name>.log. */
  saveLog(): void {
    const dir = process.env.LINKGUARD_ESPRUINO_LOGS;
    if (dir) writeFileSync(join(dir, this.name + ".log"), this.lines.join("\n") + "\n" + this.partial);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Type on the console. */
  type(text: string): void {
    if (!this.proc) throw new Error(this.name + " is off");
    this.proc.stdin!.write(text);
  }

  /**
   * Type a line paced by the console's echo: each character is sent only once the interpreter
   * answered the one before (its echo, or any output), at most 300 ms apart. The Linux build reads
   * stdin on a thread of its own and appends to the input event the interpreter may be reading,
   * without a lock (the race described at ask()); with one character in flight at a time, no event
   * ever grows while it is read. Echo stays on for such lines (no \x10 prefix).
   */
  async typeSlowly(text: string): Promise<void> {
    for (const ch of text) {
      const seen = this.received;
      this.type(ch);
      const end = Date.now() + 300;
      while (this.received === seen && Date.now() < end) await sleep(1);
    }
  }

  /** Run a file that `linkguard build` wrote, whole, as `espruino linkguard.min.js` does: power on with it. */
  async bootWith(fileName: string, content: string): Promise<void> {
    writeFileSync(join(this.dir, fileName), content, "latin1");
    await this.boot(fileName);
  }

  /**
   * Write Storage files with the device off, as the `espruino` tool's Storage upload does
   * (require("Storage").write of the file's bytes), from a loader script run once: the content
   * reaches the interpreter from a file, not through the Linux build's racy console input (ask).
   * Reads each file back and compares its length.
   */
  async writeStorage(files: { [name: string]: string }): Promise<void> {
    if (this.proc) throw new Error(this.name + ": writeStorage needs the device off");
    const names = Object.keys(files);
    let loader = "";
    names.forEach((name, i) => {
      writeFileSync(join(this.dir, "upload-" + i), files[name], "latin1");
      // in 2 KB pieces (write(name, piece, offset, size)), as upload tools send a file
      loader += "(function(){var t=require(\"fs\").readFileSync(\"upload-" + i + "\");for(var o=0;o<t.length;o+=2048)require(\"Storage\").write(" + JSON.stringify(name) + ",t.substr(o,2048),o,t.length);})();\n";
      loader += "print(\"@@stored " + name + " \"+require(\"Storage\").read(" + JSON.stringify(name) + ").length);\n";
    });
    writeFileSync(join(this.dir, "upload.js"), loader);
    const from = this.lines.length;
    await this.boot("upload.js");
    for (const name of names) {
      const line = await this.waitFor(new RegExp("^@@stored " + name.replace(/\./g, "\\.") + " \\d+$"), 10000, from);
      const n = Number(line.split(" ")[2]);
      if (n !== Buffer.byteLength(files[name], "latin1")) throw new Error(`${this.name}: Storage ${name} has ${n} bytes, not ${files[name].length}`);
    }
    await this.off();
  }

  /**
   * Evaluate an expression on the console and return its value (through JSON). The Linux build
   * reads stdin on a thread of its own and queues the characters without a lock
   * (targets/linux/jshardware.c jshInputThread, src/jsdevices.c jshPushIOCharEvents): while the
   * interpreter is busy a typed line now and then loses characters (a SyntaxError) or the
   * interpreter stops on ASSERT(len <= 64) in jsdevices.c. So each line is guarded to run at
   * most once and retyped after a SyntaxError; an ASSERT is reported as what it is.
   */
  async ask(expr: string, ms = 5000): Promise<any> {
    const n = ++this.asks;
    const tag = "@@" + this.name + "#" + n + "=";
    const line = "print(" + JSON.stringify(tag) + "+JSON.stringify(global.__lgAsk===" + n + "?global.__lgVal:(global.__lgAsk=" + n + ",global.__lgVal=(" + expr + "))))\n";
    const re = new RegExp("^" + tag.replace(/[#@]/g, "\\$&") + "(.*)$");
    for (let tries = 0; ; tries++) {
      const from = this.lines.length;
      await this.typeSlowly(line);
      const end = Date.now() + ms;
      for (;;) {
        const got = this.lines.slice(from).find((l) => re.test(l));
        if (got !== undefined) {
          const text = got.slice(tag.length);
          return text === "undefined" || text === "" ? undefined : JSON.parse(text);
        }
        this.checkAlive(from);
        if (tries < 3 && this.lines.slice(from).some((l) => /^Uncaught SyntaxError/.test(l))) break; // retype
        if (Date.now() > end) throw new Error(`${this.name}: no answer to ${expr} within ${ms} ms; last lines:\n${this.lines.slice(-15).join("\n")}`);
        await sleep(25);
      }
      await sleep(100);
    }
  }

  /** Throws when the interpreter stopped on an internal assertion (see ask). */
  private checkAlive(from: number): void {
    const a = this.lines.slice(from).find((l) => /^ASSERT\(/.test(l));
    if (a) throw new Error(`${this.name}: the Espruino Linux interpreter stopped: ${a} (its console input thread races the interpreter: see EspruinoDevice.ask)`);
  }

  /** JsVars in use; process.memory() runs a garbage collection first. */
  async jsVars(): Promise<number> {
    return this.ask("process.memory().usage");
  }

  /**
   * Where the JsVars go, from E.dumpVariables() (the Linux build has it): `codeBlocks` are the
   * blocks of function code strings (`codeStrings` of them), `unlinked` the blocks no variable
   * links to — the raw allocations mbedTLS makes with jsvMalloc on the Linux build (its
   * libs/crypto/mbedtls/config.h), which the ESP32 firmware makes in the C heap instead.
   */
  async dumpShares(): Promise<{ total: number; codeBlocks: number; codeStrings: number; unlinked: number }> {
    const from = this.lines.length;
    const tag = "@@dump-" + this.name + "-" + ++this.asks;
    await this.typeSlowly("E.dumpVariables();print(" + JSON.stringify(tag) + ")\n");
    await this.waitFor(new RegExp("^" + tag + "$"), 10000, from);
    const rows = new Map<number, { size: number; name: string; links: number[] }>();
    for (const l of this.lines.slice(from)) {
      const m = /^(\d+),(\d+),(\d+),(.*)$/.exec(l);
      if (!m) continue;
      const parts = m[4].split(",");
      while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
      const links: number[] = [];
      while (parts.length > 0 && /^\d+$/.test(parts[parts.length - 1])) links.unshift(Number(parts.pop()));
      rows.set(Number(m[1]), { size: Number(m[2]), name: parts.join(","), links });
    }
    const linked = new Set<number>();
    let total = 0, codeBlocks = 0, codeStrings = 0, unlinked = 0;
    for (const r of rows.values()) for (const x of r.links) linked.add(x);
    for (const [ref, r] of rows) {
      total += r.size;
      if (r.name === '"\\xFFcod"') for (const t of r.links) { const c = rows.get(t); if (c) { codeBlocks += c.size; codeStrings++; } }
      if (ref !== 1 && !linked.has(ref)) unlinked += r.size;
    }
    return { total, codeBlocks, codeStrings, unlinked };
  }

  /** The first console line from `from` on that matches. */
  async waitFor(re: RegExp, ms: number, from = 0): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i])) return this.lines[i];
      if (this.partial && re.test(this.partial)) return this.partial;
      this.checkAlive(from);
      if (Date.now() > end) throw new Error(`${this.name}: no console line matching ${re} within ${ms} ms; last lines:\n${this.lines.slice(-15).join("\n")}`);
      await sleep(25);
    }
  }

  /** Lines that match, from `from` on. */
  matching(re: RegExp, from = 0): string[] {
    return this.lines.slice(from).filter((l) => re.test(l));
  }
}
