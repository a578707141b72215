// Where linkguard's own files are, and how files that hold a secret are written.
// A user runs `npx linkguard ...` from their own folder: their --config, --out and --ca paths
// resolve against that working directory; the package's files (hardware/, manifests/,
// rollup.config.mjs, the device sources) resolve against the package, wherever npm put it.
import { closeSync, existsSync, fchmodSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The first folder at or above `from` whose package.json names the linkguard package. */
export function packageRootFrom(from: string): string {
  let dir = from;
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, "utf8")).name === "linkguard") return dir;
      } catch {
        // not JSON: keep looking above
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("linkguard: cannot find the linkguard package above " + from);
    dir = up;
  }
}

/** The linkguard package's folder (compiled: above build/src/cli/; from source: above src/cli/). */
export const PACKAGE_ROOT = packageRootFrom(dirname(fileURLToPath(import.meta.url)));

/** Owner read/write only: for files that hold a device key. */
export const PRIVATE_MODE = 0o600;

/**
 * Writes `data` to `file` readable by its owner only, also when the file already exists with
 * wider permissions (the mode of writeFileSync applies only to a file it creates): the file is
 * truncated, narrowed to 0600, and only then written.
 */
export function writePrivateFile(file: string, data: string | Uint8Array): void {
  const fd = openSync(file, "w", PRIVATE_MODE);
  try {
    fchmodSync(fd, PRIVATE_MODE);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}
