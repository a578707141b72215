// Small persisted key/values for the node shell (the core's `persist` command): in memory for
// simulations, or one JSON file for `linkguard device --state FILE`.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { Storage } from "../../core/ports.js";

export class MemoryStorage implements Storage {
  private values: { [k: string]: string } = {};
  load(key: string): string | null {
    return Object.prototype.hasOwnProperty.call(this.values, key) ? this.values[key] : null;
  }
  save(key: string, value: string): void {
    this.values[key] = value;
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

  load(key: string): string | null {
    const o = this.read();
    return typeof o[key] === "string" ? o[key] : null;
  }

  save(key: string, value: string): void {
    const o = this.read();
    o[key] = value;
    const tmp = this.file + ".tmp";
    writeFileSync(tmp, JSON.stringify(o));
    renameSync(tmp, this.file);
  }
}
