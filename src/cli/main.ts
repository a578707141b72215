// `linkguard <command> [flags]` — dispatches to each command's file in this folder. Exit codes:
// 0 success, 1 the command ran and found a failure (invalid config, a failed check), 2 usage errors.

import { benchCommand } from "./bench.js";
import { buildCommand } from "./build.js";
import { deviceCommand } from "./device.js";
import { fuzzCommand } from "./fuzz.js";
import { hubCommand } from "./hub.js";
import { simCommand } from "./sim.js";
import { startCommand } from "./start.js";
import { validateCommand } from "./validate.js";

interface Entry { summary: string; run: (argv: string[]) => Promise<number> }

const COMMANDS: { [name: string]: Entry } = {
  start: { summary: "the desktop simulator's default scenario: emulator + one device, scripted faults, live timeline", run: startCommand },
  hub: { summary: "the IoT Hub emulator alone, on TLS, for real devices or other clients", run: hubCommand },
  sim: { summary: "a simulated fleet against the emulator with fault injection", run: simCommand },
  device: { summary: "one device on the desktop (the real core and node shell) against any hub", run: deviceCommand },
  validate: { summary: "validate a device configuration or manifest; path-precise errors", run: validateCommand },
  build: { summary: "build the firmware bundle for a target (moddable | espruino)", run: buildCommand },
  fuzz: { summary: "fuzz the decoder and the link with random and mutated packets", run: fuzzCommand },
  bench: { summary: "the benchmark suite", run: benchCommand },
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
  return entry.run(argv.slice(1));
}
