// A CA the TLS layer cannot use at all (Espruino: "mbedtls_x509_crt_parse of 'ca'") is a fact the
// shell reports as cause "ca"; the core halts with tls.caUnusable instead of retrying for ever.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Driver, find } from "../helpers/driver.js";

test("a transport closed with cause ca halts the link with tls.caUnusable", () => {
  const d = new Driver();
  d.ev({ type: "start" });
  const c = d.ev({ type: "transportClosed", gen: d.s.gen, cause: "ca", detail: "mbedtls_x509_crt_parse of 'ca': Invalid format" });
  assert.equal(d.s.kind, "halted");
  assert.equal(d.s.code, "tls.caUnusable");
  assert.equal(find(c, "openTransport").length, 0);
  assert.equal(find(c, "startTimer").length, 0, "no retry is scheduled");
});

test("it halts even when it answers the link's own close", () => {
  const d = new Driver();
  d.ev({ type: "start" });
  d.fire("connect"); // the connect timeout: the link closes the transport itself
  assert.equal(d.s.kind, "closing");
  d.ev({ type: "transportClosed", gen: d.s.gen, cause: "ca" });
  assert.equal(d.s.kind, "halted");
  assert.equal(d.s.code, "tls.caUnusable");
});
