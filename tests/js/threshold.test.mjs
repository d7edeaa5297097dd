// tests/vectors/threshold.json (tests/vectors/gen_threshold.py) checked by
// static/js/threshold.js: the same deterministic draws give byte-identical
// secrets, announcements, encrypted shares, keys and partial decryptions, and
// every case gets Python's verdict and error code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS, vectors } from "./support.mjs";

const th = await import(JS + "threshold.js");
const { hashToScalar, encodeParts, sha512 } = await import(JS + "encoding.js");
const { utf8 } = await import(JS + "bytes.js");
const { ciphertextFromJson, encrypt } = await import(JS + "elgamal.js");
const doc = vectors("threshold.json");

/** gen_threshold.DeterministicRandom: one counter for scalars and bytes. */
function deterministic(seed) {
  let counter = 0;
  return {
    scalar: () => hashToScalar("votingpilot/v1/test-vector-rng", seed, ++counter),
    bytes: (n) => sha512(encodeParts("votingpilot/v1/test-vector-bytes", seed, ++counter)).slice(0, n),
  };
}

const params = th.parametersFromJson(doc.parameters);
const announcements = doc.announcements.map(th.announcementFromJson);
const tally = doc.tally.map((c) => ciphertextFromJson(c, { allowIdentity: true }));
const fingerprint = Uint8Array.from(Buffer.from(doc.election_fingerprint, "hex"));

test("the whole ceremony and decryption are byte-identical to Python's", () => {
  const rnd = deterministic(utf8("votingpilot threshold vectors v1"));
  const started = [1, 2, 3].map((i) => th.startCeremony(params, i, { rng: rnd.scalar, random: rnd.bytes }));
  assert.deepEqual(started.map((s) => th.secretsToJson(s.secrets)), doc.trustee_secrets);
  assert.deepEqual(started.map((s) => th.announcementToJson(s.announcement)), doc.announcements);
  const mine = started.map((s) => s.announcement);
  const shares = started.flatMap((s) => th.makeShares(params, s.secrets, mine, { random: rnd.bytes }));
  assert.deepEqual(shares.map(th.shareToJson), doc.shares);
  const keys = started.map((s) => th.finishCeremony(params, s.secrets, mine, shares.filter((sh) => sh.recipient === s.secrets.index)));
  assert.deepEqual(keys.map(th.keyToJson), doc.trustee_keys);
  assert.equal(th.jointPublicKey(mine).hex(), doc.joint_public_key);
  assert.deepEqual([1, 2, 3].map((i) => th.publicShare(mine, i).hex()), doc.public_shares);
  // The generator encrypts five ballots of three options next (one draw each).
  const joint = th.jointPublicKey(mine);
  for (let k = 0; k < 15; k++) encrypt(joint, 0, rnd.scalar());
  const partials = keys.map((k) => th.partialDecrypt(k, tally, { fingerprint, rng: rnd.scalar }));
  assert.deepEqual(partials.map(th.partialToJson), doc.partial_decryptions);
});

test("secrets and keys round-trip through their JSON", () => {
  for (const s of doc.trustee_secrets) assert.deepEqual(th.secretsToJson(th.secretsFromJson(s)), s);
  for (const k of doc.trustee_keys) assert.deepEqual(th.keyToJson(th.keyFromJson(k)), k);
});

function run(c) {
  if (c.kind === "announcement") return th.verifyAnnouncement(params, th.announcementFromJson(c.announcement));
  if (c.kind === "share") {
    const share = th.shareFromJson(c.share);
    const secrets = th.secretsFromJson(doc.trustee_secrets[share.recipient - 1]);
    return th.openShare(params, secrets, announcements[share.sender - 1], share).hex();
  }
  if (c.kind === "partial_decryption") {
    return th.verifyPartialDecryption(announcements, tally, th.partialFromJson(c.partial_decryption), { fingerprint });
  }
  const partials = c.combine.map((i) => th.partialFromJson(doc.partial_decryptions[i - 1]));
  if (c.lagrange) assert.deepEqual(c.combine.map((i) => th.lagrangeCoefficient(i, c.combine).hex()), c.lagrange);
  return th.combine(tally, partials, { threshold: params.t, bound: doc.bound });
}

test("every case: Python's verdict, error code and value", () => {
  assert.ok(doc.cases.length >= 40);
  for (const c of doc.cases) {
    if (c.valid) {
      const result = run(c);
      const want = c.result ?? c.value;
      if (want !== undefined) assert.deepEqual(result, want, c.description);
    } else {
      assert.throws(() => run(c), (exc) => exc.constructor.code === c.error, c.description);
    }
  }
});
