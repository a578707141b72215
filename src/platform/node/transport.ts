// The node transport: node:tls (TLS 1.2+, certificate verification always on), or node:net
// for plaintext (the validator allows `tls: false` to loopback hosts only).
//
// Every socket ends in exactly ONE `closed(gen, cause, detail)`, delivered from the socket's
// 'close' event, that is, after the socket is really gone. The cause is the first thing seen:
//   cert    the peer's certificate was rejected (UNABLE_TO_VERIFY_LEAF_SIGNATURE, SELF_SIGNED...,
//           CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, ...)
//   tls     the handshake failed otherwise (including a peer that cut it)
//   remote  EOF: the peer closed an open link
//   error   resets, refused connections, DNS failures, write errors
//   local   the confirmation of close(gen) (destroy(), so that 'close' always follows)

import { connect as netConnect, isIP, Socket } from "node:net";
import { checkServerIdentity, connect as tlsConnect, PeerCertificate } from "node:tls";
import { CloseCause } from "../../core/link.js";

export interface TransportSink {
  opened(gen: number): void;
  data(gen: number, bytes: Uint8Array): void;
  closed(gen: number, cause: CloseCause, detail: string): void;
}

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
  /** TCP connected */
  tcpUp: boolean;
  /** TLS handshake done (or TCP connected, for plaintext) */
  up: boolean;
  cause: CloseCause | null;
  detail: string;
  reported: boolean;
}

export class NodeTransport {
  private conns: { [gen: string]: Conn } = {};
  private alive = 0;
  /** the most sockets ever alive at once (the core's invariant 1 says 1) */
  maxAlive = 0;
  opens = 0;
  closes = 0;

  constructor(private readonly opts: TransportOptions, private readonly sink: TransportSink) {}

  /** sockets opened and not yet reported closed */
  aliveCount(): number {
    return this.alive;
  }

  open(gen: number, host: string, port: number, tls: boolean): void {
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
        this.sink.closed(gen, isCertError(e) ? "cert" : "error", detail);
      });
      return;
    }
    const c: Conn = { gen: gen, socket: socket, tls: tls, tcpUp: false, up: false, cause: null, detail: "", reported: false };
    this.conns[String(gen)] = c;
    this.opens++;
    this.alive++;
    if (this.alive > this.maxAlive) this.maxAlive = this.alive;
    socket.setNoDelay(true);
    socket.on("connect", () => {
      c.tcpUp = true;
      if (!tls) this.onUp(c);
    });
    if (tls) socket.on("secureConnect", () => { c.tcpUp = true; this.onUp(c); });
    socket.on("data", (buf: Buffer) => {
      if (c.cause !== null || !c.up) return; // closing: the rest is moot
      // a copy: the core may keep a reference to the bytes in its decoder state
      this.safe(() => this.sink.data(gen, new Uint8Array(buf)));
    });
    socket.on("end", () => {
      // EOF from the peer: before the handshake completed it is a TLS failure
      this.note(c, c.up ? "remote" : c.tcpUp && tls ? "tls" : "error", c.up ? "closed by the peer" : "closed by the peer during the handshake");
      socket.destroy();
    });
    socket.on("error", (e: Error) => {
      let cause: CloseCause;
      if (isCertError(e)) cause = "cert";
      else if (c.up) cause = "error";
      else if (tls && c.tcpUp) cause = "tls";
      else if (tls && (e as NodeJS.ErrnoException).code === "ECONNRESET") cause = "tls";
      else cause = "error";
      this.note(c, cause, detailOf(e));
    });
    socket.on("close", () => this.onClose(c));
  }

  private onUp(c: Conn): void {
    if (c.up || c.cause !== null) return;
    c.up = true;
    this.safe(() => this.sink.opened(c.gen));
  }

  /** the first cause wins */
  private note(c: Conn, cause: CloseCause, detail: string): void {
    if (c.cause !== null) return;
    c.cause = cause;
    c.detail = detail;
  }

  private onClose(c: Conn): void {
    if (c.reported) return;
    c.reported = true;
    delete this.conns[String(c.gen)];
    this.alive--;
    this.closes++;
    if (c.cause === null) {
      // 'close' without 'end' or 'error': the peer reset or the handshake was cut
      c.cause = c.up ? "remote" : c.tls && c.tcpUp ? "tls" : "error";
      c.detail = "connection closed";
    }
    const cause = c.cause;
    const detail = c.detail;
    this.safe(() => this.sink.closed(c.gen, cause, detail));
  }

  write(gen: number, bytes: Uint8Array): void {
    const c = this.conns[String(gen)];
    if (!c || c.cause !== null || c.socket.destroyed) return; // the close is already on its way
    try {
      c.socket.write(bytes);
    } catch (e) {
      this.note(c, "error", detailOf(e));
      c.socket.destroy();
    }
  }

  /** Closes the socket of `gen`; its 'close' confirms (cause "local" unless something came first). */
  close(gen: number): void {
    const c = this.conns[String(gen)];
    if (!c) return; // already gone, and reported (or about to be)
    this.note(c, "local", "closed by the device");
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
      // the sink is the shell, which catches its own errors; this is the last line
      process.emitWarning("linkguard transport: a sink threw: " + detailOf(e));
    }
  }
}

function stripBrackets(h: string): string {
  return h.charAt(0) === "[" && h.charAt(h.length - 1) === "]" ? h.substring(1, h.length - 1) : h;
}
