// Drives one link on a virtual clock and keeps every command it issued.
import mqttPacket from "mqtt-packet";
import { createLink, step, LinkState, LinkEvent, Command, LinkBase, LinkStateKind, AfterClose } from "../../src/core/link.js";
import { DecoderState } from "../../src/core/mqtt/decode.js";
import { DeviceConfig } from "../../src/core/config.js";
import { testConfig } from "./config.js";

export const EPOCH = 1_800_000_000;

/**
 * Any state, read field by field: a test asserts one state after another on the same driver,
 * which a discriminated union would narrow to `never`.
 */
export type AnyState = LinkBase & {
  kind: LinkStateKind; dec?: DecoderState; openedEpochSec?: number; tokenRenewAtMs?: number;
  connectedAtMs?: number; lastRxMs?: number; subId?: number; next?: AfterClose;
};

export class Driver {
  private cur: LinkState;
  get s(): AnyState { return this.cur; }
  set s(v: AnyState) { this.cur = v as LinkState; }
  now = 0;
  log: Command[] = [];
  constructor(cfg: DeviceConfig = testConfig(), seed = 1) { this.cur = createLink(cfg, undefined, seed); }
  ev(e: LinkEvent): Command[] { const r = step(this.cur, e, this.now); this.cur = r.state; this.log.push(...r.commands); return r.commands; }
  at(ms: number) { this.now = ms; return this; }
  data(p: object) { return this.ev({ type: "transportData", gen: this.s.gen, bytes: new Uint8Array(mqttPacket.generate(p as any)) }); }
  connect(): Command[] {
    this.ev({ type: "start" });
    this.ev({ type: "transportOpened", gen: this.s.gen, epochSec: EPOCH });
    return this.data({ cmd: "connack", returnCode: 0, sessionPresent: false });
  }
  remoteClose() { return this.ev({ type: "transportClosed", gen: this.s.gen, cause: "remote" }); }
  fire(kind: any) { return this.ev({ type: "timerFired", kind }); }
  written(cmds: Command[]): any[] {
    return cmds.filter((c) => c.type === "write").map((c) => parse((c as any).bytes));
  }
}

export function parse(bytes: Uint8Array): any {
  const p = mqttPacket.parser({ protocolVersion: 4 });
  let got: any = null;
  p.on("packet", (x: any) => { got = x; });
  p.on("error", (e: any) => { throw e; });
  p.parse(Buffer.from(bytes));
  return got;
}

export const find = (cmds: Command[], type: string) => cmds.filter((c) => c.type === type) as any[];
