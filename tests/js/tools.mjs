// Command-line entry to the browser's modules for the Python tests
// (tests/test_web_js.py): read one JSON request on stdin, write the answer on
// stdout. `node tests/js/tools.mjs ballot|token|receipts|endorsements < request.json`
import { JS } from "./support.mjs";

const { fromHex, toHex } = await import(JS + "bytes.js");
const { Point } = await import(JS + "group.js");
const ballots = await import(JS + "ballots.js");
const credentials = await import(JS + "credentials.js");
const receipts = await import(JS + "receipts.js");
const merkle = await import(JS + "merkle.js");
const endorsements = await import(JS + "endorsements.js");
const voting = await import(JS + "voting_credential.js");
const audits = await import(JS + "audits.js");

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const commands = {
  /**
   * The ballot page's voting credential: open the file, derive the secret, the
   * per-election seeds and keys, sign the registration (certificate key) and a
   * ballot signature message (voting credential).
   */
  async voting_credential(req) {
    const credential = await credentials.openCredential(req.credential, req.pin);
    const out = { secret: toHex(credential.secret), elections: {} };
    for (const electionId of req.election_ids) {
      const v = voting.votingCredential(credential.secret, electionId);
      const registration = voting.registrationMessage(electionId, v.publicBytes);
      out.elections[electionId] = {
        seed: toHex(voting.votingCredentialSeed(credential.secret, electionId)),
        public_key: v.hex,
        registration_message: toHex(registration),
        registration_signature: toHex(await credentials.signRegistration(credential, registration)),
        ballot_signature: toHex(voting.signBallotWithCredential(v, fromHex(req.fingerprint), fromHex(req.tracking_code))),
      };
    }
    return out;
  },

  /** The receipt check page's audit checks, without the network: the file, then the choices from the entry. */
  async audit(req) {
    const out = { kind: audits.fileKind(req.file) };
    try {
      audits.verifyAuditFile(req.file, { serverKey: req.server_key });
      out.file = "ok";
    } catch (exc) {
      out.file = exc.name;
    }
    const manifest = ballots.parseManifest(req.manifest);
    const key = Point.fromHex(req.joint_key);
    const fingerprint = ballots.electionFingerprint(manifest, key);
    try {
      const choices = audits.auditedChoices({ manifest, key, fingerprint }, req.file.entry);
      out.choices = audits.describeChoices(manifest, choices);
    } catch (exc) {
      out.choices = exc.name;
    }
    return out;
  },

  /** Encrypt and sign a ballot as the ballot page does. */
  async ballot(req) {
    const manifest = ballots.parseManifest(req.manifest);
    const key = Point.fromHex(req.joint_key);
    const fingerprint = ballots.electionFingerprint(manifest, key);
    const { ballot, opening } = ballots.encryptBallot(manifest, key, fingerprint, req.voter_id, req.choices);
    const code = ballots.trackingCode(fingerprint, ballot);
    const credential = await credentials.openCredential(req.credential, req.pin);
    const signature = await credentials.signBallot(credential, fingerprint, code);
    return {
      ballot,
      opening,
      fingerprint: toHex(fingerprint),
      tracking_code: toHex(code),
      short_code: ballots.formatTrackingCode(code),
      signature: toHex(signature),
    };
  },

  /** Answer a login challenge as the login page does. */
  async token(req) {
    const credential = await credentials.openCredential(req.credential, req.pin);
    return { token: await credentials.makeLoginToken(credential, { nonce: req.nonce, audience: req.audience, now: req.now }) };
  },

  /** Check receipts as the receipt page does; report each verdict. */
  async receipts(req) {
    return req.cases.map((c) => {
      try {
        const newest = merkle.signedTreeHeadFromJson(c.newest);
        receipts.verifyReceiptAgainst(c.receipt, newest, c.consistency, { serverKey: c.server_key });
        return { valid: true, error: null };
      } catch (exc) {
        return { valid: false, error: exc.name, code: exc.code ?? null, message: exc.message };
      }
    });
  },

  /** Check the election key of board entries as the ballot page does; report each verdict. */
  async endorsements(req) {
    const out = [];
    for (const c of req.cases) {
      try {
        const pins = c.pinned ? [endorsements.parsePinned(c.pinned)] : [];
        const e = await endorsements.endorsedElection(c.entries, c.election_id, { pins });
        out.push({
          valid: true,
          fingerprint: toHex(e.fingerprint),
          short: ballots.formatFingerprint(e.fingerprint),
          threshold: e.threshold,
          trustees: e.trustees.map((t) => [t.index, t.employeeId, t.name]),
        });
      } catch (exc) {
        if (!(exc instanceof endorsements.KeyRefusal)) throw exc;
        out.push({ valid: false, reason: exc.reason, message: exc.message });
      }
    }
    return out;
  },
};

const command = commands[process.argv[2]];
if (!command) {
  console.error(`usage: node tests/js/tools.mjs ${Object.keys(commands).join("|")} < request.json`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await command(await readStdin())));
