// The node transport (core/ports.ts Transport): node:tls (TLS 1.2+, certificate verification
// always on), or node:net for plaintext (the validator allows `tls: false` to loopback hosts only).
//
// Every socket ends in exactly ONE transportClosed report (gen, cause, detail), from the socket's
// 'close' event, that is, after the socket is really gone; the cause is closeCause (../runner.ts)
// of what the socket showed. What it can observe: 'connect' (TCP), 'secureConnect' (the
// handshake), 'data', 'end' (EOF), 'error' with OpenSSL's or Node's code, so a rejected
// certificate is named (CERT_CODES: "cert"); a reset during the handshake means TCP was reached.
// What it cannot: nothing needed is missing. close(gen) is destroy(), after which 'close' always
// follows, so this transport never reports transportCloseFailed. The first detail seen is kept.

import { connect as netConnect, isIP, Socket } from "node:net";
import { checkServerIdentity, connect as tlsConnect, PeerCertificate } from "node:tls";
import type { Report, Transport } from "../../core/ports.js";
import { closeCause, SAW_ASKED, SAW_CERT, SAW_ERROR, SAW_TCP, SAW_UP } from "../runner.js";

export interface TransportOptions {
  /** trusted CA certificate(s), PEM; default: Node's bundled roots (which hold IoT Hub's) */
  ca?: string | Buffer | Array<string | Buffer>;
  /** connect to this address instead of resolving the host (the host still names the server for TLS) */
  address?: string;
}

/** OpenSSL / Node codes that mean "the certificate was not accepted". */
const CERT_CODES: { [code: string]: true } = Object.freeze({
  UNABLE_TO_GET_ISSUER_CERT: true, UNABLE_TO_GET_CRL: true, UNABLE_TO_DECRYPT_CERT_SIGNATURE: true,
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: true, UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: true, CERT_SIGNATURE_FAILURE: true,
  CRL_SIGNATURE_FAILURE: true, CERT_NOT_YET_VALID: true, CERT_HAS_EXPIRED: true, CRL_NOT_YET_VALID: true,
  CRL_HAS_EXPIRED: true, ERROR_IN_CERT_NOT_BEFORE_FIELD: true, ERROR_IN_CERT_NOT_AFTER_FIELD: true,
  DEPTH_ZERO_SELF_SIGNED_CERT: true, SELF_SIGNED_CERT_IN_CHAIN: true, UNABLE_TO_GET_ISSUER_CERT_LOCALLY: true,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: true, CERT_CHAIN_TOO_LONG: true, CERT_REVOKED: true, INVALID_CA: true,
  PATH_LENGTH_EXCEEDED: true, INVALID_PURPOSE: true, CERT_UNTRUSTED: true, CERT_REJECTED: true,
  HOSTNAME_MISMATCH: true, ERR_TLS_CERT_ALTNAME_INVALID: true, ERR_TLS_CERT_ALTNAME_FORMAT: true,
});

const MAX_DETAIL = 120;

/** "CODE: message", one line, bounded. Node's socket errors never carry application data. */
function detailOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const code = err && typeof err.code === "string" ? err.code : "";
  const msg = err && typeof err.message === "string" ? err.message.split("\n")[0] : String(e);
  const d = code && msg.indexOf(code) < 0 ? code + ": " + msg : msg;
  return d.length > MAX_DETAIL ? d.substring(0, MAX_DETAIL) : d;
}

export function isCertError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && CERT_CODES[code] === true;
}

interface Conn {
  gen: number;
  socket: Socket;
  tls: boolean;
  report: Report;
  /** SAW_* bits: what the socket showed */
  seen: number;
  /** something ended the socket already (EOF, an error, or our close): later news is its echo */
  ended: boolean;
  detail: string;
  reported: boolean;
}

export class NodeTransport implements Transport {
  private conns: { [gen: string]: Conn } = {};
  private alive = 0;
  /** the most sockets ever alive at once (the core's invariant 1 says 1) */
  maxAlive = 0;
  opens = 0;
  closes = 0;

  constructor(private readonly opts: TransportOptions) {}

  /** sockets opened and not yet reported closed */
  aliveCount(): number {
    return this.alive;
  }

  open(gen: number, host: string, port: number, tls: boolean, report: Report): void {
    const target = this.opts.address || stripBrackets(host);
    let socket: Socket;
    try {
      if (tls) {
        const name = stripBrackets(host);
        socket = tlsConnect({
          host: target,
          port: port,
          // RFC 6066 §3: SNI carries host names only, never IP literals
          servername: isIP(name) ? undefined : name,
          // the certificate is checked against the configured host, whatever address we dial
          checkServerIdentity: (_n: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
          ca: this.opts.ca,
          rejectUnauthorized: true,
          minVersion: "TLSv1.2",
        });
      } else {
        socket = netConnect({ host: target, port: port });
      }
    } catch (e) {
      // tls.connect throws synchronously on bad options (e.g. an unreadable CA): still one close, later
      this.opens++;
      this.alive++;
      if (this.alive > this.maxAlive) this.maxAlive = this.alive;
      const detail = detailOf(e);
      setImmediate(() => {
        this.alive--;
        this.closes++;
        this.safe(() => report({ type: "transportClosed", gen: gen, cause: closeCause(isCertError(e) ? SAW_ERROR | SAW_CERT : SAW_ERROR, tls), detail: detail }));
      });
      return;
    }
    const c: Conn = { gen: gen, socket: socket, tls: tls, report: report, seen: 0, ended: false, detail: "", reported: false };
    this.conns[String(gen)] = c;
    this.opens++;
    this.alive++;
    if (this.alive > this.maxAlive) this.maxAlive = this.alive;
    socket.setNoDelay(true);
    socket.on("connect", () => {
      c.seen |= SAW_TCP;
      if (!tls) this.onUp(c);
    });
    if (tls) socket.on("secureConnect", () => { c.seen |= SAW_TCP; this.onUp(c); });
    socket.on("data", (buf: Buffer) => {
      if (c.ended || !(c.seen & SAW_UP)) return; // closing: the rest is moot
      // a copy: the core may keep a reference to the bytes in its decoder state
      this.safe(() => report({ type: "transportData", gen: gen, bytes: new Uint8Array(buf) }));
    });
    socket.on("end", () => {
      // EOF from the peer: before the handshake completed, closeCause says a TLS failure
      this.note(c, 0, c.seen & SAW_UP ? "closed by the peer" : "closed by the peer during the handshake");
      socket.destroy();
    });
    socket.on("error", (e: Error) => {
      // a reset comes from a peer that TCP reached (during a handshake, before 'connect' is seen)
      const reset = (e as NodeJS.ErrnoException).code === "ECONNRESET" ? SAW_TCP : 0;
      this.note(c, (isCertError(e) ? SAW_ERROR | SAW_CERT : SAW_ERROR) | reset, detailOf(e));
    });
    socket.on("close", () => this.onClose(c));
  }

  private onUp(c: Conn): void {
    if (c.seen & SAW_UP || c.ended) return;
    c.seen |= SAW_UP;
    this.safe(() => c.report({ type: "transportOpened", gen: c.gen }));
  }

  /** The first end seen wins: what comes after it (an error after our close, say) is its echo. */
  private note(c: Conn, saw: number, detail: string): void {
    if (c.ended) return;
    c.ended = true;
    c.seen |= saw;
    c.detail = detail;
  }

  private onClose(c: Conn): void {
    if (c.reported) return;
    c.reported = true;
    delete this.conns[String(c.gen)];
    this.alive--;
    this.closes++;
    // 'close' without 'end' or 'error': the peer reset or the handshake was cut
    if (!c.ended) c.detail = "connection closed";
    const cause = closeCause(c.seen, c.tls);
    this.safe(() => c.report({ type: "transportClosed", gen: c.gen, cause: cause, detail: c.detail }));
  }

  write(gen: number, bytes: Uint8Array): void {
    const c = this.conns[String(gen)];
    if (!c || c.ended || c.socket.destroyed) return; // the close is already on its way
    try {
      c.socket.write(bytes);
    } catch (e) {
      this.note(c, SAW_ERROR, detailOf(e));
      c.socket.destroy();
    }
  }

  /** Closes the socket of `gen`; its 'close' confirms (cause "local" unless something came first). */
  close(gen: number): void {
    const c = this.conns[String(gen)];
    if (!c) return; // already gone, and reported (or about to be)
    this.note(c, SAW_ASKED, "closed by the device");
    c.socket.destroy();
  }

  /** Destroys every socket; their closes are still reported. */
  closeAll(): void {
    const ks = Object.keys(this.conns);
    for (let i = 0; i < ks.length; i++) this.close(this.conns[ks[i]].gen);
  }

  private safe(f: () => void): void {
    try {
      f();
    } catch (e) {
      // the report is the runner's, which catches its own errors; this is the last line
      process.emitWarning("linkguard transport: its report threw: " + detailOf(e));
    }
  }
}

function stripBrackets(h: string): string {
  return h.charAt(0) === "[" && h.charAt(h.length - 1) === "]" ? h.substring(1, h.length - 1) : h;
}
