// tests/vectors/witness.json (tests/vectors/gen_witness.py), checked by the
// browser's modules: the manifest's witness policy, cosignatures, the quorum
// rule (same messages as crypto/witness.py), a receipt's `witnessed` completion
// and the binding of the policy to the receipt by its tracking code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { errorName, JS, vectors } from "./support.mjs";

const { fromHex, toHex } = await import(JS + "bytes.js");
const witness = await import(JS + "witness.js");
const receipts = await import(JS + "receipts.js");
const ballots = await import(JS + "ballots.js");
const merkle = await import(JS + "merkle.js");
const doc = vectors("witness.json");

const members = (policy) =>
  policy.witnesses.map((w) => ({ name: w.name, public_key: w.publicKeyHex, ...(w.url === null ? {} : { url: w.url }) }));

async function verdict(fn) {
  try {
    await fn();
  } catch (exc) {
    return { error: exc.name, message: exc.message };
  }
  return { error: null };
}

test("the tag is crypto/witness.py's", () => {
  assert.equal(witness.COSIGNATURE_TAG, doc.cosignature_tag);
});

test("witness policies in the manifest: the same verdicts and messages", async () => {
  assert.ok(doc.policies.length >= 30);
  for (const c of doc.policies) {
    const got = await verdict(() => witness.parseWitnessPolicy(c.witnesses));
    if (c.valid) {
      assert.equal(got.error, null, `${c.desc}: ${got.message}`);
      const policy = witness.parseWitnessPolicy(c.witnesses);
      assert.equal(policy.quorum, c.quorum, c.desc);
      assert.deepEqual(members(policy), c.members, c.desc);
    } else {
      assert.equal(got.error, c.error, c.desc);
      assert.equal(got.message, c.message, c.desc);
    }
  }
});

test("parseManifest refuses a manifest with a malformed witness policy", async () => {
  const base = doc.bindings[0].created.body.manifest;
  for (const c of doc.policies) {
    const manifest = { ...base };
    if (c.witnesses === null) delete manifest.witnesses;
    else manifest.witnesses = c.witnesses;
    const error = await errorName(() => ballots.parseManifest(manifest));
    assert.equal(error, c.valid ? null : "ManifestError", c.desc);
    if (c.valid) assert.equal(ballots.parseManifest(manifest).witnesses.quorum, c.quorum, c.desc);
  }
});

const headOf = (h) => ({ logId: h.log_id, size: h.size, root: fromHex(h.root, 32), timestampMs: h.timestamp_ms });

test("cosignatures: the signed message and Ed25519 verification", async () => {
  let messages = 0;
  for (const c of doc.cosignatures) {
    const head = headOf(c.head);
    if (c.message) {
      assert.equal(toHex(witness.cosignatureMessage(head, c.cosignature.time_ms)), c.message, c.desc);
      messages++;
    }
    const got = await verdict(() => witness.verifyCosignature(head, witness.cosignatureFromJson(c.cosignature)));
    assert.equal(got.error, c.valid ? null : c.error, `${c.desc}: ${got.message}`);
  }
  assert.equal(messages, 1);
});

test("the quorum: the same witnesses, errors and messages", async () => {
  for (const c of doc.quorum) {
    const policy = witness.parseWitnessPolicy(c.witnesses);
    let names;
    const got = await verdict(() => {
      names = witness.checkQuorum(policy, fromHex(c.server_key, 32), witness.cosignedHeadFromJson(c.cosigned)).map((w) => w.name);
    });
    if (c.valid) {
      assert.equal(got.error, null, `${c.desc}: ${got.message}`);
      assert.deepEqual(names, c.cosigned_by, c.desc);
    } else {
      assert.equal(got.error, c.error, `${c.desc}: ${got.message}`);
      if (c.message) assert.equal(got.message, c.message, c.desc);
    }
  }
});

test("receipts with a witnessed completion", async () => {
  for (const c of doc.witnessed) {
    const policy = witness.parseWitnessPolicy(c.witnesses);
    let result;
    const got = await verdict(() => {
      result = receipts.verifyWitnessed(c.receipt, policy, { serverKey: fromHex(c.server_key, 32) });
    });
    if (c.valid) {
      assert.equal(got.error, null, `${c.desc}: ${got.message}`);
      assert.equal(result.cosigned.treeHead.head.size, c.cosigned_size, c.desc);
      assert.deepEqual(result.witnesses.map((w) => w.name), c.cosigned_by, c.desc);
    } else {
      assert.equal(got.error, c.error, `${c.desc}: ${got.message}`);
    }
  }
});

test("a receipt still verifies with its witnessed member, which the server's signature does not cover", () => {
  const withIt = doc.witnessed.find((c) => c.valid).receipt;
  const { witnessed, ...plain } = withIt;
  assert.ok(witnessed);
  assert.deepEqual(receipts.receiptMessage(withIt), receipts.receiptMessage(plain));
  receipts.verifyReceipt(withIt);
  receipts.verifyReceipt(plain);
});

test("the policy is the receipt's election's: the tracking code recomputes", async () => {
  for (const c of doc.bindings) {
    let policy;
    const got = await verdict(() => {
      policy = receipts.witnessPolicyFor(c.receipt, c.created, c.joint);
    });
    if (c.valid) {
      assert.equal(got.error, null, `${c.desc}: ${got.message}`);
      assert.equal(policy.quorum, c.quorum, c.desc);
      assert.deepEqual(members(policy), c.members, c.desc);
    } else {
      assert.equal(got.error, c.error, `${c.desc}: ${got.message}`);
    }
  }
});

test("a witness's own log address", () => {
  assert.equal(witness.witnessLogUrl({ url: "http://127.0.0.1:9302/witness/" }, "e-1"), "http://127.0.0.1:9302/witness/elections/e-1");
  assert.equal(witness.witnessLogUrl({ url: "https://w.example.jp" }, "e-1"), "https://w.example.jp/elections/e-1");
  assert.equal(witness.witnessLogUrl({ url: null }, "e-1"), null);
  assert.ok(merkle.MAX_SIZE > 0);
});
