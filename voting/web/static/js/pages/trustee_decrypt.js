// The trustee's decryption in the browser, with exactly the checks the CLI
// makes before it decrypts (voting/client.py verified_aggregate,
// check_trust_anchors, _require_witnesses; voting/witnessed.py
// witnessed_board). The server is an untrusted relay: the aggregate
// decrypted is the one this page recomputed from the counted ballots of a
// board it verified (record_verify.js, checks 1-8 and 11) under the pinned
// server key, consistent with every head this trustee saw, with every
// registration eligible under the pinned root and its CRLs, the manifest's
// minimum of ballots, and the witnesses' quorum over the record's newest head.
// Whatever cannot be checked is a refusal (TrusteeRefusal), never a pass.

import { ApiError, get, session } from "../api.js";
import { b64decode, equalBytes, fromHex, toHex } from "../bytes.js";
import { parseManifest } from "../ballots.js";
import { ciphertextFromJson } from "../elgamal.js";
import { consistencyProofFromJson, signedTreeHeadFromJson, verifyConsistency, verifyTreeHead } from "../merkle.js";
import { F, hasAuditorsPart, notPassed, readRecordZip, unpinnedAnchors, verifyRecord } from "../record_verify.js";
import { checkQuorum, cosignedHeadFromJson } from "../witness.js";
import { pinnedHead, TrusteeRefusal } from "./trustee_ceremony.js";

/** How long the page waits for the quorum to cosign the board it is about to decrypt (witnessed.TRUSTEE_WAIT_S). */
export const WITNESS_WAIT_MS = 120_000;
const WITNESS_POLL_MS = 2000;
const base = (electionId) => `/api/elections/${encodeURIComponent(electionId)}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const json = (bytes) => JSON.parse(new TextDecoder().decode(bytes));

/** The record with the auditors' part, as zip bytes (the trustee's session). */
async function privateRecord(electionId) {
  const headers = { Accept: "application/zip" };
  const token = session()?.session_token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`${base(electionId)}/record/private`, { headers, credentials: "same-origin", cache: "no-store" });
  } catch (exc) {
    throw new ApiError(0, "network_error", exc.message);
  }
  if (!response.ok) throw new TrusteeRefusal("record_unavailable", `the record with its auditors' part cannot be downloaded (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Every trust anchor of the record — the login anchors of auditors/trust.json
 * and the card anchors of auditors/enrollments.json — must be a root this
 * trustee pinned (check_trust_anchors); none pinned is a refusal here. The
 * refusal names the first unpinned anchor.
 */
function checkTrustAnchors(files, pinned) {
  let foreign;
  try {
    if (!json(files[F.TRUST]).trust_anchors.length) throw new Error("no trust anchor");
    foreign = unpinnedAnchors(files, pinned);
  } catch {
    throw new TrusteeRefusal("record_anchors_unreadable", "the record's trust anchors cannot be read");
  }
  if (!pinned.length || foreign.length) {
    const anchor = foreign.length ? foreign.map((a) => a.text).join("; ") : "—";
    throw new TrusteeRefusal("record_foreign_ca", `the record judges eligibility against ${anchor}, which this trustee did not pin`, { anchor });
  }
}

/** Registrations attested by a TLS client certificate login rest on the server's word: decrypted only once the trustee accepted their exact number (attested_refusal). */
function checkAttested(count, accepted) {
  if (accepted === count || (accepted === null && count === 0)) return;
  throw new TrusteeRefusal("attested_not_accepted", `the record holds ${count} registrations attested by a TLS client certificate login, on the server's word only`, { count });
}

/** Heads `a` and `b` (signatures checked) are on one board, by the server's consistency proof (prove_one_board). */
async function proveOneBoard(electionId, a, b) {
  const [old, young] = a.head.size <= b.head.size ? [a, b] : [b, a];
  if (old.head.size === young.head.size) {
    if (!equalBytes(old.head.root, young.head.root)) throw new TrusteeRefusal("split_view", "two different boards of the same size");
    return;
  }
  try {
    const reply = await get(`${base(electionId)}/board/consistency?old=${old.head.size}&new=${young.head.size}`, { auth: false });
    const proof = consistencyProofFromJson(reply.proof);
    if (proof.oldSize !== old.head.size || proof.newSize !== young.head.size) throw new Error("sizes");
    verifyConsistency(old.head.size, young.head.size, old.head.root, young.head.root, proof.path);
  } catch (exc) {
    if (exc instanceof ApiError && (exc.status === 0 || exc.status >= 500 || exc.status === 429)) throw exc;
    throw new TrusteeRefusal("split_view", "the server cannot prove the witnesses' head and the verified board are one board");
  }
}

/**
 * The quorum cosigned a head holding the aggregate (more than `covering`
 * entries), on one board with `head` (witnessed_board). Waits up to
 * WITNESS_WAIT_MS; `tell()` is called while waiting.
 */
async function requireWitnesses(electionId, policy, serverKey, head, covering, { tell, waitMs = WITNESS_WAIT_MS }) {
  if (policy.quorum === 0) return null;
  const deadline = Date.now() + waitMs;
  for (;;) {
    let cosigned = null;
    try {
      cosigned = cosignedHeadFromJson(await get(`${base(electionId)}/board/cosigned`, { auth: false }));
    } catch (exc) {
      if (!(exc instanceof ApiError) || !(exc.status === 404 || exc.status === 0 || exc.status >= 500 || exc.status === 429)) {
        throw new TrusteeRefusal("split_view", `the server's cosigned head does not hold: ${exc.message}`);
      }
    }
    if (cosigned !== null) {
      try {
        checkQuorum(policy, serverKey, cosigned);
      } catch (exc) {
        throw new TrusteeRefusal("split_view", `the server's cosigned head does not hold: ${exc.message}`);
      }
      if (cosigned.treeHead.head.logId !== electionId) throw new TrusteeRefusal("split_view", "the server's cosigned head is for another election");
      if (cosigned.treeHead.head.size > covering) {
        await proveOneBoard(electionId, cosigned.treeHead, head);
        return cosigned;
      }
    }
    if (Date.now() >= deadline) {
      throw new TrusteeRefusal("witness_wait", `the witnesses have not cosigned the board up to entry ${covering} yet`, {
        entry: covering,
        cosigned: cosigned ? cosigned.treeHead.head.size : 0,
      });
    }
    tell("witnesses", 0, 1);
    await sleep(WITNESS_POLL_MS);
  }
}

/**
 * verified_aggregate: {ciphertexts, fingerprint, ballotsCounted, minimum,
 * boardSize, attested, report}. `acceptAttested`: the number of registrations
 * attested by a TLS client certificate login the trustee accepted (null:
 * none); any other number than the record's is a refusal
 * (attested_not_accepted, with {count}). `state` is the trustee file's state (server_key,
 * seen_head — updated here, saved by the caller —, trust_anchors).
 * `progress(stage, done, total)` reports the long work.
 */
export async function verifiedAggregate(electionId, state, { progress = () => {}, waitMs, acceptAttested = null } = {}) {
  const head = await pinnedHead(electionId, state);
  progress("download", 0, 1);
  const files = readRecordZip(await privateRecord(electionId));
  if (!hasAuditorsPart(files)) throw new TrusteeRefusal("record_no_auditors_part", "the record has no auditors' part, so the voters' eligibility cannot be checked");
  checkTrustAnchors(files, (state.trust_anchors || []).map((a) => b64decode(a)));
  const serverKey = fromHex(state.server_key, 32);
  const report = await verifyRecord(files, { serverKey, crlsAfterEvents: false, progress });
  const failed = notPassed(report);
  if (failed.length) {
    throw new TrusteeRefusal("record_checks", `the board does not verify, so nothing is decrypted: ${failed.map(([n, s, why]) => `check ${n}: ${why || s}`).join("; ")}`, {
      checks: failed.map(([n]) => n).join(", "),
      failed,
    });
  }
  checkAttested(report.attestedRegistrations, acceptAttested);
  // Checks 1-8 passed: the board and the heads below are well-formed.
  const entries = new TextDecoder().decode(files[F.BOARD]).split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
  const headDocs = json(files[F.TREE_HEADS]);
  const same = headDocs.find((h) => h.size === head.head.size);
  if (!same || same.root !== toHex(head.head.root)) {
    throw new TrusteeRefusal("record_other_board", "the record's board is not the board whose signed head this trustee checked");
  }
  const aggregates = entries.filter((e) => e.kind === "aggregate");
  const joint = entries.filter((e) => e.kind === "joint-key");
  if (aggregates.length !== 1 || joint.length !== 1) throw new TrusteeRefusal("record_no_aggregate", "the board has no single aggregate: is the election closed?");
  const manifest = parseManifest(entries[0].body.manifest);
  const body = aggregates[0].body;
  const ciphertexts = body.ciphertexts.map((c) => ciphertextFromJson(c, { allowIdentity: true }));
  if (ciphertexts.length !== manifest.questions.reduce((sum, q) => sum + q.optionIds.length, 0)) {
    throw new TrusteeRefusal("record_no_aggregate", "the aggregate does not hold exactly one ciphertext per option of the manifest");
  }
  const minimum = manifest.document.min_tally_ballots ?? 5;
  if (body.ballots_counted < minimum) {
    throw new TrusteeRefusal("too_few_ballots", `only ${body.ballots_counted} ballots are counted; the manifest requires at least ${minimum}`, {
      count: body.ballots_counted,
      minimum,
    });
  }
  // The witnesses must have cosigned the board whose aggregate is decrypted:
  // the record's own newest head (check 7 verified it).
  const newest = signedTreeHeadFromJson(headDocs[headDocs.length - 1]);
  verifyTreeHead(serverKey, newest);
  if (newest.head.size !== entries.length || newest.head.size <= aggregates[0].index) {
    throw new TrusteeRefusal("record_other_board", "the record's newest tree head does not cover its board and its aggregate");
  }
  await requireWitnesses(electionId, manifest.witnesses, serverKey, newest, aggregates[0].index, { tell: progress, waitMs });
  return {
    ciphertexts,
    fingerprint: fromHex(joint[0].body.fingerprint, 32),
    ballotsCounted: body.ballots_counted,
    minimum,
    boardSize: entries.length,
    attested: report.attestedRegistrations,
    report,
  };
}
