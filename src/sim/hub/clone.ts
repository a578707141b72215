// The clone fault's second client: a device's identity and key on a socket of its own.
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { generate, parser as mqttParser, type Packet } from "mqtt-packet";
import { makeSasToken } from "./sas.js";

/** What a clone needs of the emulator it connects to. */
export interface CloneHost {
  readonly hubName: string;
  cloneTarget(): { port: number; plaintext: boolean; caPem: string };
  registerClonePort(port: number): void;
  unregisterClonePort(port: number): void;
  isClosing(): boolean;
  random(): number;
  note(text: string): void;
}

/**
 * A second client with a device's identity and key (the `clone` fault): it connects over a
 * real socket, stays, and reconnects 100–500 ms after each kick, until its time is up; then it
 * sends DISCONNECT. The hub recognises its sockets by their local port (loopback only).
 */
export class CloneClient {
  private socket: Socket | null = null;
  private retry: NodeJS.Timeout | null = null;
  private endTimer: NodeJS.Timeout | null = null;
  private ping: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly hub: CloneHost, private readonly dev: { id: string; key: Uint8Array }, private untilMs: number) {}

  running(): boolean {
    return !this.stopped;
  }

  start(): void {
    this.scheduleEnd();
    this.connect();
  }

  extend(untilMs: number): void {
    this.untilMs = Math.max(this.untilMs, untilMs);
    this.scheduleEnd();
  }

  private scheduleEnd(): void {
    clearTimer(this.endTimer);
    this.endTimer = setTimeout(() => this.stop(), Math.max(0, this.untilMs - Date.now()));
  }

  private connect(): void {
    this.retry = null;
    if (this.stopped || this.hub.isClosing()) return;
    const t = this.hub.cloneTarget();
    const socket = t.plaintext
      ? tcpConnect({ host: "127.0.0.1", port: t.port })
      : tlsConnect({ host: "127.0.0.1", port: t.port, ca: t.caPem, servername: "localhost", rejectUnauthorized: true });
    this.socket = socket;
    let localPort = 0;
    const parser = mqttParser({ protocolVersion: 4 });
    parser.on("packet", (p: Packet) => {
      if (p.cmd === "publish" && p.qos === 1) socket.write(generate({ cmd: "puback", messageId: p.messageId }));
    });
    parser.on("error", () => socket.destroy());
    socket.on("data", (b: Buffer) => parser.parse(b));
    socket.once(t.plaintext ? "connect" : "secureConnect", () => {
      localPort = socket.localPort ?? 0;
      this.hub.registerClonePort(localPort);
      const hubName = this.hub.hubName;
      const password = makeSasToken({ hubName, deviceId: this.dev.id, key: this.dev.key, expirySec: Math.floor(Date.now() / 1000) + 3600 });
      socket.write(generate({
        cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: false, keepalive: 60,
        clientId: this.dev.id, username: hubName + "/" + this.dev.id + "/?api-version=2021-04-12",
        password: Buffer.from(password, "utf8"),
      }));
      this.ping = setInterval(() => socket.write(generate({ cmd: "pingreq" })), 30000);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimer(this.ping);
      this.ping = null;
      if (localPort) setTimeout(() => this.hub.unregisterClonePort(localPort), 1000).unref();
      if (this.socket === socket) this.socket = null;
      if (this.stopped || this.hub.isClosing() || Date.now() >= this.untilMs) return;
      const delayMs = 100 + Math.round(400 * this.hub.random());
      this.hub.note("clone of " + this.dev.id + ": kicked, reconnecting in " + delayMs + " ms");
      this.retry = setTimeout(() => this.connect(), delayMs);
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimer(this.retry);
    clearTimer(this.endTimer);
    clearTimer(this.ping);
    const s = this.socket;
    if (s && !s.destroyed) {
      if (this.hub.isClosing()) s.destroy();
      else s.end(generate({ cmd: "disconnect" }));
    }
  }
}

function clearTimer(t: NodeJS.Timeout | null): void {
  if (t) clearTimeout(t);
}
