// Building and running the Moddable app as a user does, for test/engines/moddable.test.ts:
// `linkguard build --target moddable` writes dist/moddable/, the SDK's own `mcconfig -m -i -p lin
// -t build` compiles that manifest unchanged (settings a user passes on mcconfig's command line,
// like ssid=, go there too), and the app runs under `xvfb-run -a stdbuf -oL -eL mcsim mc.so`,
// its trace() lines read from stdout. Every mcsim started here runs in a process group of its own
// and is killed with it (xvfb-run, Xvfb and mcsim), also when a test fails.
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { moddableTool } from "../helpers/needs.js";

const CLI = fileURLToPath(new URL("../../../bin/linkguard.js", import.meta.url));

function sdkEnv(sdk: string): NodeJS.ProcessEnv {
  return Object.assign({}, process.env, { MODDABLE: sdk, PATH: join(sdk, "build", "bin", "lin", "release") + ":" + (process.env.PATH || "") });
}

export interface Built {
  /** the app, copied out of mcconfig's output folder (the next build reuses that folder) */
  so: string;
  /** linkguard build's output (sizes, the TLS note) */
  buildOutput: string;
  mcconfigMs: number;
}

/**
 * mcconfig's output folder (-o), kept between runs like a user's own build folder: the first
 * build compiles XS and the SDK's modules (35-55 s on 2 idle cores, minutes on busy ones), later
 * builds only what changed (a few s). One per SDK (its path and version), so another SDK never
 * reuses these objects.
 */
export function mcOutputDir(sdk: string): string {
  let version = "";
  try { version = readFileSync(join(sdk, "tools", "VERSION"), "utf8").trim(); } catch { /* none */ }
  return join(tmpdir(), "linkguard-mcconfig-" + createHash("sha256").update(sdk + "\n" + version).digest("hex").slice(0, 12));
}

/**
 * `linkguard build --target moddable --config CFG --ca CA --out DIR/NAME`, then mcconfig in
 * DIR/NAME/moddable with -o mcOutputDir(sdk) (shared, so a build compiles only what changed).
 * `mcArgs` are what a user adds on mcconfig's command line (name=value config settings).
 */
export function buildApp(o: { sdk: string; dir: string; name: string; config: object; caPem: string; mcArgs: string[] }): Built {
  const base = join(o.dir, o.name);
  mkdirSync(base, { recursive: true });
  writeFileSync(join(base, "device.json"), JSON.stringify(o.config, null, 2));
  writeFileSync(join(base, "ca.pem"), o.caPem);
  const b = spawnSync(process.execPath, [CLI, "build", "--target", "moddable", "--config", join(base, "device.json"), "--ca", join(base, "ca.pem"), "--out", base], { encoding: "utf8" });
  if (b.status !== 0) throw new Error(`linkguard build failed (${b.status}):\n${b.stdout}\n${b.stderr}`);
  const app = join(base, "moddable");
  const out = mcOutputDir(o.sdk);
  mkdirSync(out, { recursive: true });
  const t0 = Date.now();
  // -i: an instrumented release build, so the app can read its XS heap (main.ts heapJson)
  const m = spawnSync(moddableTool(o.sdk, "mcconfig"), ["-m", "-i", "-p", "lin", "-t", "build", "-o", out].concat(o.mcArgs), { cwd: app, env: sdkEnv(o.sdk), encoding: "utf8", maxBuffer: 64 << 20 });
  const mcconfigMs = Date.now() - t0;
  const so = join(out, "bin", "lin", "mc", "instrument", "moddable", "mc.so");
  if (m.status !== 0 || !existsSync(so)) throw new Error(`mcconfig failed (${m.status}) in ${app}:\n${(m.stdout || "").slice(-3000)}\n${(m.stderr || "").slice(-3000)}`);
  const mine = join(o.dir, o.name + ".so");
  copyFileSync(so, mine);
  return { so: mine, buildOutput: b.stdout + b.stderr, mcconfigMs };
}

/**
 * A bare Moddable app (no linkguard build): `files` (manifest.json and its modules) written to
 * DIR/NAME, then mcconfig as buildApp runs it. For checks of the engine itself.
 */
export function buildRawApp(o: { sdk: string; dir: string; name: string; files: { [file: string]: string } }): string {
  const app = join(o.dir, o.name);
  mkdirSync(app, { recursive: true });
  for (const f of Object.keys(o.files)) writeFileSync(join(app, f), o.files[f]);
  const out = mcOutputDir(o.sdk);
  mkdirSync(out, { recursive: true });
  const m = spawnSync(moddableTool(o.sdk, "mcconfig"), ["-m", "-i", "-p", "lin", "-t", "build", "-o", out], { cwd: app, env: sdkEnv(o.sdk), encoding: "utf8", maxBuffer: 64 << 20 });
  const so = join(out, "bin", "lin", "mc", "instrument", o.name, "mc.so");
  if (m.status !== 0 || !existsSync(so)) throw new Error(`mcconfig failed (${m.status}) in ${app}:\n${(m.stdout || "").slice(-3000)}\n${(m.stderr || "").slice(-3000)}`);
  const mine = join(o.dir, o.name + ".so");
  copyFileSync(so, mine);
  return mine;
}

export interface Line { atMs: number; text: string }

export interface App {
  name: string;
  lines: Line[];
  /** the first line (from index `from`) matching re, waiting up to ms */
  waitFor(re: RegExp, ms: number, from?: number): Promise<Line & { match: RegExpExecArray }>;
  /** every line matching re so far */
  all(re: RegExp): (Line & { match: RegExpExecArray })[];
  exited(): boolean;
  stop(): Promise<void>;
  /** the last lines of output, for a failure message */
  tail(n?: number): string;
}

const running = new Set<ChildProcess>();

function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  try { if (p.pid !== undefined) process.kill(-p.pid, signal); } catch { /* gone */ }
}

process.on("exit", () => { for (const p of running) killGroup(p, "SIGKILL"); });

/**
 * Starts mc.so under xvfb-run in a process group of its own. mcsim copies the app to
 * $XDG_CONFIG_HOME/mc.so (else ~/.config/; modules/piu/PC/lin/piuMain.c, tools/mcsim/main.js) and
 * runs that copy: two mcsims sharing it crash with a bus error, so each gets a folder of its own.
 */
export function runApp(sdk: string, so: string, name: string): App {
  const config = mkdtempSync(join(tmpdir(), "linkguard-mcsim-"));
  const env = Object.assign(sdkEnv(sdk), { XDG_CONFIG_HOME: config });
  const p = spawn("xvfb-run", ["-a", "stdbuf", "-oL", "-eL", moddableTool(sdk, "mcsim"), so], { detached: true, stdio: ["ignore", "pipe", "pipe"], env });
  running.add(p);
  const lines: Line[] = [];
  let rest = "";
  let done = false;
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer) => {
    rest += d.toString("utf8");
    const parts = rest.split("\n");
    rest = parts.pop() as string;
    for (const t of parts) if (t.length > 0 && !t.startsWith("instruments")) lines.push({ atMs: Date.now(), text: t });
    for (const w of waiters.slice()) w();
  };
  p.stdout!.on("data", onData);
  p.stderr!.on("data", onData);
  p.on("exit", () => {
    done = true;
    running.delete(p);
    rmSync(config, { recursive: true, force: true });
    for (const w of waiters.slice()) w();
  });
  const find = (re: RegExp, from: number) => {
    for (let i = from; i < lines.length; i++) {
      const m = re.exec(lines[i].text);
      if (m) return Object.assign({}, lines[i], { match: m });
    }
    return null;
  };
  const app: App = {
    name,
    lines,
    waitFor(re, ms, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = find(re, from);
          if (hit) { finish(); resolve(hit); return; }
          if (done) { finish(); reject(new Error(`${name}: mcsim exited before ${re}\n${app.tail()}`)); }
        };
        const timer = setTimeout(() => { finish(); reject(new Error(`${name}: no ${re} within ${ms} ms\n${app.tail()}`)); }, ms);
        const finish = () => { clearTimeout(timer); const i = waiters.indexOf(check); if (i >= 0) waiters.splice(i, 1); };
        waiters.push(check);
        check();
      });
    },
    all(re) {
      const out: (Line & { match: RegExpExecArray })[] = [];
      for (const l of lines) { const m = re.exec(l.text); if (m) out.push(Object.assign({}, l, { match: m })); }
      return out;
    },
    exited: () => done,
    async stop() {
      if (done) return;
      killGroup(p, "SIGTERM");
      const t0 = Date.now();
      while (!done && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 50));
      if (!done) killGroup(p, "SIGKILL");
    },
    tail(n = 30) { return lines.slice(-n).map((l) => l.text).join("\n"); },
  };
  return app;
}

/** Kills every app still running (after a failed test). */
export async function stopAllApps(): Promise<void> {
  for (const p of Array.from(running)) killGroup(p, "SIGKILL");
  const t0 = Date.now();
  while (running.size > 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Preference on lin is one JSON file, config.file.root + "modpreferences.json", and the SDK's lin
 * file module fixes that root at /tmp/ (modules/files/file/manifest.json; mcconfig's command
 * line sets only top-level config keys, so it cannot move it). Every app on the machine shares
 * it: the suite keeps what was there, clears it between scenarios and puts it back at the end.
 */
export const PREFS_FILE = "/tmp/modpreferences.json";

export class Prefs {
  private saved: string | null = null;
  private taken = false;
  save(): void { this.saved = existsSync(PREFS_FILE) ? readFileSync(PREFS_FILE, "utf8") : null; this.taken = true; }
  clear(): void { rmSync(PREFS_FILE, { force: true }); }
  read(): any { return existsSync(PREFS_FILE) ? JSON.parse(readFileSync(PREFS_FILE, "utf8")) : null; }
  /** puts back what save() found (nothing to do when save() never ran) */
  restore(): void {
    if (!this.taken) return;
    if (this.saved === null) rmSync(PREFS_FILE, { force: true });
    else writeFileSync(PREFS_FILE, this.saved);
  }
}
