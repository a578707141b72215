// `linkguard device --config FILE` — one device on the desktop (the real core and the node
// shell) against whatever hub its configuration names: a real IoT Hub, `linkguard hub`, or any
// MQTT 3.1.1 broker over TLS. Prints the live timeline; with --json, a final report of its own
// link on stdout (the timeline and progress then go to stderr).

import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { performance } from "node:perf_hooks";
import { validateText } from "./validate.js";
import { describeConfigError } from "../core/config.js";
import { EngineKind, EngineUnavailable, loadEngine } from "../host/engine.js";
import { FileStorage } from "../platform/node/storage.js";
import { SimDevice, waitFor } from "../sim/device.js";
import { engineFlag, numberFlag, parseFlags, UsageError } from "./flags.js";
import { formatEntry, formatLog, Painter, TimelineEntry, wantsColor } from "../sim/timeline.js";

const HELP = `usage: linkguard device --config FILE [--engine node|xs] [--ca FILE] [--duration S] [--json]
                        [--rate R] [--state FILE]

Runs one device (the real core and the node shell) against the hub its configuration names:
a real IoT Hub, \`linkguard hub\`, or any MQTT 3.1.1 broker over TLS. Prints the link's timeline
as it happens (states, reasons, backoff delays), then a report of its own link.

  --config FILE   device configuration (JSON, or a Moddable manifest whose "config" holds one)
  --engine E      node | xs: where the core runs (default node)
  --ca FILE       trust only this CA certificate (PEM or DER), e.g. the one \`linkguard hub
                  --write-certs DIR\` wrote; default: Node's bundled roots (IoT Hub's included)
  --duration S    run S seconds, then stop telemetry, let in-flight messages be acknowledged,
                  and disconnect (default: until Ctrl-C)
  --json          print the final report as one JSON object on stdout (nothing else there)
  --rate R        QoS 1 telemetry messages per second (0..50; default 1)
  --state FILE    persist the backoff state here (as a device does across reboots)

Exit codes: 0 the link worked; 1 an invalid configuration, or the run ended halted, never
connected, or with telemetry not acknowledged; 2 usage errors and unreadable files.`;

function readCa(file: string): string {
  const buf = readFileSync(file);
  const text = buf.toString("utf8");
  if (text.indexOf("-----BEGIN CERTIFICATE-----") >= 0) return text;
  try {
    return new X509Certificate(buf).toString(); // DER -> PEM
  } catch {
    throw new UsageError(`--ca: ${file} is neither a PEM nor a DER certificate`);
  }
}

export async function deviceCommand(argv: string[]): Promise<number> {
  let flags: { [name: string]: string | boolean | undefined };
  let engine: EngineKind;
  let durationS: number;
  let rate: number;
  let ca: string | undefined;
  let text: string;
  try {
    flags = parseFlags(argv, {
      config: { type: "string" }, engine: { type: "string" }, ca: { type: "string" }, duration: { type: "string" },
      json: { type: "boolean" }, rate: { type: "string" }, state: { type: "string" }, help: { type: "boolean", short: "h" },
    });
    if (flags.help) { console.log(HELP); return 0; }
    if (flags.config === undefined) throw new UsageError("--config FILE is required");
    engine = engineFlag(flags.engine as string | undefined);
    durationS = numberFlag("duration", flags.duration as string | undefined, 0, 0.1, 31536000, false);
    rate = numberFlag("rate", flags.rate as string | undefined, 1, 0, 50, false);
    const file = String(flags.config);
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
    }
    if (flags.ca !== undefined) {
      try {
        ca = readCa(String(flags.ca));
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(`--ca: cannot read ${flags.ca}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
      }
    }
  } catch (e) {
    if (e instanceof UsageError) { console.error(`linkguard device: ${e.message}\n\n${HELP}`); return 2; }
    throw e;
  }
  const file = String(flags.config);
  const { result, prefix } = validateText(text);
  if (!result.ok) {
    const rebase = (p: string): string => (prefix === "$" ? p : prefix + p.slice(1));
    for (const e of result.errors) console.error(`${file}: ${describeConfigError({ path: rebase(e.path), rule: e.rule, message: e.message })}`);
    console.error(`linkguard device: ${file} is not a valid configuration (${result.errors.length} error${result.errors.length === 1 ? "" : "s"})`);
    return 1;
  }
  const cfg = result.config;
  const json = flags.json === true;
  const out = json ? process.stderr : process.stdout;
  const p = new Painter(wantsColor(out));
  const seed = (Date.now() ^ (process.pid << 8)) | 0;
  let core;
  try {
    core = await loadEngine(engine, cfg, seed);
  } catch (e) {
    console.error("linkguard device: " + (e as Error).message);
    return e instanceof EngineUnavailable ? 2 : 1;
  }
  out.write(p.paint("bold", "linkguard device") + ` ${cfg.deviceId} -> ${cfg.host}:${cfg.port} (${cfg.tls ? "TLS" : "plaintext, loopback"}; ` +
    `${ca ? "trusting " + flags.ca : "Node's root CAs"}; engine ${engine}; telemetry ${rate}/s QoS 1)\n`);
  const t0 = Math.floor(performance.now());
  const dev = new SimDevice({
    cfg, engine: core, ca, ratePerS: rate, t0Ms: t0, seed,
    storage: flags.state !== undefined ? new FileStorage(String(flags.state)) : undefined,
    onTimeline: (e: TimelineEntry) => out.write(formatEntry(e, p, false) + "\n"),
    onLog: (atMs, code, t) => out.write(formatLog(atMs, code, t, p) + "\n"),
  });

  let interrupted = 0;
  let wake: (() => void) | null = null;
  const onSignal = (): void => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    process.stderr.write("\nlinkguard device: stopping (Ctrl-C again to quit at once)\n");
    if (wake) wake();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    dev.start();
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (durationS > 0) setTimeout(resolve, durationS * 1000).unref();
    });
    wake = null;
    // Drain: no new telemetry; give the link time to get what is in flight acknowledged.
    dev.stopTelemetry();
    if (interrupted === 0 && dev.pending() > 0 && dev.state() !== "halted") {
      const limit = cfg.backoff.capMs + cfg.connectTimeoutMs + 5000;
      out.write(p.paint("dim", `  draining: ${dev.pending()} message(s) in flight (at most ${(limit / 1000).toFixed(0)} s)`) + "\n");
      await waitFor(() => dev.settled() || interrupted > 0, limit, "drain", 50).catch(() => undefined);
    }
    const rep = dev.report();
    await dev.stop(3000);
    const elapsedS = (Math.floor(performance.now()) - t0) / 1000;
    const failures: string[] = [];
    if (rep.state === "halted") failures.push("the link halted: " + rep.code);
    if (rep.connects === 0) failures.push("never connected");
    if (rep.telemetry.pending > 0) failures.push(rep.telemetry.pending + " message(s) never acknowledged");
    const report = {
      deviceId: cfg.deviceId, host: cfg.host, port: cfg.port, tls: cfg.tls, engine, durationS: Math.round(elapsedS * 10) / 10,
      finalState: rep.state, finalCode: rep.code, connects: rep.connects, connectAttempts: rep.connectAttempts,
      drops: rep.drops, suspectedDuplicates: rep.suspectedDuplicates, reconnectDelayMs: rep.reconnectDelayMs,
      connectedMs: rep.connectedMs, telemetry: rep.telemetry, lastError: rep.lastError, ok: failures.length === 0, failures,
      timeline: dev.timeline.map((e) => {
        const o: { [k: string]: unknown } = { atMs: e.atMs, state: e.state, code: e.code, attempt: e.attempt };
        if (e.delayMs !== undefined) o.delayMs = e.delayMs;
        return o;
      }),
    };
    if (json) {
      process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    } else {
      const drops = Object.keys(rep.drops).map((k) => `${k} x${rep.drops[k]}`).join(", ") || "none";
      const d = rep.reconnectDelayMs;
      const t = rep.telemetry;
      out.write([
        "",
        p.paint("bold", "summary") + ` (${elapsedS.toFixed(1)} s)`,
        `  connects          ${rep.connects} of ${rep.connectAttempts} attempts`,
        `  drops by reason   ${drops}`,
        `  reconnect delays  min ${d.min} ms, p50 ${d.p50} ms, p99 ${d.p99} ms, max ${d.max} ms`,
        `  telemetry         sent ${t.sent}, acknowledged ${t.acknowledged}, dropped by policy ${t.droppedByPolicy}, pending ${t.pending}`,
        `  final state       ${rep.state} (${rep.code})`,
        failures.length === 0 ? p.paint("green", "  OK") : p.paint("red", "  FAIL: " + failures.join("; ")),
        "",
      ].join("\n"));
    }
    return failures.length === 0 ? 0 : 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
