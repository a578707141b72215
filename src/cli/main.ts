// `linkguard <command> [flags]` — dispatches to each command's module. Exit codes: 0 success,
// 1 the command ran and found a failure (invalid config, a failed check), 2 usage errors.

import { buildCommand } from "./build.js";
import { deviceCommand } from "./device.js";
import { fuzzCommand } from "./fuzz.js";
import { hubCommand } from "./hub.js";
import { simCommand } from "./sim.js";
import { startCommand } from "./start.js";
import { validateCommand } from "./validate.js";

interface Entry { summary: string; load: () => Promise<(argv: string[]) => Promise<number>> }

/** Load a command's module on demand (a specifier in a variable: commands land independently). */
function lazy(spec: string, name: string): Entry["load"] {
  return async () => {
    const m = await import(spec);
    if (typeof m[name] !== "function") throw new Error(`${spec} does not export ${name}`);
    return m[name];
  };
}

const COMMANDS: { [name: string]: Entry } = {
  start: { summary: "the desktop simulator's default scenario: emulator + one device, scripted faults, live timeline", load: async () => startCommand },
  hub: { summary: "the IoT Hub emulator alone, on TLS, for real devices or other clients", load: async () => hubCommand },
  sim: { summary: "a simulated fleet against the emulator with fault injection", load: async () => simCommand },
  device: { summary: "one device on the desktop (the real core and node shell) against any hub", load: async () => deviceCommand },
  validate: { summary: "validate a device configuration or manifest; path-precise errors", load: async () => validateCommand },
  build: { summary: "build the firmware bundle for a target (moddable | espruino)", load: async () => buildCommand },
  fuzz: { summary: "fuzz the decoder and the link with random and mutated packets", load: async () => fuzzCommand },
  bench: { summary: "the benchmark suite", load: lazy("../../bench/benchcmd.js", "benchCommand") },
};

export function usage(): string {
  const lines = ["usage: linkguard <command> [flags]", "", "commands:"];
  for (const k of Object.keys(COMMANDS)) lines.push(`  ${k.padEnd(9)} ${COMMANDS[k].summary}`);
  lines.push("", "`linkguard <command> --help` describes each command's flags.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    console.error(`linkguard: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  let run: (argv: string[]) => Promise<number>;
  try {
    run = await entry.load();
  } catch (e) {
    console.error(`linkguard: the ${cmd} command is not available in this build (${(e as Error).message.split("\n")[0]})`);
    return 2;
  }
  return run(argv.slice(1));
}
