// tests/vectors/trustee_file.json (tests/vectors/gen_trustee_file.py): a
// trustee file Python sealed opens in the browser to the same state (the PIN
// typed in full-width digits); a changed header or format is refused; and a
// file the browser seals opens again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS, vectors } from "./support.mjs";

const tf = await import(JS + "trustee_file.js");
const doc = vectors("trustee_file.json");

test("a file Python sealed opens to the same state", async () => {
  const opened = await tf.openTrusteeFile(doc.file, "１２３４５６");
  assert.deepEqual(opened, { electionId: "F-VECTOR", employeeId: "T0001", state: doc.state });
});

test("a changed header, another format or a wrong PIN is refused", async () => {
  for (const bad of doc.refused) await assert.rejects(tf.openTrusteeFile(bad, doc.pin), tf.TrusteeFileError);
  await assert.rejects(tf.openTrusteeFile(doc.file, "654321"), /wrong PIN/);
});

test("a file the browser seals opens again", async () => {
  const sealed = await tf.sealTrusteeFile(doc.state, doc.pin, { electionId: "F-VECTOR", employeeId: "T0001", iterations: 1000 });
  assert.deepEqual((await tf.openTrusteeFile(sealed, doc.pin)).state, doc.state);
});
