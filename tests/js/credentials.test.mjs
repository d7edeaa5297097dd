// tests/vectors/credentials.json, checked by the browser's WebCrypto code: the
// credential files open (or fail) as in Python, and the deterministic signature
// schemes (RS256, EdDSA) give the vectors' exact ballot signatures. The tokens
// and signatures the browser makes are verified by Python in tests/test_web_js.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS, errorName, vectors } from "./support.mjs";

const { b64decode, fromHex, toHex } = await import(JS + "bytes.js");
const credentials = await import(JS + "credentials.js");
const doc = vectors("credentials.json");

test("credential files open exactly when Python opens them", async () => {
  for (const c of doc.credential_files) {
    if (c.valid) {
      const credential = await credentials.openCredential(c.file, c.pin);
      assert.equal(credential.employeeId, c.employee_id, c.id);
      assert.equal(credential.alg, c.file.alg, c.id);
      assert.equal(credential.privateKey.extractable, false, c.id);
    } else {
      let code = null;
      try {
        await credentials.openCredential(c.file, c.pin);
      } catch (exc) {
        code = exc.code;
      }
      assert.equal(code, c.error, c.id);
    }
  }
});

test("a file with a changed member set or alg is refused before any PIN work", async () => {
  const good = doc.credential_files.find((c) => c.valid).file;
  assert.equal(await errorName(() => credentials.openCredential({ ...good, extra: 1 }, "246810")), "CredentialError");
  assert.equal(await errorName(() => credentials.openCredential({ ...good, alg: "HS256" }, "246810")), "CredentialError");
  assert.equal(await errorName(() => credentials.openCredential({ ...good, kdf: { ...good.kdf, iterations: 0 } }, "246810")), "CredentialError");
  assert.equal(await errorName(() => credentials.openCredential(good, "")), "CredentialError");
});

function pemToDer(pem) {
  return b64decode(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));
}

const IMPORT = { rs256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, eddsa: { name: "Ed25519" } };

test("deterministic ballot signatures equal the vectors (RS256, EdDSA)", async () => {
  let checked = 0;
  for (const c of doc.ballot_signatures) {
    if (!c.valid || !(c.certificate in IMPORT)) continue;
    const alg = c.certificate === "rs256" ? "RS256" : "EdDSA";
    const privateKey = await crypto.subtle.importKey("pkcs8", pemToDer(doc.private_keys[c.certificate]), IMPORT[c.certificate], false, ["sign"]);
    const signature = await credentials.signBallot({ alg, privateKey }, fromHex(c.election_fingerprint), fromHex(c.tracking_code));
    assert.equal(toHex(signature), c.signature, c.id);
    checked++;
  }
  assert.ok(checked >= 2);
});

test("the certificate's public key is found in its DER", async () => {
  for (const c of doc.credential_files.filter((f) => f.valid)) {
    const spki = credentials.certificateSpki(b64decode(c.file.chain[0]));
    assert.equal(spki[0], 0x30);
  }
});
