// The link's core running inside XS, driven from Node: `linkguard sim --engine xs` and
// `linkguard device --engine xs` hand each event to the core on XS and get its commands back.
// The core is the Moddable build (rollup, ES2020, the same entry as the device's
// "linkguard/core" module) loaded into an xsnap worker as one script.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Command } from "../../core/link.js";
import type { DeviceConfig } from "../../core/config.js";
import type { CoreEngine } from "../../platform/node/engine.js";
import { PACKAGE_ROOT } from "../files.js";
import { XsWorker, type XsWorkerOptions } from "./worker.js";

/** The package's root: rollup.config.mjs, src/core, and build/xs/ for the built core. */
const ROOT = PACKAGE_ROOT;

function newestMtime(dir: string): number {
  let t = 0;
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return t;
}

let script: Promise<string> | null = null;

/**
 * The core as built for Moddable, as one script defining globalThis.linkguard. Built with
 * rollup into build/xs/ when missing or older than src/core; cached per process.
 */
export function xsCoreScript(): Promise<string> {
  if (!script) {
    script = (async () => {
      const out = join(ROOT, "build", "xs", "linkguard-core.xs.js");
      const srcTime = Math.max(newestMtime(join(ROOT, "src", "core")), statSync(join(ROOT, "src", "platform", "moddable", "core.ts")).mtimeMs);
      if (!existsSync(out) || statSync(out).mtimeMs < srcTime) {
        mkdirSync(join(ROOT, "build", "xs"), { recursive: true });
        const tmp = mkdtempSync(join(ROOT, "build", "xs", "tmp-"));
        try {
          const cfg = await import(pathToFileURL(join(ROOT, "rollup.config.mjs")).href);
          await cfg.runBuild(cfg.xsCoreBuild(tmp));
          renameSync(join(tmp, "linkguard-core.xs.js"), out); // atomic: concurrent builders agree
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
      }
      return readFileSync(out, "utf8");
    })();
    script.catch(() => { script = null; });
  }
  return script;
}

/**
 * Runs inside XS (sent as source text). Keeps links by id; every reply is UTF-8 JSON in an
 * ArrayBuffer, Uint8Arrays as { "$u8": [...] } both ways.
 */
function xsHarness(): void {
  const g = globalThis as any;
  const L = g.linkguard;
  const links: { [id: number]: any } = {};
  let next = 1;
  const te = new TextEncoder();
  const rev = (_k: string, v: any) => (v !== null && typeof v === "object" && Array.isArray(v.$u8) ? new Uint8Array(v.$u8) : v);
  const rep = (_k: string, v: any) => (v instanceof Uint8Array ? { $u8: Array.from(v) } : v);
  const out = (x: unknown) => te.encode(JSON.stringify(x, rep)).buffer;
  const snap = (s: any) => [s.kind, s.code, s.attempt, s.gen];
  g.lgx = {
    rev: rev, rep: rep, out: out,
    create(cfg: string, seed: number) {
      const id = next++;
      links[id] = L.createLink(JSON.parse(cfg, rev), undefined, seed);
      return out({ id: id, s: snap(links[id]) });
    },
    handle(id: number, ev: string, nowMs: number) {
      const r = L.step(links[id], JSON.parse(ev, rev), nowMs);
      links[id] = r.state;
      return out({ c: r.commands, s: snap(r.state) });
    },
    drop(id: number) { delete links[id]; },
  };
}

/** Uint8Array-preserving JSON, the host side of the harness's encoding. */
export const toJson = (x: unknown): string => JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? { $u8: Array.from(v) } : v));
export const fromJson = (s: string): any => JSON.parse(s, (_k, v) => (v !== null && typeof v === "object" && Array.isArray(v.$u8) ? new Uint8Array(v.$u8) : v));

/** An xsnap worker with the core and the harness loaded; hosts any number of links. */
export class XsHost {
  readonly worker: XsWorker;
  private engines = 0;
  private constructor(worker: XsWorker) { this.worker = worker; }

  static async create(o: XsWorkerOptions = {}): Promise<XsHost> {
    const code = await xsCoreScript();
    const w = new XsWorker(o);
    try {
      w.evaluate(code);
      w.evaluate("(" + xsHarness.toString() + ")()");
    } catch (e) {
      w.close();
      throw e;
    }
    return new XsHost(w);
  }

  /** Evaluate an expression whose value is an ArrayBuffer of JSON (from lgx.out). */
  call(expr: string): any {
    return fromJson(this.worker.evaluateText(expr));
  }

  /** One link inside this worker. Disposing the last engine does not close a shared host. */
  engine(cfg: DeviceConfig, seed: number, ownsHost: boolean): CoreEngine {
    const created = this.call("lgx.create(" + JSON.stringify(toJson(cfg)) + ", " + (seed | 0) + ")");
    const id: number = created.id;
    let snap: any[] = created.s;
    let live = true;
    this.engines++;
    return {
      handle: (e, nowMs) => {
        if (!live) throw new Error("xs engine: disposed");
        const r = this.call("lgx.handle(" + id + ", " + JSON.stringify(toJson(e)) + ", " + Number(nowMs) + ")");
        snap = r.s;
        return r.c as Command[];
      },
      snapshot: () => ({ kind: snap[0], code: snap[1], attempt: snap[2], gen: snap[3] }),
      dispose: () => {
        if (!live) return;
        live = false;
        this.engines--;
        try { this.worker.evaluate("lgx.drop(" + id + ")"); } catch { /* worker gone */ }
        if (ownsHost) this.worker.close();
      },
    };
  }

  close(): void { this.worker.close(); }
}

/**
 * A core on XS implementing CoreEngine: one xsnap worker per engine unless a shared host is
 * given (`linkguard sim --engine xs` with many devices can put them all in one worker).
 */
export async function createXsEngine(cfg: DeviceConfig, seed: number, host?: XsHost): Promise<CoreEngine> {
  if (host) return host.engine(cfg, seed, false);
  const h = await XsHost.create({ name: "linkguard-xs-" + cfg.deviceId.replace(/[^A-Za-z0-9_.-]/g, "_") });
  return h.engine(cfg, seed, true);
}
