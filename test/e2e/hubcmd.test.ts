// `linkguard hub` as a user runs it: a child process (bin/linkguard.js) with a device (the real
// core and the node shell over TLS) connected to it. Faults typed on its stdin or sent to its
// control port act at once; it prints the device's telemetry and the C2D exchange; a bad command
// is an error line and the hub keeps running. Assertions are from the hub's own output.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { PACKAGE_ROOT } from "../../src/host/files.js";
import { createNodeEngine } from "../../src/platform/node/engine.js";
import { SimDevice, waitFor } from "../../src/sim/device.js";
import { FAULT_KINDS, type Fault } from "../../src/sim/faults.js";
import { fleetDeviceConfig } from "../../src/sim/fleet.js";
import type { HubEmulator } from "../../src/sim/hub/emulator.js";
import { DROP_LINGER_MS, preview, runCommand, TrafficTally, type ConsoleContext } from "../../src/sim/hubconsole.js";
import { hubCommand } from "../../src/cli/hub.js";
import { makeRegistry } from "../../src/sim/registry.js";
import { reconnectDelays } from "../../src/sim/timeline.js";

const BIN = join(PACKAGE_ROOT, "bin", "linkguard.js");
/** the device's floor: longer than the linger dropLinger is given below, as linkguard's default is */
const FLOOR_MS = 2000;

/** The hub as a child process, its output as lines. */
class HubProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly out: string[] = [];
  readonly err: string[] = [];
  exitCode: number | null = null;
  private readonly exited: Promise<number>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [BIN, "hub", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    const collect = (into: string[]) => {
      let rest = "";
      return (b: Buffer): void => {
        const parts = (rest + b.toString("utf8")).split("\n");
        rest = parts.pop() ?? "";
        into.push(...parts);
      };
    };
    this.child.stdout.on("data", collect(this.out));
    this.child.stderr.on("data", collect(this.err));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => {
      this.exitCode = code ?? 1;
      resolve(this.exitCode);
    }));
  }

  send(line: string): void {
    this.child.stdin.write(line + "\n");
  }

  /** the first stdout line from `from` on that matches */
  async line(re: RegExp, from = 0, timeoutMs = 10000, stream: "out" | "err" = "out"): Promise<string> {
    const lines = stream === "out" ? this.out : this.err;
    let hit: string | undefined;
    await waitFor(() => {
      if (this.exitCode !== null) throw new Error("the hub exited (" + this.exitCode + "): " + this.err.join("\n"));
      hit = lines.slice(from).find((l) => re.test(l));
      return hit !== undefined;
    }, timeoutMs, String(re) + " on " + stream + "\n" + lines.slice(-20).join("\n"));
    return hit as string;
  }

  exit(): Promise<number> {
    return this.exited;
  }
}

/** One command on the control port, as `echo LINE | nc -N 127.0.0.1 PORT` sends it: the hub replies and closes. */
function control(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: "127.0.0.1", port });
    let text = "";
    s.on("data", (b) => {
      text += b.toString("utf8");
    });
    s.on("error", reject);
    s.on("connect", () => s.end(line + "\n"));
    s.on("close", () => resolve(text));
  });
}

const dir = mkdtempSync(join(tmpdir(), "linkguard-hubcmd-"));
const registry = makeRegistry(2, 7);
const ID = registry.devices[0].deviceId;
const KEY = registry.devices[0].symmetricKey;
writeFileSync(join(dir, "devices.json"), JSON.stringify(registry));

describe("linkguard hub: commands while it runs, and each device's traffic", () => {
  let hub: HubProcess;
  let dev: SimDevice;
  let controlPort = 0;

  before(async () => {
    hub = new HubProcess(["--port", "0", "--devices", join(dir, "devices.json"), "--write-certs", dir, "--control", "0", "--linger", "100-300"]);
    const port = Number(/port (\d+)/.exec(await hub.line(/listening on 127\.0\.0\.1 port \d+/))![1]);
    controlPort = Number(/port (\d+)/.exec(await hub.line(/^control: 127\.0\.0\.1 port \d+/))![1]);
    const cfg = fleetDeviceConfig("localhost", port, ID, KEY, {
      keepaliveSec: 5, connectTimeoutMs: 3000, backoff: { floorMs: FLOOR_MS, baseMs: 1000, capMs: 5000, stableMs: 2000 },
    });
    dev = new SimDevice({ cfg, engine: createNodeEngine(cfg, 11), ca: readFileSync(join(dir, "ca.pem"), "utf8"), address: "127.0.0.1", ratePerS: 4, seed: 11 });
    dev.start();
    await waitFor(() => dev.state() === "connected", 10000, "the device connected");
  });

  after(async () => {
    if (dev) await dev.stop(2000);
    if (hub && hub.exitCode === null) hub.child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });

  test("prints each telemetry message: device, size, topic and a printable preview", async () => {
    const l = await hub.line(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${ID} telemetry \\d+ B qos 1 devices/${ID}/messages/events/\\S* "\\{"id":"${ID}#1"`));
    assert.ok(!l.startsWith("{"), "traffic lines are apart from the diagnostic JSON lines");
  });

  test("c2d: queued, sent and acknowledged, as it happens", async () => {
    const from = hub.out.length;
    hub.send(`c2d ${ID} hello from the hub`);
    await hub.line(new RegExp(`${ID} c2d #1 queued 18 B "hello from the hub"`), from);
    await hub.line(new RegExp(`${ID} c2d #1 sent as packet \\d+`), from);
    await hub.line(new RegExp(`${ID} c2d #1 acknowledged \\(PUBACK \\d+\\)`), from);
    await hub.line(/^ok: c2d queued for/, from);
  });

  test("dropLinger on stdin: the device waits its floor, reconnects without a 409002, telemetry resumes", async () => {
    const from = hub.out.length;
    const mark = dev.timeline.length;
    hub.send(`dropLinger ${ID}`);
    await hub.line(new RegExp(`^ok: dropLinger: ${ID}'s link dropped; the hub's view lingers ${DROP_LINGER_MS} ms`), from);
    await waitFor(() => dev.timeline.slice(mark).some((e) => e.state === "waiting") && dev.state() === "connected", 15000, "the device back");
    // the hub logged the end of its linger (404104) before the device's CONNECT: no conflict
    await hub.line(/"resultType":"404104"/, from);
    const connected = await hub.line(/"operationName":"deviceConnect"/, from);
    assert.ok(!connected.includes("409002"));
    const delays = reconnectDelays(dev.timeline.slice(mark));
    assert.equal(delays.length, 1, JSON.stringify(dev.timeline.slice(mark)));
    assert.ok(delays[0] >= FLOOR_MS, `reconnected after ${delays[0]} ms, floor ${FLOOR_MS}`);
    const diagLines = hub.out.filter((l) => l.startsWith("{"));
    assert.ok(diagLines.length > 0 && diagLines.every((l) => JSON.parse(l).resultType !== "409002"), "no 409002 in the hub's diagnostics");
    const reconnectedAt = hub.out.length;
    await hub.line(new RegExp(`${ID} telemetry `), reconnectedAt);
    const st = await control(controlPort, "status");
    assert.match(st, /1 of 2 device\(s\) connected/);
    assert.match(st, /409002 LinkCreationConflict 0 \(with the previous link still open 0/);
    assert.match(st, new RegExp(`${ID}\\s+connected\\s+1\\s+\\d+\\s+1\\s+0\\s+0`), st);
  });

  test("a bad command is a precise error line; the hub keeps running, on stdin and on the control port", async () => {
    const errFrom = hub.err.length;
    hub.send(`dorp ${ID}`);
    await hub.line(/^error: unknown command "dorp" \(help lists the commands\)$/, errFrom, 5000, "err");
    hub.send("drop nobody");
    await hub.line(/^error: drop: unknown device "nobody" \(the hub has dev-/, errFrom, 5000, "err");
    hub.send(`delayConnack ${ID} soon`);
    await hub.line(/^error: delayConnack: usage: delayConnack DEV MS$/, errFrom, 5000, "err");
    assert.match(await control(controlPort, "connack dev 9"), /^error: connack: unknown device "dev"/);
    assert.match(await control(controlPort, `connack ${ID} 9`), /^error: connack: usage: connack DEV N/);
    const from = hub.out.length;
    hub.send("help");
    await hub.line(/^ {2}dropLinger DEV \[LINGER\]/, from);
    hub.send("status");
    await hub.line(/^status at .*: 1 of 2 device\(s\) connected/, from);
    assert.equal(hub.exitCode, null);
    assert.equal(dev.state(), "connected", "no command above touched the device");
  });

  test("quit stops the hub (exit 0); no key was printed", async () => {
    await dev.stop(2000);
    hub.send("quit");
    assert.equal(await hub.exit(), 0);
    assert.ok(hub.out.some((l) => /^linkguard hub: stopped after \d+ accepted connects, 0 conflicts$/.test(l)));
    for (const d of registry.devices) {
      assert.ok(!hub.out.join("\n").includes(d.symmetricKey) && !hub.err.join("\n").includes(d.symmetricKey), "a key was printed");
    }
    assert.ok(!hub.out.join("\n").includes("SharedAccessSignature"), "a token was printed");
  });
});

describe("linkguard hub --show", () => {
  for (const show of ["traffic", "diag"]) {
    test(`--show ${show}: stdout keeps only the ${show} lines besides the banner and replies`, async () => {
      const out = new PassThrough();
      const err = new PassThrough();
      const stdin = new PassThrough();
      let text = "";
      out.on("data", (b: Buffer) => (text += b.toString()));
      err.resume();
      const d = mkdtempSync(join(tmpdir(), "linkguard-hubshow-"));
      writeFileSync(join(d, "devices.json"), JSON.stringify(registry));
      const ac = new AbortController();
      const run = hubCommand(["--port", "0", "--devices", join(d, "devices.json"), "--write-certs", d, "--show", show], { stdout: out, stderr: err, stdin, signal: ac.signal });
      let device: SimDevice | null = null;
      try {
        await waitFor(() => /port \d+/.test(text), 10000, "the port line");
        const port = Number(/port (\d+)/.exec(text)![1]);
        const cfg = fleetDeviceConfig("localhost", port, ID, KEY, { keepaliveSec: 5 });
        device = new SimDevice({ cfg, engine: createNodeEngine(cfg, 3), ca: readFileSync(join(d, "ca.pem"), "utf8"), address: "127.0.0.1", ratePerS: 10, seed: 3 });
        device.start();
        await waitFor(() => device!.counts().acknowledged >= 2, 10000, "telemetry acknowledged");
        stdin.write("status\n");
        await waitFor(() => /^status at /m.test(text), 5000, "the status reply");
      } finally {
        if (device) await device.stop(2000);
        ac.abort();
        assert.equal(await run, 0);
        rmSync(d, { recursive: true, force: true });
      }
      const telemetry = /^\S+ dev-\d+ telemetry /m.test(text);
      const diag = /^\{"time"/m.test(text);
      assert.equal(telemetry, show === "traffic", "telemetry lines");
      assert.equal(diag, show === "diag", "diagnostic JSON lines");
    });
  }

  test("--show, --control: bad values exit 2", async () => {
    const sink = new PassThrough();
    sink.resume();
    for (const bad of [["--show", "everything"], ["--show"], ["--control", "70000"], ["--control", "x"]]) {
      assert.equal(await hubCommand(bad, { stdout: sink, stderr: sink }), 2, bad.join(" "));
    }
  });
});

describe("hub commands: every fault kind, from the line typed to the fault injected", () => {
  const injected: { id: string; fault: Fault }[] = [];
  const sent: { id: string; payload: string }[] = [];
  const fake = {
    port: 0, caPem: "", caDer: new Uint8Array(0), hubName: "localhost",
    inject: (id: string, fault: Fault) => { injected.push({ id, fault }); },
    sendC2d: (id: string, payload: Uint8Array | string) => { sent.push({ id, payload: String(payload) }); },
    pendingC2d: () => 0, received: () => [], diagnostics: () => [], connected: () => true, openLinks: () => 1,
    stats: () => ({ connectsAccepted: 0, connectAttempts: 0, linkCreationConflicts: 0, conflictsWithOpenLink: 0, cloneConflicts: 0, throttled: 0, faultsInjected: 0, tlsRefused: 0, cloneConnects: 0, diagnostics: {} }),
    close: async () => {},
  } as HubEmulator;
  let stopped = 0;
  const ctx: ConsoleContext = { hub: fake, deviceIds: ["dev-0001", "dev-0002"], lingerMs: { min: 200, max: 2000 }, traffic: new TrafficTally(), stop: () => { stopped++; } };
  const last = (line: string): { id: string; fault: Fault } => {
    const n = injected.length;
    const r = runCommand(line, ctx);
    assert.ok(r.ok, line + ": " + (r.ok ? "" : r.error));
    assert.equal(injected.length, n + 1, line + " injected one fault");
    return injected[n];
  };

  test("each command injects its fault", () => {
    const cases: [string, string, Fault][] = [
      ["drop dev-0001", "dev-0001", { kind: "drop" }],
      ["drop dev-0001 500", "dev-0001", { kind: "drop", lingerMs: 500 }],
      ["dropLinger dev-0002", "dev-0002", { kind: "drop", lingerMs: DROP_LINGER_MS }],
      ["droplinger dev-0002 3s", "dev-0002", { kind: "drop", lingerMs: 3000 }],
      ["halfOpen dev-0001", "dev-0001", { kind: "halfOpen" }],
      ["withholdConnack dev-0001", "dev-0001", { kind: "withholdConnack" }],
      ["delayConnack dev-0001 2.5s", "dev-0001", { kind: "delayConnack", ms: 2500 }],
      ["connack dev-0001 3", "dev-0001", { kind: "connack", code: 3 }],
      ["CONNACK dev-0001 5", "dev-0001", { kind: "connack", code: 5 }],
      ["expireToken dev-0001", "dev-0001", { kind: "expireToken" }],
      ["throttle dev-0001 1500ms", "dev-0001", { kind: "throttle", ms: 1500 }],
      ["refuseTls", "*", { kind: "refuseTls", count: 1 }],
      ["refuseTls 3", "*", { kind: "refuseTls", count: 3 }],
      ["refuseTls 5s", "*", { kind: "refuseTls", ms: 5000 }],
      ["garbage dev-0001", "dev-0001", { kind: "garbage" }],
      ["garbage dev-0001 16", "dev-0001", { kind: "garbage", bytes: 16 }],
      ["clone dev-0001 3s", "dev-0001", { kind: "clone", ms: 3000 }],
      ["storm", "*", { kind: "storm" }],
      ["storm 100", "*", { kind: "storm", lingerMs: 100 }],
      ["drop * 50", "*", { kind: "drop", lingerMs: 50 }],
      ['inject dev-0002 {"kind":"drop","lingerMs":5000}', "dev-0002", { kind: "drop", lingerMs: 5000 }],
    ];
    for (const [line, id, fault] of cases) assert.deepEqual(last(line), { id, fault }, line);
    const kinds = new Set(injected.map((x) => x.fault.kind));
    for (const k of FAULT_KINDS) assert.ok(kinds.has(k), "no command for the fault kind " + k);
  });

  test("c2d sends the rest of the line; quit stops; help and status answer", () => {
    const r = runCommand("c2d dev-0002   two  spaces stay", ctx);
    assert.ok(r.ok);
    assert.deepEqual(sent[sent.length - 1], { id: "dev-0002", payload: "  two  spaces stay" });
    assert.ok(runCommand("quit", ctx).ok);
    assert.equal(stopped, 1);
    const h = runCommand("help", ctx);
    assert.ok(h.ok && h.lines.some((l) => l.includes("expireToken DEV")));
    assert.ok(runCommand("", ctx).ok && runCommand("# a comment", ctx).ok);
  });

  test("bad commands name what is wrong and inject nothing", () => {
    const n = injected.length;
    const bad: [string, RegExp][] = [
      ["dorp dev-0001", /^unknown command "dorp"/],
      ["drop", /^drop: needs a device id/],
      ["drop dev-9", /^drop: unknown device "dev-9" \(the hub has dev-0001, dev-0002\)/],
      ["drop dev-0001 soon", /^drop: usage: drop DEV \[LINGER\]/],
      ["drop dev-0001 5 6", /^drop: usage/],
      ["delayConnack dev-0001", /^delayConnack: usage: delayConnack DEV MS/],
      ["connack dev-0001 0", /^connack: usage: connack DEV N \(N from 1 to 5\)/],
      ["refuseTls 5x", /^refuseTls: usage/],
      ["garbage dev-0001 lots", /^garbage: usage/],
      ["inject dev-0001 {nope", /^inject: not JSON: \{nope/],
      ['inject dev-0001 {"kind":"melt"}', /^inject: not a fault/],
      ["c2d * hi", /^c2d: needs one device id, not \*/],
      ["c2d dev-0001", /^c2d: usage: c2d DEV TEXT/],
      ["status now", /^status: usage: status/],
    ];
    for (const [line, re] of bad) {
      const r = runCommand(line, ctx);
      assert.ok(!r.ok, line + " was accepted");
      assert.match(r.error, re, line);
    }
    assert.equal(injected.length, n);
  });

  test("previews are printable ASCII, cut at 48 bytes", () => {
    assert.equal(preview(new Uint8Array([0x68, 0x69, 0x1b, 0x5b, 0x32, 0x4a, 0xff])), '"hi.[2J."');
    assert.equal(preview(new Uint8Array(60).fill(0x61)), '"' + "a".repeat(48) + '"…');
  });
});
