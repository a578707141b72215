// `linkguard bench [--json] [--quick] [--only PARTS] [--seeds N] [--svg FILE | --no-svg]`: the
// benchmark suite (src/bench/suite.ts), a table or one JSON object; the storm chart goes to
// bench/storm.svg beside bench/RESULTS.md. Needs the dev dependencies: run it from a clone.

import { join } from "node:path";
import { POLICIES, POLICY_NOTES } from "../bench/storm.js";
import { PARTS, runBench, table, type Part } from "../bench/suite.js";
import { PACKAGE_ROOT as ROOT } from "../host/files.js";

export function usage(): string {
  return "usage: linkguard bench [--json] [--quick] [--only " + PARTS.join(",") + "] [--seeds N] [--svg FILE | --no-svg]\n" +
    "  --json    one JSON object on stdout (progress on stderr)\n" +
    "  --quick   the smoke version: every figure, small sizes, seconds\n" +
    "  --svg     where to write the storm chart (default bench/storm.svg, not with --quick)\n" +
    "policies: " + POLICIES.map((p) => p + " — " + POLICY_NOTES[p]).join("\n          ");
}

export async function benchCommand(argv: string[]): Promise<number> {
  let json = false, quick = false, seeds = 0;
  let only: Part[] = PARTS.slice();
  let svg: string | null | undefined = undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--quick") quick = true;
    else if (a === "--only" && i + 1 < argv.length) {
      only = argv[++i].split(",") as Part[];
      for (const p of only) if (PARTS.indexOf(p) < 0) { console.error("linkguard bench: unknown part " + p + "\n" + usage()); return 2; }
    } else if (a === "--seeds" && i + 1 < argv.length) seeds = Number(argv[++i]);
    else if (a === "--svg" && i + 1 < argv.length) svg = argv[++i];
    else if (a === "--no-svg") svg = null;
    else if (a === "--help" || a === "-h") { console.log(usage()); return 0; }
    else { console.error("linkguard bench: unknown flag " + a + "\n" + usage()); return 2; }
  }
  if (!(seeds >= 1)) seeds = quick ? 1 : 5;
  if (svg === undefined) svg = quick ? null : join(ROOT, "bench", "storm.svg");
  const r = await runBench({ quick: quick, only: only, seeds: seeds, svgFile: svg, log: (s) => process.stderr.write(s + "\n") });
  r.meta.command = "linkguard bench " + argv.join(" ");
  if (json) process.stdout.write(JSON.stringify(r) + "\n");
  else process.stdout.write(table(r) + "\n");
  return 0;
}
