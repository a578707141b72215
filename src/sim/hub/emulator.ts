// An Azure IoT Hub emulator for MQTT 3.1.1 devices, host-only (node:tls, mqtt-packet).
// It checks what the hub checks (client id, username, SAS token), speaks the hub's topics,
// and models the hub's *delayed* view of a dropped link (DESIGN.md, "How the emulator models
// the hub's view of a link"): after a link drops without DISCONNECT the device stays
// "connected" for a linger, and a CONNECT inside it is a 409002 LinkCreationConflict. The
// emulator sees the real sockets too, so it can tell a reconnect inside the linger (cause 1)
// from a second link opened while the first was still open (cause 2, a device bug).
import { createHash } from "node:crypto";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { generate, parser as mqttParser, type IConnectPacket, type Packet, type Parser } from "mqtt-packet";
import { makeCerts, type Certs } from "../certs.js";
import { diagKey, makeDiagRecord, type DiagOperation, type DiagRecord } from "../diaglog.js";
import { seededRandom, type Fault } from "../faults.js";
import type { Registry } from "../registry.js";
import { CloneClient, type CloneHost } from "./clone.js";
import { checkSasToken, encodeStrict, usernameOk } from "./sas.js";

export interface HubOptions {
  /** TCP port; 0 (the default) picks a free one */
  port?: number;
  /** listen address; default "127.0.0.1". Anything else must be asked for (LAN devices). */
  bind?: string;
  registry: Registry;
  /** overrides registry.hubName; default "localhost" */
  hubName?: string;
  /** the hub's delay before it notices a link that dropped without DISCONNECT; ms, default 200–2000, random per drop */
  lingerMs?: { min: number; max: number };
  /** new connections admitted per second (token bucket, burst = one second's worth); default 100 (an S1 unit) */
  admitPerS?: number;
  /** seeds lingers, clone delays and garbage bytes; default 1 */
  seed?: number;
  /** plain TCP instead of TLS; loopback only */
  plaintext?: boolean;
  /** default: a fresh CA and server certificate for localhost and 127.0.0.1 */
  certs?: Certs;
  /** every diagnostic record, as it is made */
  onDiag?: (rec: object) => void;
  /** human-readable notes (listening, refused handshakes, protocol violations); never secrets */
  log?: (text: string) => void;
  /** every telemetry message, as the hub receives it (the record received() keeps) */
  onTelemetry?: (deviceId: string, m: ReceivedMessage) => void;
  /** cloud-to-device traffic: a message queued, sent on a link (again, with DUP), acknowledged */
  onC2d?: (e: C2dEvent) => void;
  /** diagnostics kept in memory for diagnostics(); default 100000 (counts in stats() are exact) */
  maxDiagnostics?: number;
}

/** One telemetry PUBLISH as the hub received it. */
export interface ReceivedMessage {
  topic: string;
  payload: Uint8Array;
  dup: boolean;
  qos: 0 | 1;
  /** wall clock, ms */
  atMs: number;
}

/** One step of a cloud-to-device message (HubOptions.onC2d). */
export interface C2dEvent {
  deviceId: string;
  /** queued by sendC2d; sent in a PUBLISH (dup on a redelivery); acknowledged by the device's PUBACK */
  kind: "queued" | "sent" | "acked";
  /** the hub's number of the message (its $.mid is "{deviceId}-{seq}") */
  seq: number;
  topic: string;
  payload: Uint8Array;
  /** the PUBLISH packet id ("sent", "acked") */
  packetId?: number;
  dup?: boolean;
}

export interface HubStats {
  /** CONNECTs answered CONNACK 0 (clones excluded) */
  connectsAccepted: number;
  /** CONNECT packets received (clones excluded) */
  connectAttempts: number;
  /** CONNECTs accepted while the hub still considered the device connected, neither side a clone */
  linkCreationConflicts: number;
  /** of those, the ones where the previous socket was still physically open */
  conflictsWithOpenLink: number;
  /** conflicts where the old or the new link was a scripted clone */
  cloneConflicts: number;
  /** CONNACK 3 for the admission limit or a throttle fault */
  throttled: number;
  /** inject() calls */
  faultsInjected: number;
  /** TLS handshakes cut by refuseTls */
  tlsRefused: number;
  /** CONNACK 0 given to clones */
  cloneConnects: number;
  /** "<code> <Name>" -> count, over every coded diagnostic record */
  diagnostics: Record<string, number>;
}

export interface HubEmulator {
  port: number;
  caPem: string;
  caDer: Uint8Array;
  hubName: string;
  /** applies a fault to one device, or to every device with "*" */
  inject(deviceId: string, fault: Fault): void;
  /** queues a cloud-to-device message (QoS 1, redelivered with DUP until PUBACK) */
  sendC2d(deviceId: string, payload: Uint8Array | string, properties?: Record<string, string>): void;
  /** cloud-to-device messages not yet acknowledged */
  pendingC2d(deviceId: string): number;
  /** every telemetry message received from the device, in order (the hub's own array: do not change it) */
  received(deviceId: string): readonly ReceivedMessage[];
  stats(): HubStats;
  diagnostics(): DiagRecord[];
  /** the hub's view: true from CONNACK 0 until DISCONNECT, a hub-side close, or the end of a linger */
  connected(deviceId: string): boolean;
  /** the device's sockets (that sent a CONNECT) still physically open, clones excluded */
  openLinks(deviceId: string): number;
  close(): Promise<void>;
}

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes */
const CONNACK_ACCEPTED = 0;
const CONNACK_BAD_PROTOCOL = 1;
const CONNACK_SERVER_UNAVAILABLE = 3;
const CONNACK_BAD_USERNAME_OR_PASSWORD = 4;
const CONNACK_NOT_AUTHORIZED = 5;

/** IoT Hub's maximum keepalive, seconds; the hub times a link out at 1.5x keepalive. */
const MAX_KEEPALIVE_S = 1177;
/** a half-open link with keepalive 0 still ends: after 1.5x the SDKs' default 240 s */
const DEFAULT_KEEPALIVE_S = 240;
const MAX_SUBSCRIPTIONS = 5;
/** setTimeout's limit; longer token lifetimes are not timed */
const MAX_TIMER_MS = 0x7fffffff;

/** Which diagnostic a scripted CONNACK code logs. */
const CONNACK_DIAG: Readonly<Record<number, string>> = Object.freeze({
  1: "400001", 2: "400004", 3: "503", 4: "401003", 5: "401003",
});

// Ciphers: TLS 1.3 suites, ECDHE-RSA for Moddable (with P-256), plain RSA key exchange with
// AES128-GCM-SHA256 / AES128-SHA256 for Espruino's mbedTLS build.
const TLS_CIPHERS = [
  "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA256",
  "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256", "AES128-SHA",
].join(":");
const TLS_CURVES = "P-256:X25519:P-384";

type Phase = "awaitConnect" | "authorizing" | "withheld" | "up" | "ended";

interface C2dMessage {
  seq: number;
  topic: string;
  payload: Buffer;
  /** times sent; a redelivery (deliveries > 0) carries DUP */
  deliveries: number;
  /** the link it is in flight on (its id), or 0 */
  onLink: number;
}

interface Link {
  id: number;
  socket: Socket;
  ip: string;
  remotePort: number;
  parser: Parser;
  phase: Phase;
  dev: Device | null;
  socketOpen: boolean;
  isClone: boolean;
  halfOpen: boolean;
  keepaliveS: number;
  kaTimer: NodeJS.Timeout | null;
  connackTimer: NodeJS.Timeout | null;
  expiryTimer: NodeJS.Timeout | null;
  tokenHash: string;
  /** packets that came after CONNECT while its CONNACK is delayed */
  held: Packet[];
  nextMsgId: number;
  inflight: Map<number, C2dMessage>;
  /** a drop fault's linger override for this link */
  lingerMs: number | null;
}

interface Armed {
  delayConnackMs: number | null;
  withhold: boolean;
  connackCode: number | null;
}

interface Device {
  id: string;
  key: Buffer;
  /** the link the hub considers connected */
  current: Link | null;
  lingerTimer: NodeJS.Timeout | null;
  /** open sockets that sent a CONNECT for this device, clones excluded */
  links: Set<Link>;
  subs: Set<string>;
  queue: C2dMessage[];
  sessionPresent: boolean;
  received: ReceivedMessage[];
  armed: Armed;
  throttleUntilMs: number;
  /** sha256 of tokens the hub treats as expired (no token is kept) */
  expiredTokens: Set<string>;
  lastTokenHash: string;
  clone: CloneClient | null;
}

function tokenHashOf(password: string): string {
  return createHash("sha256").update(password).digest("hex");
}

export async function startHub(opts: HubOptions): Promise<HubEmulator> {
  const hub = new Hub(opts);
  await hub.listen();
  return hub.api();
}

class Hub implements CloneHost {
  readonly hubName: string;
  private readonly bind: string;
  private readonly wantPort: number;
  private readonly linger: { min: number; max: number };
  private readonly admitPerS: number;
  private readonly plaintext: boolean;
  private readonly certs: Certs;
  private readonly rand: () => number;
  private readonly onDiag: ((rec: object) => void) | null;
  private readonly log: (text: string) => void;
  private readonly onTelemetry: ((deviceId: string, m: ReceivedMessage) => void) | null;
  private readonly onC2d: ((e: C2dEvent) => void) | null;
  private readonly maxDiagnostics: number;
  private readonly devices = new Map<string, Device>();
  private readonly sockets = new Set<Socket>();
  private readonly clonePorts = new Set<number>();
  private readonly diagList: DiagRecord[] = [];
  private readonly diagCounts: Record<string, number> = {};
  private server: Server | null = null;
  private nextLinkId = 1;
  private nextC2dSeq = 1;
  private tokens: number;
  private tokensAtMs = Date.now();
  private refuseCount = 0;
  private refuseUntilMs = 0;
  private closing = false;
  port = 0;
  private readonly counters = {
    connectsAccepted: 0, connectAttempts: 0, linkCreationConflicts: 0, conflictsWithOpenLink: 0,
    cloneConflicts: 0, throttled: 0, faultsInjected: 0, tlsRefused: 0, cloneConnects: 0,
  };

  constructor(opts: HubOptions) {
    this.hubName = opts.hubName ?? opts.registry.hubName ?? "localhost";
    this.bind = opts.bind ?? "127.0.0.1";
    this.wantPort = opts.port ?? 0;
    const lg = opts.lingerMs ?? { min: 200, max: 2000 };
    if (!(lg.min >= 0 && lg.max >= lg.min)) throw new Error("startHub: lingerMs needs 0 <= min <= max");
    this.linger = { min: lg.min, max: lg.max };
    this.admitPerS = opts.admitPerS ?? 100;
    if (!(this.admitPerS > 0)) throw new Error("startHub: admitPerS must be > 0");
    this.tokens = this.admitPerS;
    this.plaintext = opts.plaintext === true;
    if (this.plaintext && !isLoopback(this.bind)) throw new Error("startHub: plaintext is allowed on loopback only");
    this.certs = opts.certs ?? makeCerts();
    this.rand = seededRandom(opts.seed ?? 1);
    this.onDiag = opts.onDiag ?? null;
    this.log = opts.log ?? (() => {});
    this.onTelemetry = opts.onTelemetry ?? null;
    this.onC2d = opts.onC2d ?? null;
    this.maxDiagnostics = opts.maxDiagnostics ?? 100000;
    for (const d of opts.registry.devices) {
      this.devices.set(d.deviceId, {
        id: d.deviceId, key: Buffer.from(d.symmetricKey, "base64"), current: null, lingerTimer: null,
        links: new Set(), subs: new Set(), queue: [], sessionPresent: false, received: [],
        armed: { delayConnackMs: null, withhold: false, connackCode: null }, throttleUntilMs: 0,
        expiredTokens: new Set(), lastTokenHash: "", clone: null,
      });
    }
  }

  listen(): Promise<void> {
    const onSocket = (s: Socket): void => this.onSocket(s);
    let server: Server;
    if (this.plaintext) {
      server = createTcpServer((s: Socket) => {
        if (!this.refused(s)) onSocket(s);
      });
    } else {
      const tlsServer = createTlsServer({
        key: this.certs.keyPem,
        cert: this.certs.chainPem,
        minVersion: "TLSv1.2",
        maxVersion: "TLSv1.3",
        ciphers: TLS_CIPHERS,
        ecdhCurve: TLS_CURVES,
        honorCipherOrder: true,
      }, onSocket);
      // 'connection' carries the raw TCP socket before the handshake: a refusal cuts it there
      tlsServer.prependListener("connection", (s: Socket) => {
        this.refused(s);
      });
      tlsServer.on("tlsClientError", (e: Error) => this.log("tls: handshake failed: " + e.message));
      server = tlsServer;
    }
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.wantPort, this.bind, () => {
        server.off("error", reject);
        server.on("error", (e: Error) => this.log("hub: server error: " + e.message));
        const a = server.address();
        this.port = typeof a === "object" && a ? a.port : 0;
        this.log("hub: listening on " + this.bind + ":" + this.port + (this.plaintext ? " (plain TCP)" : " (TLS)"));
        resolve();
      });
    });
  }

  api(): HubEmulator {
    const port = (): number => this.port;
    return {
      get port() { return port(); },
      caPem: this.certs.caPem,
      caDer: this.certs.caDer,
      hubName: this.hubName,
      inject: (deviceId, fault) => this.inject(deviceId, fault),
      sendC2d: (deviceId, payload, properties) => this.sendC2d(deviceId, payload, properties),
      pendingC2d: (deviceId) => this.device(deviceId).queue.length,
      received: (deviceId) => this.device(deviceId).received,
      stats: () => ({ ...this.counters, diagnostics: { ...this.diagCounts } }),
      diagnostics: () => this.diagList.slice(),
      connected: (deviceId) => this.device(deviceId).current !== null,
      openLinks: (deviceId) => this.device(deviceId).links.size,
      close: () => this.close(),
    };
  }

  private device(deviceId: string): Device {
    const d = this.devices.get(deviceId);
    if (!d) throw new Error("hub: unknown device " + JSON.stringify(deviceId));
    return d;
  }

  // ---- sockets ---------------------------------------------------------------------------

  /** Cuts a new connection (refuseTls, or the hub closing); true if it did. */
  private refused(s: Socket): boolean {
    if (this.closing) {
      s.destroy();
      return true;
    }
    const now = Date.now();
    if (this.refuseCount <= 0 && now >= this.refuseUntilMs) return false;
    if (now >= this.refuseUntilMs) this.refuseCount--;
    this.counters.tlsRefused++;
    this.log("fault: refusing a " + (this.plaintext ? "TCP connection" : "TLS handshake") + " from " + s.remoteAddress);
    s.destroy();
    return true;
  }

  private onSocket(socket: Socket): void {
    if (socket.destroyed) return;
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const link: Link = {
      id: this.nextLinkId++, socket, ip: socket.remoteAddress ?? "0.0.0.0", remotePort: socket.remotePort ?? 0,
      parser: mqttParser({ protocolVersion: 4 }), phase: "awaitConnect", dev: null, socketOpen: true,
      isClone: false, halfOpen: false, keepaliveS: 0, kaTimer: null, connackTimer: null, expiryTimer: null,
      tokenHash: "", held: [], nextMsgId: 1, inflight: new Map(), lingerMs: null,
    };
    link.parser.on("packet", (p: Packet) => this.onPacket(link, p));
    link.parser.on("error", (e: Error) => this.onGarbage(link, e));
    socket.on("data", (buf: Buffer) => {
      if (link.phase === "ended" || link.halfOpen) return; // half-open: the hub no longer reads
      try {
        link.parser.parse(buf);
      } catch (e) {
        // never let one link's bytes take the hub down; close that link and say why
        this.log("link " + link.id + ": internal error on received bytes: " + (e as Error).message);
        this.onGarbage(link, e as Error);
      }
    });
    socket.on("end", () => this.socketGone(link));
    socket.on("error", (e: Error) => this.log("link " + link.id + ": socket error: " + e.message));
    socket.on("close", () => {
      this.sockets.delete(socket);
      this.socketGone(link);
    });
  }

  /** The device's socket is physically gone ('end' or 'close'): the hub's view may linger. */
  private socketGone(link: Link): void {
    if (!link.socketOpen) return;
    link.socketOpen = false;
    const dev = link.dev;
    if (dev && !link.isClone) dev.links.delete(link);
    clearTimer(link.connackTimer);
    link.connackTimer = null;
    if (link.halfOpen && link.phase === "up") return; // ignored until the hub's keepalive timer expires
    clearTimer(link.kaTimer);
    clearTimer(link.expiryTimer);
    link.kaTimer = link.expiryTimer = null;
    if (link.phase === "up" && dev && dev.current === link) {
      link.phase = "ended";
      const ms = link.lingerMs ?? this.randomLinger();
      this.startLinger(dev, link, ms);
    } else {
      link.phase = "ended";
    }
    if (!link.socket.destroyed) link.socket.destroy();
  }

  private randomLinger(): number {
    return Math.round(this.linger.min + (this.linger.max - this.linger.min) * this.rand());
  }

  private startLinger(dev: Device, link: Link, ms: number): void {
    clearTimer(dev.lingerTimer);
    dev.lingerTimer = setTimeout(() => {
      dev.lingerTimer = null;
      if (dev.current !== link) return;
      dev.current = null;
      this.diag(dev.id, link, "deviceDisconnect", "404104", true, "the link closed without DISCONNECT");
    }, ms);
  }

  /** The hub ends a link itself and knows it at once (no linger). */
  private endLink(link: Link): void {
    link.phase = "ended";
    clearTimer(link.kaTimer);
    clearTimer(link.expiryTimer);
    clearTimer(link.connackTimer);
    link.kaTimer = link.expiryTimer = link.connackTimer = null;
    const dev = link.dev;
    if (dev && dev.current === link) {
      dev.current = null;
      clearTimer(dev.lingerTimer);
      dev.lingerTimer = null;
    }
    if (link.socketOpen) link.socket.destroy();
  }

  private send(link: Link, p: Packet): void {
    if (!link.socketOpen || link.socket.destroyed) return;
    link.socket.write(generate(p));
  }

  /** Answers a CONNECT with a refusal and closes the link after the CONNACK is out. */
  private refuse(link: Link, returnCode: number): void {
    this.send(link, { cmd: "connack", returnCode, sessionPresent: false });
    link.phase = "ended";
    if (link.socketOpen) link.socket.end();
  }

  private violation(link: Link, code: string, why: string): void {
    this.log("link " + link.id + (link.dev ? " (" + link.dev.id + ")" : "") + ": closing: " + why);
    const dev = link.dev;
    const wasCurrent = dev !== null && dev.current === link;
    this.endLink(link);
    if (dev && wasCurrent) this.diag(dev.id, link, "deviceDisconnect", code, true, why);
  }

  private onGarbage(link: Link, e: Error): void {
    if (link.phase === "ended") return;
    this.violation(link, "400006", "not an MQTT 3.1.1 packet (" + e.message + ")");
  }

  // ---- packets ---------------------------------------------------------------------------

  private onPacket(link: Link, p: Packet): void {
    if (link.phase === "ended" || link.halfOpen) return;
    if (link.kaTimer) link.kaTimer.refresh();
    switch (link.phase) {
      case "awaitConnect":
        if (p.cmd !== "connect") return this.violation(link, "400003", "first packet is " + p.cmd + ", not CONNECT (MQTT 3.1.1 §3.1.0-1)");
        return this.onConnect(link, p);
      case "authorizing":
        if (p.cmd === "connect") return this.violation(link, "400003", "second CONNECT (MQTT 3.1.1 §3.1.0-2)");
        link.held.push(p);
        return;
      case "withheld":
        return; // the hub never answers this CONNECT, nor anything after it
      case "up":
        return this.onLinkPacket(link, link.dev as Device, p);
    }
  }

  private onLinkPacket(link: Link, dev: Device, p: Packet): void {
    switch (p.cmd) {
      case "publish": {
        if (p.qos === 2) return this.violation(link, "400003", "QoS 2 PUBLISH (IoT Hub supports QoS 0 and 1)");
        const prefix = "devices/" + dev.id + "/messages/events/";
        if (!p.topic.startsWith(prefix)) return this.violation(link, "400003", "PUBLISH to a topic the device may not use: " + p.topic);
        const payload = typeof p.payload === "string" ? Buffer.from(p.payload) : p.payload;
        const m: ReceivedMessage = { topic: p.topic, payload: Uint8Array.from(payload), dup: p.dup === true, qos: p.qos, atMs: Date.now() };
        dev.received.push(m);
        if (p.qos === 1) this.send(link, { cmd: "puback", messageId: p.messageId });
        if (this.onTelemetry) this.onTelemetry(dev.id, m);
        return;
      }
      case "puback": {
        const m = link.inflight.get(p.messageId ?? -1);
        if (!m) return;
        link.inflight.delete(p.messageId ?? -1);
        const i = dev.queue.indexOf(m);
        if (i >= 0) dev.queue.splice(i, 1);
        if (this.onC2d) this.onC2d({ deviceId: dev.id, kind: "acked", seq: m.seq, topic: m.topic, payload: m.payload, packetId: p.messageId });
        return;
      }
      case "subscribe": {
        const devicebound = "devices/" + dev.id + "/messages/devicebound/#";
        const granted = p.subscriptions.map((s) => {
          if (s.topic !== devicebound) return 0x80;
          if (!dev.subs.has(s.topic) && dev.subs.size >= MAX_SUBSCRIPTIONS) return 0x80;
          dev.subs.add(s.topic);
          return Math.min(s.qos, 1);
        });
        this.send(link, { cmd: "suback", messageId: p.messageId, granted });
        this.deliverC2d(dev);
        return;
      }
      case "unsubscribe":
        for (const t of p.unsubscriptions) dev.subs.delete(t);
        this.send(link, { cmd: "unsuback", messageId: p.messageId } as Packet);
        return;
      case "pingreq":
        this.send(link, { cmd: "pingresp" });
        return;
      case "disconnect":
        // a clean DISCONNECT ends the link in the hub's view at once (MQTT 3.1.1 §3.14.4)
        this.endLink(link);
        this.diag(dev.id, link, "deviceDisconnect", undefined, true);
        return;
      case "connect":
        return this.violation(link, "400003", "second CONNECT (MQTT 3.1.1 §3.1.0-2)");
      default:
        return this.violation(link, "400003", p.cmd + " is not used with IoT Hub");
    }
  }

  private takeAdmission(nowMs: number): boolean {
    this.tokens = Math.min(this.admitPerS, this.tokens + ((nowMs - this.tokensAtMs) * this.admitPerS) / 1000);
    this.tokensAtMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private onConnect(link: Link, p: IConnectPacket): void {
    const nowMs = Date.now();
    const id = p.clientId;
    const dev = this.devices.get(id) ?? null;
    link.isClone = this.clonePorts.has(link.remotePort);
    if (!link.isClone) this.counters.connectAttempts++;
    if (dev) {
      link.dev = dev;
      if (!link.isClone) dev.links.add(link);
    }
    const diagId = dev ? dev.id : id;
    if (p.protocolVersion !== 4) {
      this.diag(diagId, link, "deviceConnect", "400001", false, "only MQTT 3.1.1 (protocol level 4) is supported");
      return this.refuse(link, CONNACK_BAD_PROTOCOL);
    }
    if (!link.isClone && (!this.takeAdmission(nowMs) || (dev !== null && nowMs < dev.throttleUntilMs))) {
      this.counters.throttled++;
      this.diag(diagId, link, "deviceConnect", "429001", false, "new connections are over the hub's admission rate");
      return this.refuse(link, CONNACK_SERVER_UNAVAILABLE);
    }
    if (dev && !link.isClone) {
      const a = dev.armed;
      if (a.connackCode !== null) {
        const code = a.connackCode;
        a.connackCode = null;
        this.diag(dev.id, link, "deviceConnect", CONNACK_DIAG[code], false, "fault: scripted CONNACK " + code);
        return this.refuse(link, code);
      }
      if (a.withhold) {
        a.withhold = false;
        link.phase = "withheld";
        this.log("fault: withholding CONNACK from " + dev.id);
        return;
      }
    }
    if (!dev) {
      this.diag(id, link, "deviceConnect", "404001", false, "the hub does not contain the specified device");
      return this.refuse(link, CONNACK_NOT_AUTHORIZED);
    }
    if (!usernameOk(p.username, this.hubName, dev.id)) {
      this.diag(dev.id, link, "deviceConnect", "400004", false, "username is not {hub}/{deviceId}/?api-version=…");
      return this.refuse(link, CONNACK_BAD_USERNAME_OR_PASSWORD);
    }
    const password = p.password ? p.password.toString("utf8") : "";
    const sas = checkSasToken(password, { hubName: this.hubName, deviceId: dev.id, key: dev.key, nowSec: Math.floor(nowMs / 1000) });
    if (!sas.ok) {
      this.diag(dev.id, link, "deviceConnect", "401003", false, sas.reason);
      return this.refuse(link, CONNACK_NOT_AUTHORIZED);
    }
    const hash = tokenHashOf(password);
    if (dev.expiredTokens.has(hash)) {
      this.diag(dev.id, link, "deviceConnect", "401003", false, "sas: token expired (renew the token and reconnect)");
      return this.refuse(link, CONNACK_NOT_AUTHORIZED);
    }
    link.tokenHash = hash;
    const delayMs = link.isClone ? null : dev.armed.delayConnackMs;
    if (delayMs !== null) {
      dev.armed.delayConnackMs = null;
      link.phase = "authorizing";
      link.connackTimer = setTimeout(() => {
        link.connackTimer = null;
        this.accept(link, dev, p, sas.expirySec);
      }, delayMs);
      return;
    }
    this.accept(link, dev, p, sas.expirySec);
  }

  private accept(link: Link, dev: Device, p: IConnectPacket, expirySec: number): void {
    if (!link.socketOpen || link.phase === "ended" || this.closing) return;
    const old = dev.current;
    if (old && old !== link) {
      const oldOpen = old.socketOpen;
      if (old.isClone || link.isClone) this.counters.cloneConflicts++;
      else {
        this.counters.linkCreationConflicts++;
        if (oldOpen) this.counters.conflictsWithOpenLink++;
      }
      this.endLink(old);
      this.diag(dev.id, old, "deviceDisconnect", "400027", true, "another client connected with the same identity");
      this.diag(dev.id, link, "deviceConnect", "409002", true,
        oldOpen ? "the device's previous link was still open" : "the hub still considered the device connected");
    }
    clearTimer(dev.lingerTimer);
    dev.lingerTimer = null;
    dev.current = link;
    link.phase = "up";
    dev.lastTokenHash = link.tokenHash;
    // clean session 1: IoT Hub drops the queued cloud-to-device messages and the subscriptions
    const clean = p.clean !== false;
    if (clean) {
      dev.subs.clear();
      dev.queue.length = 0;
    }
    const sessionPresent = !clean && dev.sessionPresent;
    dev.sessionPresent = !clean;
    for (const m of dev.queue) m.onLink = 0;
    link.keepaliveS = Math.min(p.keepalive ?? 0, MAX_KEEPALIVE_S);
    if (link.keepaliveS > 0) link.kaTimer = setTimeout(() => this.idleTimeout(link), link.keepaliveS * 1500);
    const untilExpiryMs = expirySec * 1000 - Date.now();
    if (untilExpiryMs < MAX_TIMER_MS) link.expiryTimer = setTimeout(() => this.tokenExpired(link), Math.max(0, untilExpiryMs));
    if (link.isClone) this.counters.cloneConnects++;
    else this.counters.connectsAccepted++;
    this.send(link, { cmd: "connack", returnCode: CONNACK_ACCEPTED, sessionPresent });
    this.diag(dev.id, link, "deviceConnect", undefined, true);
    const held = link.held;
    link.held = [];
    for (const h of held) {
      if (link.phase !== "up") break;
      this.onLinkPacket(link, dev, h);
    }
    this.deliverC2d(dev);
  }

  /** 1.5x keepalive without a packet (or a half-open link's timer): a remote idle timeout. */
  private idleTimeout(link: Link): void {
    link.kaTimer = null;
    const dev = link.dev;
    const wasCurrent = dev !== null && dev.current === link;
    this.endLink(link);
    if (dev && wasCurrent) {
      this.diag(dev.id, link, "deviceDisconnect", "404104", true,
        "remote idle timeout: nothing received for 1.5 x keep-alive (" + (link.keepaliveS || DEFAULT_KEEPALIVE_S) + " s)");
    }
  }

  private tokenExpired(link: Link): void {
    link.expiryTimer = null;
    const dev = link.dev;
    if (!dev || dev.current !== link || link.halfOpen) return;
    this.expireLink(dev, link, "sas: token expired");
  }

  /** 401003 then 404104, as the hub logs a token expiry */
  private expireLink(dev: Device, link: Link, why: string): void {
    this.endLink(link);
    this.diag(dev.id, link, "deviceDisconnect", "401003", true, why);
    this.diag(dev.id, link, "deviceDisconnect", "404104", true, "the hub closed the link: " + why);
  }

  // ---- cloud-to-device -------------------------------------------------------------------

  private sendC2d(deviceId: string, payload: Uint8Array | string, properties?: Record<string, string>): void {
    const dev = this.device(deviceId);
    const seq = this.nextC2dSeq++;
    let bag = "%24.mid=" + encodeStrict(dev.id + "-" + seq) + "&%24.to=" + encodeStrict("/devices/" + dev.id + "/messages/deviceBound");
    for (const [k, v] of Object.entries(properties ?? {})) bag += "&" + encodeStrict(k) + "=" + encodeStrict(v);
    const m: C2dMessage = {
      seq,
      topic: "devices/" + dev.id + "/messages/devicebound/" + bag,
      payload: typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload),
      deliveries: 0,
      onLink: 0,
    };
    dev.queue.push(m);
    if (this.onC2d) this.onC2d({ deviceId: dev.id, kind: "queued", seq, topic: m.topic, payload: m.payload });
    this.deliverC2d(dev);
  }

  private deliverC2d(dev: Device): void {
    const link = dev.current;
    if (!link || link.phase !== "up" || link.halfOpen || !link.socketOpen) return;
    if (!dev.subs.has("devices/" + dev.id + "/messages/devicebound/#")) return;
    for (const m of dev.queue) {
      if (m.onLink === link.id) continue;
      const messageId = link.nextMsgId;
      link.nextMsgId = link.nextMsgId >= 0xffff ? 1 : link.nextMsgId + 1;
      link.inflight.set(messageId, m);
      m.onLink = link.id;
      this.send(link, { cmd: "publish", topic: m.topic, payload: m.payload, qos: 1, dup: m.deliveries > 0, retain: false, messageId });
      if (this.onC2d) this.onC2d({ deviceId: dev.id, kind: "sent", seq: m.seq, topic: m.topic, payload: m.payload, packetId: messageId, dup: m.deliveries > 0 });
      m.deliveries++;
    }
  }

  // ---- faults ----------------------------------------------------------------------------

  private inject(deviceId: string, fault: Fault): void {
    this.counters.faultsInjected++;
    if (fault.kind === "storm") return this.storm(fault.lingerMs);
    if (fault.kind === "refuseTls") {
      const nowMs = Date.now();
      if (fault.ms !== undefined) this.refuseUntilMs = Math.max(this.refuseUntilMs, nowMs + fault.ms);
      if (fault.count !== undefined || fault.ms === undefined) this.refuseCount += fault.count ?? 1;
      this.log("fault: refuseTls " + JSON.stringify(fault) + " (" + deviceId + ")");
      return;
    }
    const targets = deviceId === "*" ? Array.from(this.devices.values()) : [this.device(deviceId)];
    for (const dev of targets) this.injectOne(dev, fault);
  }

  private injectOne(dev: Device, fault: Fault): void {
    const link = dev.current;
    const live = link !== null && link.socketOpen && link.phase === "up";
    this.log("fault: " + fault.kind + " on " + dev.id + (live ? "" : " (not connected)"));
    switch (fault.kind) {
      case "drop":
        if (link && live) {
          link.lingerMs = fault.lingerMs ?? null;
          link.socket.destroy();
          this.socketGone(link);
        }
        return;
      case "halfOpen":
        if (link && live && !link.halfOpen) {
          link.halfOpen = true;
          clearTimer(link.kaTimer);
          clearTimer(link.expiryTimer);
          link.expiryTimer = null;
          link.kaTimer = setTimeout(() => this.idleTimeout(link), (link.keepaliveS || DEFAULT_KEEPALIVE_S) * 1500);
        }
        return;
      case "delayConnack":
        dev.armed.delayConnackMs = fault.ms;
        return;
      case "withholdConnack":
        dev.armed.withhold = true;
        return;
      case "connack":
        dev.armed.connackCode = fault.code;
        return;
      case "throttle":
        dev.throttleUntilMs = Math.max(dev.throttleUntilMs, Date.now() + fault.ms);
        return;
      case "expireToken":
        if (link && live) {
          dev.expiredTokens.add(link.tokenHash);
          this.expireLink(dev, link, "sas: token expired (fault)");
        } else if (dev.lastTokenHash) dev.expiredTokens.add(dev.lastTokenHash);
        return;
      case "garbage":
        if (link && live && !link.halfOpen) {
          const n = Math.max(2, fault.bytes ?? 8);
          const b = Buffer.alloc(n);
          for (let i = 0; i < n; i++) b[i] = Math.floor(this.rand() * 256);
          b[0] &= 0x0f; // packet type 0 is reserved in MQTT 3.1.1 (§2.2.1) and 5: never a valid packet
          link.socket.write(b);
        }
        return;
      case "clone":
        if (dev.clone && dev.clone.running()) dev.clone.extend(Date.now() + fault.ms);
        else {
          dev.clone = new CloneClient(this, dev, Date.now() + fault.ms);
          dev.clone.start();
        }
        return;
      case "refuseTls":
      case "storm":
        return; // handled in inject
    }
  }

  private storm(lingerMs: number | undefined): void {
    this.log("fault: storm: every link dropped");
    for (const dev of this.devices.values()) {
      const link = dev.current;
      if (link && link.socketOpen) {
        link.lingerMs = lingerMs ?? null;
        link.socket.destroy();
        this.socketGone(link);
      }
    }
    for (const s of Array.from(this.sockets)) s.destroy();
  }

  // ---- clones (used by CloneClient) --------------------------------------------------------

  cloneTarget(): { port: number; plaintext: boolean; caPem: string } {
    return { port: this.port, plaintext: this.plaintext, caPem: this.certs.caPem };
  }
  registerClonePort(port: number): void {
    this.clonePorts.add(port);
  }
  unregisterClonePort(port: number): void {
    this.clonePorts.delete(port);
  }
  isClosing(): boolean {
    return this.closing;
  }
  random(): number {
    return this.rand();
  }
  note(text: string): void {
    this.log(text);
  }

  // ---- diagnostics and shutdown ------------------------------------------------------------

  private diag(deviceId: string, link: Link, operation: DiagOperation, code: string | undefined, authenticated: boolean, errorMessage?: string): void {
    const rec = makeDiagRecord({ nowMs: Date.now(), hubName: this.hubName, operation, deviceId, ip: link.ip, code, authenticated, errorMessage });
    const key = diagKey(rec);
    if (key) this.diagCounts[key] = (this.diagCounts[key] ?? 0) + 1;
    if (this.diagList.length < this.maxDiagnostics) this.diagList.push(rec);
    if (this.onDiag) this.onDiag(rec);
  }

  private async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const dev of this.devices.values()) {
      if (dev.clone) dev.clone.stop();
      clearTimer(dev.lingerTimer);
      dev.lingerTimer = null;
      const l = dev.current;
      if (l) {
        clearTimer(l.kaTimer);
        clearTimer(l.expiryTimer);
        clearTimer(l.connackTimer);
      }
    }
    for (const s of Array.from(this.sockets)) s.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function clearTimer(t: NodeJS.Timeout | null): void {
  if (t) clearTimeout(t);
}

export function isLoopback(addr: string): boolean {
  return addr === "localhost" || addr === "::1" || /^127\.\d+\.\d+\.\d+$/.test(addr) || /^::ffff:127\./.test(addr);
}
