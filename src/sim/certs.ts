// A per-run certificate authority and server certificate for the emulator's TLS listener.
// Keys come from node:crypto (RSA 2048: Espruino's mbedTLS build negotiates RSA key exchange,
// and Moddable's TLS verifies RSA signatures); node-forge writes the X.509 structures.
// Nothing is written to disk unless writeCerts is called (`linkguard hub --write-certs DIR`).
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isIP } from "node:net";
import { join } from "node:path";

// node-forge ships no types and @types/node-forge is not a dependency: keep its use in this file.
const forge: any = createRequire(import.meta.url)("node-forge");

export interface Certs {
  /** the CA certificate, PEM: what a device trusts */
  caPem: string;
  /** the CA certificate, DER (for devices that take a binary certificate, e.g. Moddable resources) */
  caDer: Uint8Array;
  /** the CA's private key, PEM; written by writeCerts only so that a later run can reuse the CA */
  caKeyPem: string;
  /** the server's private key, PEM (PKCS#1, RSA 2048) */
  keyPem: string;
  /** the server certificate alone, PEM */
  certPem: string;
  /** leaf + CA, PEM: what the server sends */
  chainPem: string;
}

export interface MakeCertsOptions {
  /** DNS names and IP addresses for the server's subjectAltName; default ["localhost", "127.0.0.1"] */
  names?: string[];
  /** reuse an existing CA (as written by writeCerts) instead of making a new one */
  ca?: { certPem: string; keyPem: string };
  /** the server certificate's validity, default from 1 day ago to +2 years (tests of expired certificates) */
  leafValidity?: { notBeforeMs: number; notAfterMs: number };
}

const DAY_MS = 24 * 3600 * 1000;

function rsaKeyPair(): { publicPem: string; privatePem: string } {
  const kp = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });
  return { publicPem: kp.publicKey, privatePem: kp.privateKey };
}

/** a positive 16-byte serial (RFC 5280 §4.1.2.2: at most 20 octets, positive) */
function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  b[0] |= 0x01;
  return b.toString("hex");
}

function setValidity(cert: any, nowMs: number): void {
  cert.validity.notBefore = new Date(nowMs - DAY_MS);
  cert.validity.notAfter = new Date(nowMs + 2 * 365 * DAY_MS);
}

/** Makes a CA (unless one is given) and a server certificate for `names`, valid from 1 day ago to +2 years. */
export function makeCerts(opts: MakeCertsOptions = {}): Certs {
  const names = opts.names && opts.names.length > 0 ? opts.names : ["localhost", "127.0.0.1"];
  const nowMs = Date.now();
  const sha256 = (): unknown => forge.md.sha256.create();

  let ca: any;
  let caKeyPem: string;
  if (opts.ca) {
    ca = forge.pki.certificateFromPem(opts.ca.certPem);
    caKeyPem = opts.ca.keyPem;
  } else {
    const caKeys = rsaKeyPair();
    caKeyPem = caKeys.privatePem;
    ca = forge.pki.createCertificate();
    ca.publicKey = forge.pki.publicKeyFromPem(caKeys.publicPem);
    ca.serialNumber = serial();
    setValidity(ca, nowMs);
    const caName = [
      { name: "commonName", value: "linkguard emulator CA " + new Date(nowMs).toISOString().slice(0, 10) },
      { name: "organizationName", value: "linkguard (test only)" },
    ];
    ca.setSubject(caName);
    ca.setIssuer(caName);
    ca.setExtensions([
      { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      { name: "subjectKeyIdentifier" },
      // a self-signed CA names itself as its authority: the Moddable SDK's TLS (ssl_cert.js)
      // matches the chain's last authorityKeyIdentifier against the trusted CA's and fails
      // with `invalid buffer` on a CA without one (ENGINES.md)
      { name: "authorityKeyIdentifier", keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    ]);
    ca.sign(forge.pki.privateKeyFromPem(caKeyPem), sha256());
  }

  const leafKeys = rsaKeyPair();
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = forge.pki.publicKeyFromPem(leafKeys.publicPem);
  leaf.serialNumber = serial();
  if (opts.leafValidity) {
    leaf.validity.notBefore = new Date(opts.leafValidity.notBeforeMs);
    leaf.validity.notAfter = new Date(opts.leafValidity.notAfterMs);
  } else setValidity(leaf, nowMs);
  leaf.setSubject([{ name: "commonName", value: names[0] }]);
  leaf.setIssuer(ca.subject.attributes);
  const altNames = names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
  leaf.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  leaf.sign(forge.pki.privateKeyFromPem(caKeyPem), sha256());

  const caPem: string = forge.pki.certificateToPem(ca);
  const certPem: string = forge.pki.certificateToPem(leaf);
  const caDer = Uint8Array.from(Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(ca)).getBytes(), "binary"));
  return { caPem, caDer, caKeyPem, keyPem: leafKeys.privatePem, certPem, chainPem: certPem + caPem };
}

/** The files writeCerts writes, by name. */
export const CERT_FILES = Object.freeze({ caPem: "ca.pem", caDer: "ca.der", caKey: "ca-key.pem" });

/**
 * Writes ca.pem and ca.der (for the devices) and ca-key.pem (mode 0600, so that a later
 * `linkguard hub --write-certs DIR` reuses the same CA and a flashed device keeps trusting it).
 * Returns the paths written.
 */
export function writeCerts(certs: Certs, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const pem = join(dir, CERT_FILES.caPem);
  const der = join(dir, CERT_FILES.caDer);
  const key = join(dir, CERT_FILES.caKey);
  writeFileSync(pem, certs.caPem);
  writeFileSync(der, certs.caDer);
  writeFileSync(key, certs.caKeyPem, { mode: 0o600 });
  return [pem, der, key];
}

/** Reads a CA written by writeCerts, or null when DIR holds none. */
export function readCa(dir: string): { certPem: string; keyPem: string } | null {
  const pem = join(dir, CERT_FILES.caPem);
  const key = join(dir, CERT_FILES.caKey);
  if (!existsSync(pem) || !existsSync(key)) return null;
  return { certPem: readFileSync(pem, "utf8"), keyPem: readFileSync(key, "utf8") };
}
