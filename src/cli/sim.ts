// `linkguard sim` — a simulated fleet against the emulator with fault injection.
// --json prints exactly the DESIGN.md report on stdout; progress goes to stderr.

import { writeFileSync } from "node:fs";
import { EngineKind, EngineUnavailable } from "../host/engine.js";
import { engineFlag, numberFlag, parseFlags, UsageError } from "./flags.js";
import { FAULT_PROFILES, FaultProfile } from "../sim/faults.js";
import { runFleet, DEFAULT_LINGER, Progress } from "../sim/fleet.js";
import { renderHtml } from "../sim/html.js";
import { judge, summary } from "../sim/report.js";
import { Painter, wantsColor } from "../sim/timeline.js";

const HELP = `usage: linkguard sim [--devices N] [--duration S] [--faults PROFILE] [--seed K]
                     [--engine node|xs] [--json] [--html FILE] [--linger MIN-MAX] [--rate R]

A simulated fleet against the IoT Hub emulator (in-process, TLS on 127.0.0.1): N devices, each
running the real core over the node shell and its own TLS socket, QoS 1 telemetry throughout,
faults injected from a seeded schedule. At the end the faults stop and the devices are given
time to reconnect and have their in-flight messages acknowledged before anything is counted.

  --devices N       devices (1..2000; default 10)
  --duration S      seconds of faults and telemetry (1..3600; default 30)
  --faults PROFILE  ${FAULT_PROFILES.join(" | ")} (default chaos)
  --seed K          seed of the fault schedule, keys and jitter (integer; default 1)
  --engine E        node | xs: where the core runs (default node)
  --json            print the report as one JSON object on stdout (nothing else there)
  --html FILE       write a self-contained page: every device's link state over time and
                    the hub's diagnostics on the same axis
  --linger MIN-MAX  the hub's view of a dropped link lingers MIN..MAX ms (default ${DEFAULT_LINGER.min}-${DEFAULT_LINGER.max})
  --rate R          telemetry messages per device per second (0..50; default 1)

Exit codes: 0 pass; 1 the run found a failure (a conflict with an open link, a conflict although
the linger is shorter than the backoff floor, lost telemetry, a halted device); 2 usage errors.`;

function lingerFlag(v: string | undefined): { min: number; max: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(v);
  if (!m) throw new UsageError(`--linger: "${v}" is not MIN-MAX in ms (e.g. 200-2000)`);
  const min = Number(m[1]);
  const max = Number(m[2]);
  if (max < min) throw new UsageError(`--linger: MAX (${max}) is below MIN (${min})`);
  if (max > 600000) throw new UsageError(`--linger: ${max} ms is out of range 0..600000`);
  return { min, max };
}

export async function simCommand(argv: string[]): Promise<number> {
  let flags: { [name: string]: string | boolean | undefined };
  let devices: number, durationS: number, seed: number, rate: number;
  let profile: FaultProfile;
  let engine: EngineKind;
  let linger: { min: number; max: number } | undefined;
  try {
    flags = parseFlags(argv, {
      devices: { type: "string" }, duration: { type: "string" }, faults: { type: "string" }, seed: { type: "string" },
      engine: { type: "string" }, json: { type: "boolean" }, html: { type: "string" }, linger: { type: "string" },
      rate: { type: "string" }, help: { type: "boolean", short: "h" },
    });
    if (flags.help) { console.log(HELP); return 0; }
    devices = numberFlag("devices", flags.devices as string | undefined, 10, 1, 2000, true);
    durationS = numberFlag("duration", flags.duration as string | undefined, 30, 1, 3600, false);
    seed = numberFlag("seed", flags.seed as string | undefined, 1, -2147483648, 2147483647, true);
    rate = numberFlag("rate", flags.rate as string | undefined, 1, 0, 50, false);
    const f = flags.faults === undefined ? "chaos" : String(flags.faults);
    if ((FAULT_PROFILES as readonly string[]).indexOf(f) < 0) throw new UsageError(`--faults: "${f}" is not one of ${FAULT_PROFILES.join(", ")}`);
    profile = f as FaultProfile;
    engine = engineFlag(flags.engine as string | undefined);
    linger = lingerFlag(flags.linger as string | undefined);
    if (flags.html !== undefined && String(flags.html).trim() === "") throw new UsageError("--html: needs a FILE");
  } catch (e) {
    if (e instanceof UsageError) { console.error(`linkguard sim: ${e.message}\n\n${HELP}`); return 2; }
    throw e;
  }
  const json = flags.json === true;
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  const onProgress = (p: Progress): void => {
    const now = Date.now();
    const line = p.phase === "run"
      ? `sim ${(p.elapsedMs / 1000).toFixed(1)}/${(p.durationMs / 1000).toFixed(0)} s  connected ${p.connected}/${p.devices}  faults ${p.faults}`
      : `sim draining ${(p.elapsedMs / 1000).toFixed(1)} s  connected ${p.connected}/${p.devices}  settling ${p.unsettled}  faults ${p.faults}`;
    if (tty) process.stderr.write("\r\u001b[2K" + line);
    else if (now - lastLine >= 5000) { process.stderr.write(line + "\n"); lastLine = now; }
  };
  let result;
  try {
    result = await runFleet({ devices, durationS, profile, seed, engine, lingerMs: linger, ratePerS: rate, onProgress });
  } catch (e) {
    if (tty) process.stderr.write("\r\u001b[2K");
    if (e instanceof EngineUnavailable) { console.error("linkguard sim: " + e.message); return 2; }
    console.error("linkguard sim: " + (e as Error).message);
    return 1;
  }
  if (tty) process.stderr.write("\r\u001b[2K");
  const rep = result.report;
  const verdict = judge(rep, result.lingerMs.max, result.floorMs, profile);
  if (!result.drained) verdict.failures.push("the drain ended before every device settled");
  if (flags.html !== undefined) {
    const file = String(flags.html);
    try {
      writeFileSync(file, renderHtml(result, { profile, engine }));
      process.stderr.write(`linkguard sim: wrote ${file}\n`);
    } catch (e) {
      console.error(`linkguard sim: cannot write ${file}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
      return 2;
    }
  }
  if (json) {
    process.stdout.write(JSON.stringify(rep, null, 2) + "\n");
    for (const f of verdict.failures) process.stderr.write("linkguard sim: FAIL: " + f + "\n");
  } else {
    console.log(summary(rep, { ok: verdict.failures.length === 0, failures: verdict.failures }, new Painter(wantsColor(process.stdout)), {
      wallS: (result.runMs + result.drainMs) / 1000, drainS: result.drainMs / 1000, lingerMs: result.lingerMs,
    }));
  }
  return verdict.failures.length === 0 ? 0 : 1;
}
