// voting_secret.js, the voting key of a session that logged in with the card
// in this computer: the file offered to keep gives back the secret for that
// employee and election only, and its credential is the one the secret derives
// (voting_credential.js, as Python's crypto.credentials.voting_credential).
// IndexedDB is the browser's: tests/test_browser_client_certificate.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS, vectors } from "./support.mjs";

const { fromHex, toHex } = await import(JS + "bytes.js");
const { votingCredential } = await import(JS + "voting_credential.js");
const secrets = await import(JS + "voting_secret.js");
const section = vectors("credentials.json").voting_credentials;

test("the file carries the secret and the credential Python derives from it", () => {
  for (const c of section.cases) {
    for (const e of c.elections) {
      const secret = fromHex(c.secret, 32);
      const file = secrets.secretFile("E0001", e.election_id, secret);
      assert.deepEqual(Object.keys(file).sort(), ["credential", "election_id", "employee_id", "format", "secret", "version"]);
      assert.equal(file.format, "votingpilot-voting-secret");
      assert.equal(file.credential, e.credential, "the voting credential is Python's");
      assert.equal(toHex(secrets.secretFromFile(JSON.parse(JSON.stringify(file)), "E0001", e.election_id)), c.secret);
    }
  }
});

test("a file of another employee or election, or a damaged one, is refused with its reason", () => {
  const secret = secrets.newSecret();
  assert.equal(secret.length, 32);
  assert.notDeepEqual(secret, secrets.newSecret(), "random");
  const file = secrets.secretFile("E0001", "survey-2026", secret);
  const reason = (doc, employee = "E0001", election = "survey-2026") => {
    try {
      secrets.secretFromFile(doc, employee, election);
    } catch (exc) {
      assert.ok(exc instanceof secrets.SecretFileError);
      return exc.reason;
    }
    return "accepted";
  };
  assert.equal(reason(file), "accepted");
  assert.equal(reason(file, "E0002"), "other_employee");
  assert.equal(reason(file, "E0001", "other-2026"), "other_election");
  assert.equal(reason({ ...file, credential: votingCredential(secrets.newSecret(), "survey-2026").hex }), "damaged");
  assert.equal(reason({ ...file, secret: file.secret.toUpperCase() }), "damaged");
  assert.equal(reason({ ...file, format: "votingpilot-credential" }), "not_secret_file");
  assert.equal(reason({ ...file, version: 2 }), "not_secret_file");
  assert.equal(reason(null), "not_secret_file");
  assert.equal(reason("text"), "not_secret_file");
});
