// `linkguard fuzz [--count N] [--seed K] [--json]`: the decoder and the link fed random and
// mutated packets (src/sim/fuzz.ts runs them); a summary, or the report as JSON.

import { runFuzz } from "../sim/fuzz.js";

const HELP = `usage: linkguard fuzz [--count N] [--seed K] [--json]

Feeds N (default 1000000) random and mutated MQTT packets — mutations of valid packets made by
mqtt-packet — through the decoder and through a connected link. Reports escapes (exceptions;
must be 0), violations (a protocol error that did not close the link with a reason; must be 0),
the error codes seen, heap before and after, and the throughput.
Exit codes: 0 clean, 1 an escape or violation, 2 usage error.`;

export async function fuzzCommand(argv: string[]): Promise<number> {
  let count = 1_000_000;
  let seed = 1;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") { console.log(HELP); return 0; }
    if (a === "--json") { json = true; continue; }
    if (a === "--count" || a === "--seed") {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < (a === "--count" ? 1 : 0)) { console.error(`linkguard fuzz: ${a} needs a ${a === "--count" ? "positive" : "non-negative"} integer\n\n${HELP}`); return 2; }
      if (a === "--count") count = v; else seed = v;
      continue;
    }
    console.error(`linkguard fuzz: unknown flag ${a}\n\n${HELP}`);
    return 2;
  }
  const rep = runFuzz({ count, seed, onProgress: (n) => process.stderr.write(`\rfuzz: ${n} / ${count} inputs`) });
  if (count >= 100000) process.stderr.write("\n");
  if (json) console.log(JSON.stringify(rep));
  else {
    console.log(`fuzz: ${rep.inputs} inputs (seed ${rep.seed}) in ${(rep.ms / 1000).toFixed(1)} s — ${rep.inputsPerS} inputs/s`);
    console.log(`  decoded clean ${rep.decodedClean}, protocol errors ${rep.protocolErrors}, incomplete ${rep.incomplete}, link closures ${rep.linkClosures}`);
    console.log(`  escapes ${rep.escapes}, violations ${rep.violations}; heap ${rep.heapStartMB} MB -> ${rep.heapEndMB} MB`);
    console.log(`  error codes: ${Object.keys(rep.errorCodes).sort().map((k) => `${k} ${rep.errorCodes[k]}`).join(", ")}`);
    if (rep.firstProblem) console.log(`  first problem: ${rep.firstProblem}`);
  }
  return rep.escapes === 0 && rep.violations === 0 ? 0 : 1;
}
