// `linkguard validate FILE` — a device configuration, or a Moddable manifest whose `config`
// holds one (under config.linkguard, or the device fields directly). Every error, with its path.

import { readFileSync } from "node:fs";
import { loadConfigJson, validateConfig, describeConfigError, ConfigResult } from "../core/config.js";

const HELP = `usage: linkguard validate FILE [--json]

Checks a device configuration (or a Moddable manifest.json whose "config" holds one) against
linkguard's schema and prints every error with its JSON path and the rule broken.
Exit codes: 0 valid, 1 invalid, 2 the file could not be read or a flag is wrong.`;

/** Pick the device configuration out of a manifest, or take the file as one. */
export function configFromDocument(doc: unknown): { value: unknown; prefix: string } {
  if (doc && typeof doc === "object" && !Array.isArray(doc)) {
    const o = doc as { [k: string]: unknown };
    const cfg = o.config as { [k: string]: unknown } | undefined;
    if ((o.modules !== undefined || o.include !== undefined || o.build !== undefined) && cfg && typeof cfg === "object") {
      if (cfg.linkguard !== undefined) return { value: cfg.linkguard, prefix: "$.config.linkguard" };
      return { value: cfg, prefix: "$.config" };
    }
  }
  return { value: doc, prefix: "$" };
}

export function validateText(text: string): { result: ConfigResult; prefix: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // loadConfigJson reports the parse failure without quoting the text (which may hold a key).
    return { result: loadConfigJson(text), prefix: "$" };
  }
  const pick = configFromDocument(doc);
  return { result: validateConfig(pick.value), prefix: pick.prefix };
}

export async function validateCommand(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) { console.log(HELP); return 0; }
  const json = argv.includes("--json");
  const files = argv.filter((a) => a !== "--json");
  const bad = files.find((a) => a.startsWith("-"));
  if (bad) { console.error(`linkguard validate: unknown flag ${bad}\n\n${HELP}`); return 2; }
  if (files.length !== 1) { console.error(`linkguard validate: expected one FILE\n\n${HELP}`); return 2; }
  let text: string;
  try { text = readFileSync(files[0], "utf8"); } catch (e) {
    console.error(`linkguard validate: cannot read ${files[0]}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
    return 2;
  }
  const { result, prefix } = validateText(text);
  const rebase = (p: string) => (prefix === "$" ? p : prefix + p.slice(1));
  if (json) {
    console.log(JSON.stringify(result.ok ? { ok: true } : { ok: false, errors: result.errors.map((e) => ({ ...e, path: rebase(e.path) })) }));
  } else if (result.ok) {
    console.log(`${files[0]}: valid (device ${result.config.deviceId} -> ${result.config.host}:${result.config.port}, ${result.config.tls ? "TLS" : "plaintext (loopback)"})`);
  } else {
    for (const e of result.errors) console.error(`${files[0]}: ${describeConfigError({ ...e, path: rebase(e.path) })}`);
    console.error(`${files[0]}: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}`);
  }
  return result.ok ? 0 : 1;
}
