// `linkguard hub`: the IoT Hub emulator alone, for real devices on the LAN or other clients.
// Prints where it listens, the hub name and where the CA is, then one diagnostic JSON line per
// connection event and one text line per telemetry or C2D message, until Ctrl-C or `quit`
// (exit 0). Takes fault injections while it runs: commands on stdin, or on a loopback control
// port (hubconsole.ts). Usage errors exit 2; a failure to start exits 1.
import { existsSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { makeCerts, readCa, writeCerts, CERT_FILES } from "../sim/certs.js";
import { DiagWriter, type DiagRecord } from "../sim/diaglog.js";
import { isLoopback, startHub, type HubEmulator } from "../sim/hub/emulator.js";
import { COMMAND_HELP, formatC2d, formatTelemetry, runCommand, TrafficTally, type ConsoleContext, type Reply } from "../sim/hubconsole.js";
import { loadRegistry, makeRegistry, type Registry } from "../sim/registry.js";

const DEFAULT_PORT = 8883;
const GENERATED_DEVICES = 10;
const GENERATED_SEED = 1;

export const HUB_HELP = `usage: linkguard hub [options]

Runs the IoT Hub emulator alone: MQTT 3.1.1 over TLS 1.2/1.3, IoT Hub's username, SAS token
and topic rules, and its diagnostic log (one JSON line per connection event, on stdout). Each
device's telemetry and cloud-to-device messages are shown as they happen, one text line each
(time, device, topic, size, a printable preview); diagnostic lines are the only stdout lines
that begin with "{". Faults are injected while it runs: type a command on stdin (help lists
them), or send it to the control port.

options:
  --port P           TCP port (default ${DEFAULT_PORT}; 0 picks a free one)
  --devices FILE     device registry JSON: { "hubName": "localhost",
                       "devices": [ { "deviceId": "dev-0001", "symmetricKey": "<base64>" } ] }
                     (default: ${GENERATED_DEVICES} generated devices dev-0001.. with seeded keys)
  --bind ADDR        listen address (default 127.0.0.1); use --bind 0.0.0.0 for a device on the LAN
  --write-certs DIR  write the CA for devices to trust (ca.pem, ca.der) and its key (ca-key.pem);
                     a later run with the same DIR reuses that CA. With generated devices, also
                     writes DIR/devices.json (keys included) unless it exists.
  --hub-name NAME    the host name devices use in their username and token's sr (default: the
                     registry's hubName, else localhost); a LAN device that connects by IP
                     address uses that address; the server certificate also names it
  --plaintext        plain TCP instead of TLS (loopback only)
  --linger MIN-MAX   ms the hub keeps a dropped link "connected" before 404104 (default 200-2000)
  --admit N          new connections admitted per second (default 100, an S1 unit)
  --diag FILE        also append the diagnostic lines to FILE
  --show LIST        what stdout shows besides the banner: diag, traffic, or both (default
                     diag,traffic); command replies are always shown
  --control PORT     also take the commands on this TCP port on 127.0.0.1 (0 picks a free one):
                     one command a line, the reply on the same connection, e.g.
                     echo "drop dev-0001" | nc -N 127.0.0.1 PORT
  --no-stdin         do not read commands from stdin (for a hub started with & in an interactive
                     shell, which stops a background job that reads the terminal; use --control)
  --seed K           seed for lingers and generated keys (default ${GENERATED_SEED})
  -h, --help         this text

Ctrl-C (or the command quit) stops the hub.

${COMMAND_HELP}
`;

interface HubArgs {
  port: number;
  devices: string | null;
  bind: string;
  writeCerts: string | null;
  hubName: string | null;
  plaintext: boolean;
  linger: { min: number; max: number } | null;
  admit: number | null;
  diag: string | null;
  seed: number;
  showDiag: boolean;
  showTraffic: boolean;
  control: number | null;
  stdin: boolean;
  help: boolean;
}

type Parsed = { ok: true; args: HubArgs } | { ok: false; error: string };

function parseArgs(argv: string[]): Parsed {
  const a: HubArgs = {
    port: DEFAULT_PORT, devices: null, bind: "127.0.0.1", writeCerts: null, hubName: null, plaintext: false,
    linger: null, admit: null, diag: null, seed: GENERATED_SEED, showDiag: true, showTraffic: true, control: null,
    stdin: true, help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string | null => {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith("--")) return null;
      i++;
      return v;
    };
    const need = (what: string): { ok: false; error: string } => ({ ok: false, error: flag + ": needs " + what });
    switch (flag) {
      case "-h":
      case "--help":
        a.help = true;
        break;
      case "--plaintext":
        a.plaintext = true;
        break;
      case "--no-stdin":
        a.stdin = false;
        break;
      case "--show": {
        const v = value();
        const parts = v === null ? [] : v.split(",");
        if (parts.length === 0 || parts.some((x) => x !== "diag" && x !== "traffic")) return need("diag, traffic or diag,traffic");
        a.showDiag = parts.includes("diag");
        a.showTraffic = parts.includes("traffic");
        break;
      }
      case "--control": {
        const v = value();
        if (v === null || !/^\d{1,5}$/.test(v) || Number(v) > 65535) return need("a port number 0-65535");
        a.control = Number(v);
        break;
      }
      case "--port": {
        const v = value();
        if (v === null || !/^\d{1,5}$/.test(v) || Number(v) > 65535) return need("a port number 0-65535");
        a.port = Number(v);
        break;
      }
      case "--devices": {
        const v = value();
        if (v === null) return need("a registry file");
        a.devices = v;
        break;
      }
      case "--bind": {
        const v = value();
        if (v === null) return need("an address");
        a.bind = v;
        break;
      }
      case "--write-certs": {
        const v = value();
        if (v === null) return need("a directory");
        a.writeCerts = v;
        break;
      }
      case "--hub-name": {
        const v = value();
        if (v === null || !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$/.test(v)) return need("a host name");
        a.hubName = v;
        break;
      }
      case "--linger": {
        const v = value();
        const m = v === null ? null : /^(\d+)-(\d+)$/.exec(v);
        if (!m || Number(m[1]) > Number(m[2])) return need("MIN-MAX in ms with MIN <= MAX, e.g. 200-2000");
        a.linger = { min: Number(m[1]), max: Number(m[2]) };
        break;
      }
      case "--admit": {
        const v = value();
        if (v === null || !/^\d+$/.test(v) || Number(v) < 1) return need("a whole number of connections per second >= 1");
        a.admit = Number(v);
        break;
      }
      case "--diag": {
        const v = value();
        if (v === null) return need("a file");
        a.diag = v;
        break;
      }
      case "--seed": {
        const v = value();
        if (v === null || !/^\d+$/.test(v)) return need("a whole number");
        a.seed = Number(v);
        break;
      }
      default:
        return { ok: false, error: "unknown option " + JSON.stringify(flag) + " (see linkguard hub --help)" };
    }
  }
  if (a.plaintext && !isLoopback(a.bind)) return { ok: false, error: "--plaintext is allowed on loopback only, not on " + a.bind };
  return { ok: true, args: a };
}

/** the names the server certificate must carry for devices to reach it at `bind` */
function certNames(bind: string, hubName: string): string[] {
  const names = ["localhost", "127.0.0.1"];
  if (!names.includes(hubName)) names.push(hubName);
  if (isLoopback(bind)) return names;
  if (bind !== "0.0.0.0" && bind !== "::") return names.concat(bind);
  names.push(hostname());
  for (const list of Object.values(networkInterfaces())) {
    for (const n of list ?? []) if (!n.internal && n.family === "IPv4") names.push(n.address);
  }
  return names;
}

export interface HubCommandIo {
  stdout?: Writable;
  stderr?: Writable;
  /** commands, one a line; default process.stdin when stdout is the process's too, else none */
  stdin?: Readable | null;
  /** stops the hub like Ctrl-C (for tests and embedding) */
  signal?: AbortSignal;
}

export async function hubCommand(argv: string[], io: HubCommandIo = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  const say = (s: string): void => {
    out.write(s + "\n");
  };
  const warn = (s: string): void => {
    err.write(s + "\n");
  };

  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    warn("linkguard hub: " + parsed.error);
    return 2;
  }
  const a = parsed.args;
  if (a.help) {
    out.write(HUB_HELP);
    return 0;
  }

  let registry: Registry;
  let generated = false;
  if (a.devices) {
    const r = loadRegistry(a.devices);
    if (!r.ok) {
      warn("linkguard hub: " + r.error);
      return 2;
    }
    registry = r.registry;
  } else {
    registry = makeRegistry(GENERATED_DEVICES, a.seed);
    generated = true;
  }
  if (a.hubName) registry = { ...registry, hubName: a.hubName };

  let certs;
  let caWhere = "in memory only (use --write-certs DIR to save it for a device)";
  try {
    const ca = a.writeCerts ? readCa(a.writeCerts) : null;
    certs = makeCerts({ names: certNames(a.bind, registry.hubName), ca: ca ?? undefined });
    if (a.writeCerts) {
      writeCerts(certs, a.writeCerts);
      caWhere = join(a.writeCerts, CERT_FILES.caPem) + " and " + join(a.writeCerts, CERT_FILES.caDer) + (ca ? " (reused)" : " (new)");
      const devFile = join(a.writeCerts, "devices.json");
      if (generated && !existsSync(devFile)) writeFileSync(devFile, JSON.stringify(registry, null, 2) + "\n", { mode: 0o600 });
    }
  } catch (e) {
    warn("linkguard hub: --write-certs " + a.writeCerts + ": " + (e as Error).message);
    return 2;
  }

  if (!isLoopback(a.bind)) {
    warn("linkguard hub: WARNING: listening on " + a.bind + ": reachable from the network. This is a test hub with" +
      " test keys; use it only on a network you trust.");
  }

  const diagFile = a.diag ? new DiagWriter({ file: a.diag }) : null;
  const traffic = new TrafficTally();
  let hub: HubEmulator;
  try {
    hub = await startHub({
      port: a.port, bind: a.bind, registry, plaintext: a.plaintext, certs, seed: a.seed,
      lingerMs: a.linger ?? undefined, admitPerS: a.admit ?? undefined,
      onDiag: (rec) => {
        traffic.diag(rec as DiagRecord);
        if (a.showDiag) say(JSON.stringify(rec));
        if (diagFile) diagFile.write(rec);
      },
      onTelemetry: (deviceId, m) => {
        traffic.telemetry(deviceId);
        if (a.showTraffic) say(formatTelemetry(deviceId, m));
      },
      onC2d: (e) => {
        traffic.c2d(e);
        if (a.showTraffic) say(formatC2d(e, Date.now()));
      },
      log: (text) => warn(text),
    });
  } catch (e) {
    warn("linkguard hub: cannot listen on " + a.bind + ":" + a.port + ": " + (e as Error).message);
    return 1;
  }

  let requestStop = (): void => {};
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });
  const ctx: ConsoleContext = {
    hub, deviceIds: registry.devices.map((d) => d.deviceId), lingerMs: a.linger ?? { min: 200, max: 2000 }, traffic,
    stop: () => requestStop(),
  };

  let control: Server | null = null;
  const controlSockets = new Set<Socket>();
  if (a.control !== null) {
    const server = createTcpServer((sock) => {
      controlSockets.add(sock);
      sock.on("close", () => controlSockets.delete(sock));
      sock.on("error", () => {});
      const rl = createInterface({ input: sock, terminal: false });
      rl.on("line", (line) => {
        const r = runCommand(line, ctx);
        if (!sock.writable) return;
        sock.write((r.ok ? r.lines : ["error: " + r.error]).map((l) => l + "\n").join(""));
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(a.control ?? 0, "127.0.0.1", () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      warn("linkguard hub: --control: cannot listen on 127.0.0.1:" + a.control + ": " + (e as Error).message);
      await hub.close();
      return 1;
    }
    control = server;
  }

  say("linkguard hub: listening on " + a.bind + " port " + hub.port + (a.plaintext ? " (plain TCP)" : " (MQTT over TLS)"));
  say("hub name: " + hub.hubName + "   (username " + hub.hubName + "/{deviceId}/?api-version=2021-04-12)");
  say("devices: " + registry.devices.length + " " + (generated ? "generated (dev-0001..; seed " + a.seed + ")" : "from " + a.devices));
  if (!a.plaintext) say("CA: " + caWhere);
  const addr = control ? control.address() : null;
  if (addr && typeof addr === "object") say("control: 127.0.0.1 port " + addr.port + " (one command a line)");
  const input = !a.stdin ? null : io.stdin !== undefined ? io.stdin : io.stdout ? null : process.stdin;
  say("shown: " + [a.showDiag ? "diagnostic JSON lines" : "", a.showTraffic ? "telemetry and C2D lines" : ""].filter((x) => x).join(", ") +
    (input ? "; type help for the fault commands" : "") + "; Ctrl-C stops");

  const reply = (r: Reply): void => {
    if (r.ok) for (const l of r.lines) say(l);
    else warn("error: " + r.error);
  };
  let rl: Interface | null = null;
  let stopping = false;
  if (input) {
    rl = createInterface({ input, terminal: false });
    rl.on("line", (line) => reply(runCommand(line, ctx)));
    rl.on("close", () => {
      if (!stopping) warn("linkguard hub: stdin closed: no more commands from it" + (control ? " (the control port still takes them)" : "") + "; Ctrl-C stops");
    });
  }

  const stop = (): void => requestStop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (io.signal) {
    if (io.signal.aborted) stop();
    else io.signal.addEventListener("abort", stop);
  }
  await stopRequested;
  stopping = true;
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  io.signal?.removeEventListener("abort", stop);
  if (rl) rl.close();
  if (input === process.stdin) process.stdin.pause();
  if (control) {
    for (const sock of controlSockets) sock.destroy();
    const c = control;
    await new Promise<void>((resolve) => c.close(() => resolve()));
  }
  await hub.close();
  const s = hub.stats();
  say("linkguard hub: stopped after " + s.connectsAccepted + " accepted connects, " + s.linkCreationConflicts + " conflicts");
  return 0;
}
