// A hostile broker over real TLS on loopback: each scenario misbehaves on the first
// connection, then behaves on the next. The device (the real core, the Node shell) must close
// with a protocol-error reason, wait its backoff, reconnect — never crash, never hang.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, Server, TLSSocket } from "node:tls";
import { AddressInfo } from "node:net";
import { makeCerts, Certs } from "../../src/sim/certs.js";
import { validateConfig } from "../../src/core/config.js";
import { NodeShell } from "../../src/platform/node/shell.js";
import { createNodeEngine } from "../../src/platform/node/engine.js";
import { Status } from "../../src/core/link.js";
import { waitFor } from "../../src/sim/device.js";

const KEY = Buffer.from("hostile-broker-test-key-0123456789").toString("base64");
const certs: Certs = makeCerts();

const CONNACK = [0x20, 2, 0, 0];
type Script = (sock: TLSSocket) => void;

interface Broker { server: Server; port: number; connections: number; closedAt: number[]; openedAt: number[] }

function broker(first: Script): Promise<Broker> {
  const b: Broker = { server: null as unknown as Server, port: 0, connections: 0, closedAt: [], openedAt: [] };
  b.server = createServer({ key: certs.keyPem, cert: certs.chainPem, minVersion: "TLSv1.2" }, (sock) => {
    const n = ++b.connections;
    b.openedAt.push(Date.now());
    sock.on("error", () => {});
    sock.on("close", () => b.closedAt.push(Date.now()));
    let seen = false;
    sock.on("data", () => {
      if (seen) return; // only the CONNECT matters here
      seen = true;
      if (n === 1) first(sock);
      else sock.write(Buffer.from(CONNACK));
    });
  });
  return new Promise((resolve) => b.server.listen(0, "127.0.0.1", () => { b.port = (b.server.address() as AddressInfo).port; resolve(b); }));
}

function device(port: number): { shell: NodeShell; statuses: Status[] } {
  const v = validateConfig({
    host: "localhost", port, deviceId: "dev-hostile", auth: { symmetricKey: KEY },
    keepaliveSec: 30, connectTimeoutMs: 5000,
    backoff: { baseMs: 100, capMs: 1000, floorMs: 300, stableMs: 1000 },
  });
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const statuses: Status[] = [];
  const shell = new NodeShell({
    engine: createNodeEngine(v.config, 7), cfg: v.config, ca: certs.caPem, address: "127.0.0.1",
    observer: { command: (c) => { if (c.type === "notify") statuses.push(c.status); } },
  });
  return { shell, statuses };
}

const open: { shell: NodeShell; b: Broker }[] = [];
after(async () => {
  for (const o of open) { o.shell.dispose(); await new Promise((r) => o.b.server.close(() => r(null))); }
});

const SCENARIOS: { name: string; script: Script; code: RegExp }[] = [
  { name: "an oversize remaining length (268 MB PUBLISH)", code: /^protocol\.mqtt\.packetTooLarge$/,
    script: (s) => s.write(Buffer.from([...CONNACK, 0x30, 0xff, 0xff, 0xff, 0x7f])) },
  { name: "a remaining length of five bytes", code: /^protocol\.mqtt\.lengthTooLong$/,
    script: (s) => s.write(Buffer.from([...CONNACK, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01])) },
  { name: "a SUBACK before the SUBSCRIBE", code: /^protocol\.unexpected$/,
    script: (s) => s.write(Buffer.from([0x90, 3, 0x10, 0x92, 0x01])) },
  { name: "a PUBACK for an unknown packet id", code: /^protocol\.unknownPacketId$/,
    script: (s) => s.write(Buffer.from([...CONNACK, 0x40, 2, 0x03, 0xe7])) },
  { name: "a second CONNACK", code: /^protocol\.unexpected$/,
    script: (s) => s.write(Buffer.from([...CONNACK, ...CONNACK])) },
  { name: "bytes after a DISCONNECT from the broker", code: /^protocol\.unexpected$/,
    script: (s) => s.write(Buffer.from([...CONNACK, 0xe0, 0x00, 0xde, 0xad, 0xbe, 0xef])) },
  { name: "garbage instead of a CONNACK", code: /^protocol\.mqtt\./,
    script: (s) => s.write(Buffer.from([0x00, 0x13, 0x37, 0x42])) },
];

for (const sc of SCENARIOS) {
  test(`hostile broker: ${sc.name} closes with a protocol error, then reconnects after backoff`, async () => {
    const b = await broker(sc.script);
    const { shell, statuses } = device(b.port);
    open.push({ shell, b });
    shell.start(1);
    await waitFor(() => statuses.some((s) => s.state === "connected" && b.connections === 2), 10000, "the reconnect after the hostile first link");
    const closing = statuses.find((s) => s.state === "closing");
    assert.ok(closing, "the device never closed the hostile link");
    assert.match(closing!.code, sc.code);
    const waiting = statuses.find((s) => s.state === "waiting");
    assert.ok(waiting && waiting.delayMs! >= 300, `no backoff before the reconnect: ${JSON.stringify(waiting)}`);
    assert.equal(b.connections, 2, "exactly one reconnect");
    // disconnected before connect: the second link opened only after the first was gone
    assert.ok(b.closedAt.length >= 1 && b.openedAt[1] >= b.closedAt[0], "the second link opened while the first was still open");
    assert.equal(shell.diagnostics.counters().drops[closing!.code], 1);
  });
}
