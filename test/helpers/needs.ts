// What a suite needs from the machine beyond `npm ci`: a real engine, a real broker, a headless
// display. Found the way a user's machine has them: $MODDABLE (the Moddable SDK's own convention),
// $ESPRUINO_BIN (the Espruino interpreter's path), mosquitto and xvfb-run on PATH or in /usr/sbin.
//
// On a developer's machine a suite whose need is absent is skipped, and the skip says how to
// enable it; under CI=true (and `.ci/run` sets it) an absent need is a failure, never a skip.
import { accessSync, constants, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export type NeedName = "espruino" | "moddable" | "mosquitto";

export interface Need {
  name: NeedName;
  /** the executable (espruino, mosquitto) or the SDK folder (moddable); null when absent */
  path: string | null;
  /** why it is absent (empty when present) */
  missing: string;
  /** how to provide it */
  how: string;
}

function executable(p: string): boolean {
  try { accessSync(p, constants.X_OK); return true; } catch { return false; }
}

function onPath(cmd: string, extra: string[] = []): string | null {
  for (const p of extra) if (executable(p)) return p;
  const w = spawnSync("sh", ["-c", "command -v " + cmd], { encoding: "utf8" });
  return w.status === 0 && w.stdout.trim() ? w.stdout.trim() : null;
}

export function findMosquitto(): string | null {
  return onPath("mosquitto", ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto"]);
}

/** The Moddable SDK's lin tools: mcconfig (needs gcc and GTK 3 headers) and mcsim (run under xvfb-run). */
export function moddableTool(sdk: string, tool: string): string {
  return join(sdk, "build", "bin", "lin", "release", tool);
}

const HOW: Record<NeedName, string> = {
  espruino: "set ESPRUINO_BIN to an Espruino Linux interpreter (e.g. ESPRUINO_BIN=$PWD/../shared/engines/espruino-2v29-linux-x64)",
  moddable: "set MODDABLE to a Moddable SDK with its lin tools built (e.g. export MODDABLE=$(../shared/engines/moddable-sdk)), and install xvfb, xauth and libgtk-3-dev (apt-get install xvfb xauth libgtk-3-dev)",
  mosquitto: "install Debian's mosquitto (apt-get update && apt-get install -y mosquitto)",
};

/**
 * LINKGUARD_TEST_WITHOUT=mosquitto,espruino,moddable hides what this machine has, to check what
 * `npm test` does on a machine without it.
 */
function hidden(name: NeedName): boolean {
  return (process.env.LINKGUARD_TEST_WITHOUT || "").split(",").map((x) => x.trim()).indexOf(name) >= 0;
}

export function need(name: NeedName): Need {
  const how = HOW[name];
  if (hidden(name)) return { name, path: null, missing: `hidden by LINKGUARD_TEST_WITHOUT`, how };
  switch (name) {
    case "espruino": {
      const p = process.env.ESPRUINO_BIN;
      if (!p) return { name, path: null, missing: "ESPRUINO_BIN is not set", how };
      if (!executable(p)) return { name, path: null, missing: `ESPRUINO_BIN=${p} is not an executable file`, how };
      return { name, path: p, missing: "", how };
    }
    case "moddable": {
      const sdk = process.env.MODDABLE;
      if (!sdk) return { name, path: null, missing: "MODDABLE is not set", how };
      for (const tool of ["mcconfig", "mcsim"]) {
        if (!executable(moddableTool(sdk, tool))) return { name, path: null, missing: `${moddableTool(sdk, tool)} is missing (build the SDK's lin tools)`, how };
      }
      if (!onPath("xvfb-run")) return { name, path: null, missing: "xvfb-run is not installed (mcsim needs a display)", how };
      if (spawnSync("sh", ["-c", "pkg-config --exists gtk+-3.0"]).status !== 0 && !existsSync("/usr/include/gtk-3.0")) {
        return { name, path: null, missing: "GTK 3 headers are not installed (mcconfig -p lin links against GTK)", how };
      }
      return { name, path: sdk, missing: "", how };
    }
    case "mosquitto": {
      const p = findMosquitto();
      return p ? { name, path: p, missing: "", how } : { name, path: null, missing: "mosquitto is not installed", how };
    }
  }
}

export function inCi(): boolean {
  return process.env.CI === "true" || process.env.CI === "1";
}

/**
 * The `skip` option for a suite: false when the need is present, or under CI (where the suite's
 * own `requireNeed` then fails); otherwise the reason, naming how to enable it.
 */
export function skipUnless(n: Need): false | string {
  if (n.path !== null || inCi()) return false;
  return `${n.missing}: ${n.how}`;
}

/** The need's path, or a failure that names what is missing and how to provide it (used under CI). */
export function requireNeed(n: Need): string {
  if (n.path !== null) return n.path;
  throw new Error(`${n.name} is required${inCi() ? " (CI=true: nothing may be skipped)" : ""}: ${n.missing}; ${n.how}`);
}
