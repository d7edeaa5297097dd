// tests/vectors/credentials.json "voting_credentials", checked by the browser's
// modules: the PKCS#8 bytes give the credential secret, the secret and an
// election id give the Ed25519 seed and public key (@noble/curves), the
// registration message is byte for byte Python's, the certificate key's
// registration signature is the vector's (RS256, EdDSA: deterministic) or
// verifies (ES256: WebCrypto's ECDSA is randomised), and the voting
// credential's ballot signature is the vector's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS, vectors } from "./support.mjs";

const { b64decode, fromHex, toHex } = await import(JS + "bytes.js");
const credentials = await import(JS + "credentials.js");
const voting = await import(JS + "voting_credential.js");
const doc = vectors("credentials.json");
const section = doc.voting_credentials;

const ALG = { es256: "ES256", rs256: "RS256", eddsa: "EdDSA" };
const IMPORT = {
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  EdDSA: { name: "Ed25519" },
};
const VERIFY = { ES256: { name: "ECDSA", hash: "SHA-256" }, RS256: { name: "RSASSA-PKCS1-v1_5" }, EdDSA: { name: "Ed25519" } };

test("the vectors have voting credentials for every key type", () => {
  assert.ok(section, "tests/vectors/credentials.json has no voting_credentials section");
  assert.deepEqual(section.cases.map((c) => ALG[c.certificate]).sort(), ["ES256", "EdDSA", "RS256"]);
});

test("PKCS#8 -> secret -> seed -> Ed25519 public key, as in Python", () => {
  for (const c of section.cases) {
    const secret = credentials.credentialSecret(b64decode(c.pkcs8));
    assert.equal(toHex(secret), c.secret, c.id);
    const seen = new Set();
    for (const e of c.elections) {
      assert.equal(toHex(voting.votingCredentialSeed(secret, e.election_id)), e.seed, `${c.id} ${e.election_id}`);
      const credential = voting.votingCredential(secret, e.election_id);
      assert.equal(credential.hex, e.credential, `${c.id} ${e.election_id}`);
      assert.equal(toHex(voting.registrationMessage(e.election_id, credential.publicBytes)), e.registration_message);
      seen.add(credential.hex);
    }
    assert.equal(seen.size, c.elections.length, "another election gives another credential");
  }
});

test("registration and ballot signatures, as in Python", async () => {
  const fingerprint = fromHex(section.election_fingerprint);
  const code = fromHex(section.tracking_code);
  for (const c of section.cases) {
    const alg = ALG[c.certificate];
    const pkcs8 = b64decode(c.pkcs8);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, IMPORT[alg], true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    delete jwk.d;
    delete jwk.p;
    delete jwk.q;
    delete jwk.dp;
    delete jwk.dq;
    delete jwk.qi;
    jwk.key_ops = ["verify"];
    const publicKey = await crypto.subtle.importKey("jwk", jwk, IMPORT[alg], false, ["verify"]);
    const secret = credentials.credentialSecret(pkcs8);
    for (const e of c.elections) {
      const credential = voting.votingCredential(secret, e.election_id);
      const message = fromHex(e.registration_message);
      const signature = await credentials.signRegistration({ alg, privateKey }, message);
      if (alg === "ES256") {
        assert.ok(await crypto.subtle.verify(VERIFY[alg], publicKey, signature, message), c.id);
        assert.ok(await crypto.subtle.verify(VERIFY[alg], publicKey, fromHex(e.registration_signature), message), "the vector verifies");
      } else {
        assert.equal(toHex(signature), e.registration_signature, `${c.id} ${e.election_id}`);
      }
      const ballotSignature = voting.signBallotWithCredential(credential, fingerprint, code);
      assert.equal(toHex(ballotSignature), e.ballot_signature, `${c.id} ${e.election_id}`);
      assert.ok(voting.verifyCredentialSignature(credential.publicBytes, ballotSignature, fingerprint, code));
      assert.equal(voting.verifyCredentialSignature(credential.publicBytes, ballotSignature, fingerprint, fromHex("00".repeat(32))), false);
    }
  }
});
