// The persisted record for the node shell (core/ports.ts Storage, the core's `persist` command):
// in memory for simulations, or in one JSON file for `linkguard device --state FILE`.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Persisted } from "../../core/link.js";
import type { Storage } from "../../core/ports.js";

/** the key the file holds the record under (the file may be shared with other keys) */
export const PERSIST_KEY = "linkguard.link";

/** The record if `text` is one (JSON of { attempt, lastError }), else undefined. */
function parse(text: string | undefined): Persisted | undefined {
  if (!text) return undefined;
  try {
    const p = JSON.parse(text);
    if (p && typeof p.attempt === "number" && typeof p.lastError === "string") return { attempt: p.attempt, lastError: p.lastError };
  } catch { /* not a record */ }
  return undefined;
}

export class MemoryStorage implements Storage {
  private text: string | undefined;
  load(): Persisted | undefined {
    return parse(this.text);
  }
  save(d: Persisted): void {
    this.text = JSON.stringify(d);
  }
}

/** One JSON object in a file; written through a temporary file so a crash never leaves half of it. */
export class FileStorage implements Storage {
  constructor(private readonly file: string) {}

  private read(): { [k: string]: string } {
    try {
      const o = JSON.parse(readFileSync(this.file, "utf8"));
      return o && typeof o === "object" && !Array.isArray(o) ? o : {};
    } catch {
      return {};
    }
  }

  load(): Persisted | undefined {
    const v = this.read()[PERSIST_KEY];
    return parse(typeof v === "string" ? v : undefined);
  }

  save(d: Persisted): void {
    const o = this.read();
    o[PERSIST_KEY] = JSON.stringify(d);
    const tmp = this.file + ".tmp";
    writeFileSync(tmp, JSON.stringify(o));
    renameSync(tmp, this.file);
  }
}
