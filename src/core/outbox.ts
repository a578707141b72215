// The outbound telemetry: messages accepted from the application, waiting (queue) or sent and
// awaiting PUBACK (in flight), and the packet ids they use. Plain data inside the link's state;
// these functions change a draft of it (the link copies its state once per step) and report to
// the application through `dropped` / `acked` commands. They write no bytes: the link does.

import type { Command } from "./link.js";
import type { OverflowPolicy } from "./config.js";

/** A message in the queue or in flight. `id` is the application's handle; `packetId` is 0 until it is sent at QoS 1. */
export interface Queued { id: number; topic: string; payload: Uint8Array; qos: 0 | 1; packetId: number }

/** The outbox's fields, part of every link state. */
export interface Outbox {
  /** accepted, not yet sent, in order */
  readonly queue: readonly Queued[];
  /** QoS 1 messages sent and not yet acknowledged, in send order (redelivered with DUP after a reconnect) */
  readonly inflight: readonly Queued[];
  /** the next packet id to try, 1..65535 */
  readonly nextPacketId: number;
}

type Draft = { -readonly [K in keyof Outbox]: Outbox[K] };

/** Messages in flight (sent, awaiting PUBACK) at once. */
export const MAX_INFLIGHT = 8;

/** Whether `q` may be sent now: QoS 0 always, QoS 1 while the in-flight window has room. */
export function sendable(o: Outbox, q: Queued): boolean {
  return q.qos === 0 || o.inflight.length < MAX_INFLIGHT;
}

/**
 * Puts `q` at the end of the queue. At `limit` (queued + in flight), `refuse-new` refuses `q`;
 * `drop-oldest` drops the oldest queued message (never one in flight: it may have reached the hub).
 */
export function admit(o: Draft, q: Queued, limit: number, overflow: OverflowPolicy, out: Command[]): void {
  let queue = o.queue;
  if (queue.length + o.inflight.length >= limit) {
    if (overflow === "refuse-new" || queue.length === 0) {
      out.push({ type: "dropped", id: q.id, why: "refused" });
      return;
    }
    out.push({ type: "dropped", id: queue[0].id, why: "overflow" });
    queue = queue.slice(1);
  } else {
    queue = queue.slice();
  }
  (queue as Queued[]).push(q);
  o.queue = queue;
}

/**
 * `q` is about to be written: a QoS 1 message gets a free packet id (never `reserved`, our
 * pending SUBSCRIBE's) and joins the in-flight list. A QoS 0 message is not kept (the link
 * reports it acked once written). Returns the message as it goes on the wire.
 */
export function sending(o: Draft, q: Queued, reserved: number): Queued {
  if (q.qos === 0) return q;
  const m: Queued = { id: q.id, topic: q.topic, payload: q.payload, qos: 1, packetId: allocId(o, reserved) };
  const inf = o.inflight.slice();
  inf.push(m);
  o.inflight = inf;
  return m;
}

/** A PUBACK for `packetId`: the message leaves the in-flight list (acked). False if none has that id. */
export function acknowledge(o: Draft, packetId: number, out: Command[]): boolean {
  const inf = o.inflight;
  for (let i = 0; i < inf.length; i++) {
    if (inf[i].packetId === packetId) {
      const next = inf.slice();
      next.splice(i, 1);
      o.inflight = next;
      out.push({ type: "acked", id: inf[i].id });
      return true;
    }
  }
  return false;
}

/** The next free packet id in 1..65535: not in flight and not `reserved`. */
export function allocId(o: Draft, reserved: number): number {
  let id = o.nextPacketId;
  for (;;) {
    let used = id === reserved;
    for (let i = 0; i < o.inflight.length && !used; i++) if (o.inflight[i].packetId === id) used = true;
    if (!used) break;
    id = id >= 65535 ? 1 : id + 1;
  }
  o.nextPacketId = id >= 65535 ? 1 : id + 1;
  return id;
}
