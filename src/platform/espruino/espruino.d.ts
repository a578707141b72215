// The few Espruino globals the shell and firmware use (ENGINES.md lists what exists).
// Deliberately narrow: anything not declared here does not type-check in Espruino code.

declare const E: {
  /** bytes -> binary string (one char per byte); what a socket's write() wants */
  toString(bytes: Uint8Array): string;
  /** binary string -> bytes; a socket's data events deliver binary strings */
  toUint8Array(s: string): Uint8Array;
  /** a 32-bit hardware random number */
  hwRand(): number;
  /** garbage-collect, then move variables so that free memory is contiguous (absent on SAVE_ON_FLASH builds) */
  defrag?: () => void;
};

/** base64 -> binary string, and back (Espruino's are byte-string based) */
declare function atob(s: string): string;
declare function btoa(s: string): string;
declare function require(name: string): any;
/** extra arguments are passed to fn (Espruino does, as browsers do) */
declare function setTimeout(fn: (...args: any[]) => void, ms: number, ...args: any[]): any;
/** throws on undefined: pass only what setTimeout returned */
declare function clearTimeout(id: any): void;
declare function setInterval(fn: () => void, ms: number): any;
declare function clearInterval(id: any): void;
declare function digitalWrite(pin: any, value: number | boolean): void;
declare function setWatch(fn: () => void, pin: any, options: { repeat?: boolean; edge?: string; debounce?: number }): any;
/** Espruino's name for the global object */
declare const global: any;
declare const console: { log(...args: any[]): void };

/** The settings `linkguard build` prepends to the bundle (or uploads to Storage as linkguard.json). */
declare const LINKGUARD_SETTINGS: any;
