// tests/vectors/ballots.json "proofs" and "elections", checked by the browser's
// modules: the same fingerprint, challenges, byte-identical ballots from the same
// random stream, the same verdict (and error class) on every invalid ballot and
// audit opening.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS, counterRng, errorName, vectors } from "./support.mjs";

const { fromHex, toHex } = await import(JS + "bytes.js");
const { encodeParts } = await import(JS + "encoding.js");
const { Point, Scalar } = await import(JS + "group.js");
const proofs = await import(JS + "proofs.js");
const ballots = await import(JS + "ballots.js");

const doc = vectors("ballots.json");

function part(d) {
  switch (d.type) {
    case "point": return Point.fromHex(d.hex, { allowIdentity: true });
    case "scalar": return Scalar.fromHex(d.hex);
    case "bytes": return fromHex(d.hex);
    case "text": return d.value;
    case "int": return BigInt(d.value);
    case "list": return d.items.map(part);
    default: throw new Error(d.type);
  }
}

test("Schnorr proof cases", async () => {
  const fingerprint = fromHex(doc.proofs.fingerprint);
  for (const c of doc.proofs.schnorr) {
    const run = () => proofs.verifySchnorr(Point.fromHex(c.public), proofs.compactProofFromJson(c.proof), { fingerprint, context: c.context.map(part) });
    assert.equal(await errorName(run), c.valid ? null : c.error, c.comment);
  }
});

test("Chaum-Pedersen proof cases", async () => {
  const fingerprint = fromHex(doc.proofs.fingerprint);
  for (const c of doc.proofs.chaum_pedersen) {
    const [b1, a, b2, b] = c.statement.map((h) => Point.fromHex(h));
    const run = () => proofs.verifyEqualLogs(b1, a, b2, b, proofs.compactProofFromJson(c.proof), { fingerprint, context: c.context.map(part) });
    assert.equal(await errorName(run), c.valid ? null : c.error, c.comment);
  }
});

for (const election of doc.elections) {
  const manifest = ballots.parseManifest(election.manifest);
  const key = Point.fromHex(election.joint_key);
  const fingerprint = ballots.electionFingerprint(manifest, key);

  test(`${election.name}: manifest, fingerprint and challenges`, () => {
    assert.equal(new TextDecoder().decode(manifest.canonical), election.canonical_manifest);
    assert.equal(toHex(encodeParts("votingpilot/v1/election-fingerprint", manifest.canonical, key)), election.fingerprint_input_hex);
    assert.equal(toHex(fingerprint), election.fingerprint);
    for (const c of election.challenges) {
      const args = [c.context.map(part), c.statement.map(part), c.commitments.map(part)];
      assert.equal(toHex(encodeParts(c.tag, fingerprint, ...args)), c.encoded_hex, c.comment);
      const kind = c.tag.slice(proofs.TAG_PREFIX.length);
      assert.equal(proofs.challenge(kind, fingerprint, ...args).hex(), c.challenge, c.comment);
    }
  });

  test(`${election.name}: the same random stream gives byte-identical ballots`, () => {
    for (const c of election.ballots) {
      const rng = counterRng(doc.rng, `${election.name}/${c.voter_id}`);
      const { ballot, opening } = ballots.encryptBallot(manifest, key, fingerprint, c.voter_id, c.choices, { rng });
      assert.deepEqual(ballot, c.ballot, c.comment);
      assert.deepEqual(opening, c.audit_opening, c.comment);
      const code = ballots.trackingCode(fingerprint, ballot);
      assert.equal(toHex(code), c.tracking_code);
      assert.equal(ballots.formatTrackingCode(code), c.tracking_code_short);
      if (c.tracking_code_input_hex) {
        assert.equal(toHex(encodeParts("votingpilot/v1/tracking-code", fingerprint, new TextEncoder().encode(c.canonical_ballot_json))), c.tracking_code_input_hex);
      }
    }
  });

  test(`${election.name}: valid ballots verify, audit openings reproduce them`, () => {
    for (const c of election.ballots) {
      const decoded = ballots.ballotFromJson(c.ballot, manifest);
      ballots.verifyBallot(manifest, key, fingerprint, c.voter_id, decoded);
      const opening = ballots.auditOpeningFromJson(c.audit_opening);
      assert.deepEqual(ballots.verifyAuditOpening(manifest, key, decoded, opening), c.choices);
    }
  });

  test(`${election.name}: every invalid ballot is refused with the expected error`, async () => {
    for (const c of election.invalid_ballots) {
      const run = () => ballots.verifyBallot(manifest, key, fingerprint, c.voter_id, ballots.ballotFromJson(c.ballot, manifest));
      assert.equal(await errorName(run), c.error, c.comment);
    }
  });

  test(`${election.name}: audit openings`, async () => {
    const first = election.ballots[0];
    const decoded = ballots.ballotFromJson(first.ballot, manifest);
    for (const c of election.audit_openings) {
      const run = () => ballots.verifyAuditOpening(manifest, key, decoded, ballots.auditOpeningFromJson(c.opening));
      if (c.valid) assert.deepEqual(run(), c.choices, c.comment);
      else assert.equal(await errorName(run), c.error, c.comment);
    }
  });

  test(`${election.name}: fresh random ballots verify and respect the manifest's limits`, async () => {
    const choices = election.ballots[0].choices;
    const { ballot } = ballots.encryptBallot(manifest, key, fingerprint, "voter-js", choices);
    ballots.verifyBallot(manifest, key, fingerprint, "voter-js", ballots.ballotFromJson(ballot, manifest));
    const over = manifest.questions.map((q) => q.optionIds.map(() => 1));
    assert.equal(await errorName(() => ballots.encryptBallot(manifest, key, fingerprint, "voter-js", over)), "SelectionLimitError");
  });
}

test("short tracking code form", () => {
  const code = new Uint8Array(32);
  assert.equal(ballots.formatTrackingCode(code), "AAAA-AAAA-AAAA-AAAA");
});
