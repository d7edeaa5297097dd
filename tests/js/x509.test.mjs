// tests/vectors/x509.json (tests/vectors/gen_x509.py): every certificate chain
// and CRL case gets from static/js/x509.js the verdict Python's
// TrustStore.verify_chain / check_revocation gave it ("ok" or the same error code).
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS, vectors } from "./support.mjs";

const x = await import(JS + "x509.js");
const { b64decode } = await import(JS + "bytes.js");
const doc = vectors("x509.json");
const now = new Date(doc.now);
const ders = (items) => items.map((item) => b64decode(item));

async function verdict(fn) {
  try {
    await fn();
    return "ok";
  } catch (exc) {
    if (!exc.code) throw exc;
    return exc.code;
  }
}

for (const c of doc.chains) {
  test(`chain: ${c.name} -> ${c.verdict}`, async () => {
    let result;
    const got = await verdict(async () => {
      result = await x.verifyChain(ders(c.chain), ders(c.roots), { now, employeeId: c.employee_id ?? undefined });
    });
    assert.equal(got, c.verdict);
    if (got === "ok") {
      assert.equal(result.chain.at(-1).der.length > 0, true);
      assert.deepEqual(result.chain.at(-1).der, ders(c.roots).find((r) => r.length === result.chain.at(-1).der.length && r.every((b, i) => b === result.chain.at(-1).der[i])));
      if (c.employee_id) assert.equal(result.employeeId, c.employee_id);
    }
  });
}

test("an expired or not yet valid chain says so, as in Python", async () => {
  for (const c of doc.chains.filter((k) => /expired|not yet valid/.test(k.name))) {
    await assert.rejects(x.verifyChain(ders(c.chain), ders(c.roots), { now, employeeId: c.employee_id }), { message: doc.expired_detail });
  }
});

for (const c of doc.crls) {
  test(`CRL: ${c.name} -> ${c.verdict}`, async () => {
    const got = await verdict(async () => {
      const { chain } = await x.verifyChain(ders(c.chain), ders(c.roots), { now });
      await x.checkRevocation(chain, ders(c.crls).map(x.parseCrl), { now });
    });
    assert.equal(got, c.verdict);
  });
}

test("the root's PEM reads, with the fingerprint Python computes", () => {
  const [root] = x.rootsFromPem(doc.root_pem);
  assert.equal(x.fingerprint(root), doc.root_fingerprint);
  assert.throws(() => x.rootsFromPem("not a certificate"), { name: "CertificateError" });
});
