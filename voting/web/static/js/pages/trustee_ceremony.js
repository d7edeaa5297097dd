// The trustee's key ceremony, step by step, with the checks of the CLI
// trustee client (voting/client.py: pinned_head, ceremony_view,
// trustee_ceremony_step, signed_announcements, _confirmation). The server is
// an untrusted relay: n, t and the trustees come from the signed
// election-created entry on the pinned board, never from its ceremony reply.
//
// `state` is the CLI's state file as a JSON object (kept in the PIN-sealed
// trustee file, trustee_file.js); `save(reason)` must resolve only once the
// trustee has saved the file with the state as it is now — it is called
// before anything that depends on a new secret or pin is sent.
// `state.trust_anchors` (base64 DER, pinned by the page from the root.pem the
// trustee chose) are the roots every co-trustee's certificate must chain to,
// as the CLI's trust store (crypto/credentials _verify_signed).

import { get, post } from "../api.js";
import { b64decode, equalBytes, fromHex, toHex } from "../bytes.js";
import { electionFingerprint, parseManifest } from "../ballots.js";
import { canonicalJson, encodeParts, sha256 } from "../encoding.js";
import { trusteePolicy, verifyTrusteeSignature } from "../endorsements.js";
import { CertificateError, CryptoError } from "../errors.js";
import {
  consistencyProofFromJson,
  inclusionProofFromJson,
  leafHash,
  signedTreeHeadFromJson,
  verifyConsistency,
  verifyInclusion,
  verifyTreeHead,
} from "../merkle.js";
import { signRegistration } from "../credentials.js";
import * as th from "../threshold.js";
import { verifyChain } from "../x509.js";

export const ANNOUNCEMENT_SIGNATURE_TAG = "votingpilot/v1/announcement-signature";
const ENDORSEMENT_TAG = "votingpilot/v1/joint-key-endorsement";

/** The page will not act on what the server showed: `reason` names a catalogue key (trustee.refusal.<reason>). */
export class TrusteeRefusal extends Error {
  constructor(reason, detail, params = {}) {
    super(detail);
    this.name = "TrusteeRefusal";
    this.reason = reason;
    this.params = params;
  }
}

const base = (electionId) => `/api/elections/${encodeURIComponent(electionId)}`;

/** The newest head, signed by the pinned server key and extending the newest head seen (pinned_head). */
export async function pinnedHead(electionId, state) {
  if (!state.server_key) state.server_key = (await get("/api/server-key", { auth: false })).server_key;
  const serverKey = fromHex(state.server_key, 32);
  const doc = await get(`${base(electionId)}/board/head`, { auth: false });
  const flat = Object.fromEntries(Object.entries(doc).filter(([k]) => k !== "server_key"));
  let sth;
  try {
    sth = signedTreeHeadFromJson(flat);
    verifyTreeHead(serverKey, sth);
  } catch {
    throw new TrusteeRefusal("head_signature", "the board's tree head is not signed by the server key pinned in the trustee file");
  }
  if (sth.head.logId !== electionId) throw new TrusteeRefusal("other_board", `the server sent the board of ${sth.head.logId}`);
  if (state.seen_head) {
    const seen = signedTreeHeadFromJson(state.seen_head).head;
    if (sth.head.size < seen.size) {
      throw new TrusteeRefusal("shrank", `the board shrank from ${seen.size} to ${sth.head.size} entries`, { old: seen.size, new: sth.head.size });
    }
    if (sth.head.size > seen.size) {
      const reply = await get(`${base(electionId)}/board/consistency?old=${seen.size}&new=${sth.head.size}`, { auth: false });
      try {
        const proof = consistencyProofFromJson(reply.proof);
        if (proof.oldSize !== seen.size || proof.newSize !== sth.head.size) throw new Error("sizes");
        verifyConsistency(seen.size, sth.head.size, seen.root, sth.head.root, proof.path);
      } catch {
        throw new TrusteeRefusal("forked", "the board is not an extension of the board this trustee saw before");
      }
    } else if (!equalBytes(sth.head.root, seen.root)) {
      throw new TrusteeRefusal("forked", "the board changed without growing");
    }
  }
  state.seen_head = flat;
  return sth;
}

/** n, t, the trustees and this trustee's index from the election-created entry proven on the pinned board (ceremony_view). */
export async function ceremonyView(electionId, state, employeeId) {
  const sth = await pinnedHead(electionId, state);
  const reply = await get(`${base(electionId)}/board/inclusion?index=0&size=${sth.head.size}`, { auth: false });
  let entry;
  try {
    const leaf = typeof reply.entry === "string" ? new TextEncoder().encode(reply.entry) : canonicalJson(reply.entry);
    const proof = inclusionProofFromJson(reply.proof);
    if (proof.leafIndex !== 0 || proof.treeSize !== sth.head.size) throw new Error("proof");
    verifyInclusion(leafHash(leaf), 0, sth.head.size, proof.path, sth.head.root);
    entry = JSON.parse(new TextDecoder().decode(leaf));
  } catch {
    throw new TrusteeRefusal("not_on_board", "the election-created entry is not on the signed board");
  }
  const body = entry?.body;
  if (entry?.kind !== "election-created" || entry.index !== 0 || !body || typeof body !== "object") {
    throw new TrusteeRefusal("not_on_board", "the board's first entry is not the election-created entry");
  }
  let manifest, t;
  try {
    manifest = parseManifest(body.manifest);
    t = trusteePolicy(body);
  } catch (exc) {
    throw new TrusteeRefusal("policy", `the election's trustees or manifest break the policy: ${exc.message}`);
  }
  const ids = body.trustee_ids;
  const n = body.trustees;
  const fp = sha256(encodeParts("votingpilot/v1/ceremony-fingerprint", manifest.canonical, n, t));
  if (body.ceremony_fingerprint !== toHex(fp) || manifest.electionId !== electionId) {
    throw new TrusteeRefusal("fingerprint", "the election-created entry's ceremony fingerprint does not recompute");
  }
  if (!ids.includes(employeeId)) throw new TrusteeRefusal("not_trustee", `${employeeId} is not among the trustees the board names`);
  return { params: th.ceremonyParameters(n, t, fp), manifest, trusteeIds: ids, index: ids.indexOf(employeeId) + 1, boardSize: sth.head.size };
}

function canonicalText(doc) {
  try {
    return new TextDecoder().decode(canonicalJson(doc));
  } catch {
    return null;
  }
}

const sameParameters = (doc, params) => canonicalText(doc) === canonicalText(th.parametersToJson(params));

/** The pinned roots (DER); without them the ceremony does not go on. */
export function trustAnchors(state) {
  const anchors = state.trust_anchors;
  if (!Array.isArray(anchors) || !anchors.length) throw new TrusteeRefusal("no_root", "the trustee file has no pinned root certificate");
  return anchors.map((a) => b64decode(a));
}

/**
 * One announcement per trustee 1..n, each signed by the trustee the board names
 * there with a certificate that chains to the pinned `roots` now, each with
 * valid proofs (signed_announcements with the client's trust store).
 */
export async function signedAnnouncements(view, docs, roots) {
  const indices = Array.isArray(docs) ? docs.filter((d) => d && typeof d === "object").map((d) => d.index).sort((a, b) => a - b) : [];
  if (indices.join(",") !== Array.from({ length: view.params.n }, (_, k) => k + 1).join(",")) {
    throw new TrusteeRefusal("announcement_set", `the server did not relay exactly one announcement for each of trustees 1..${view.params.n}`);
  }
  const announcements = [];
  for (const doc of [...docs].sort((a, b) => a.index - b.index)) {
    const body = Object.fromEntries(Object.entries(doc).filter(([k]) => k !== "signature"));
    const employeeId = view.trusteeIds[doc.index - 1];
    try {
      const message = encodeParts(ANNOUNCEMENT_SIGNATURE_TAG, view.manifest.electionId, canonicalJson(body));
      await verifyTrusteeSignature(doc.signature, { message, employeeId });
      await verifyChain(doc.signature.chain.map((c) => b64decode(c)), roots, { now: new Date(), employeeId });
      announcements.push(th.announcementFromJson(body));
    } catch (exc) {
      if (!(exc instanceof CryptoError)) throw exc;
      if (exc instanceof CertificateError) {
        throw new TrusteeRefusal("announcement_untrusted", `trustee ${doc.index} (${employeeId})'s certificate is not trusted: ${exc.message}`, {
          index: doc.index,
          id: employeeId,
        });
      }
      throw new TrusteeRefusal("announcement_signature", `the announcement of trustee ${doc.index} (${employeeId}) is not theirs: ${exc.message}`, {
        index: doc.index,
        id: employeeId,
      });
    }
  }
  try {
    th.verifyAnnouncements(view.params, announcements);
  } catch (exc) {
    if (!(exc instanceof CryptoError)) throw exc;
    throw new TrusteeRefusal("announcement_invalid", `an announcement does not verify: ${exc.message}`);
  }
  return announcements;
}

export function announcementsDigest(announcements) {
  return toHex(sha256(canonicalJson(announcements.map(th.announcementToJson))));
}

/** The certificate key's signature in the endorsement's form {chain, signature} (crypto/credentials _signed). */
async function signed(credential, message) {
  return { chain: credential.chain, signature: toHex(await signRegistration(credential, message)) };
}

async function announce(credential, view, announcement) {
  const doc = th.announcementToJson(announcement);
  const message = encodeParts(ANNOUNCEMENT_SIGNATURE_TAG, view.manifest.electionId, canonicalJson(doc));
  await post(`${base(view.manifest.electionId)}/ceremony/announcement`, { announcement: doc, signature: await signed(credential, message) });
}

/** The public share and the endorsement of the joint key this trustee computes itself (_confirmation). */
async function confirmation(credential, view, key, info, state) {
  const announcements = await signedAnnouncements(view, info.announcements, trustAnchors(state));
  if (state.announcements !== undefined && state.announcements !== announcementsDigest(announcements)) {
    throw new TrusteeRefusal("announcements_changed", "the server now relays other announcements than those this trustee made its shares for");
  }
  const joint = th.jointPublicKey(announcements);
  if (!th.publicShare(announcements, view.index).equals(key.publicShare)) {
    throw new TrusteeRefusal("announcements_changed", "the announcements the server relays now differ from those this trustee's key came from");
  }
  const fingerprint = electionFingerprint(view.manifest, joint);
  const message = encodeParts(ENDORSEMENT_TAG, view.manifest.electionId, joint.toBytes(), fingerprint);
  return { public_share: key.publicShare.hex(), endorsement: await signed(credential, message) };
}

/**
 * Advance this trustee's part as far as it can go now (trustee_ceremony_step).
 * Returns {step, view, info}: step is "not_started", "declined", "announced",
 * "waiting_for_announcements", "shares_sent", "waiting_for_shares", "confirmed"
 * or "ended" (the ceremony is over and this file holds no key).
 * `confirm(view)` is asked once, before anything leaves the browser.
 */
export async function ceremonyStep({ electionId, credential, state, confirm, save }) {
  trustAnchors(state); // no step without the pinned root
  const info = await get(`${base(electionId)}/ceremony`);
  if (info.status === "draft") return { step: "not_started", info };
  const view = await ceremonyView(electionId, state, credential.employeeId);
  if (info.index !== view.index || !sameParameters(info.parameters, view.params)) {
    throw new TrusteeRefusal("reply_differs", "the server's ceremony differs from the signed election-created entry", {
      index: view.index,
      n: view.params.n,
      t: view.params.t,
    });
  }
  const params = view.params;
  const result = (step) => ({ step, view, info });
  if (!state.secrets && !state.key) {
    if (info.status !== "key_ceremony") return result("ended");
    if (!(await confirm(view))) return result("declined");
    const { secrets, announcement } = th.startCeremony(params, view.index);
    Object.assign(state, { election_id: electionId, secrets: th.secretsToJson(secrets) });
    await save("secrets"); // save before publishing
    await announce(credential, view, announcement);
    return result("announced");
  }
  if (state.key) {
    if (info.joint_key === null) {
      const key = th.keyFromJson(state.key);
      await post(`${base(electionId)}/ceremony/confirm`, await confirmation(credential, view, key, info, state));
    }
    return result("confirmed");
  }
  const secrets = th.secretsFromJson(state.secrets);
  if (!info.announcements.some((a) => a.index === secrets.index)) {
    // saved, but the announcement never reached the server: send it again
    await announce(credential, view, th.makeAnnouncement(params, secrets));
    return result("announced");
  }
  if (info.announcements.length < params.n) return result("waiting_for_announcements");
  const announcements = await signedAnnouncements(view, info.announcements, trustAnchors(state));
  const digest = announcementsDigest(announcements);
  if (state.announcements === undefined) {
    state.announcements = digest;
    await save("announcements"); // pinned before any share is made
  } else if (state.announcements !== digest) {
    throw new TrusteeRefusal("announcements_changed", "the server now relays other announcements than those this trustee made its shares for");
  }
  if (info.shares_sent === 0) {
    const shares = th.makeShares(params, secrets, announcements);
    await post(`${base(electionId)}/ceremony/shares`, shares.map(th.shareToJson));
    return result("shares_sent");
  }
  if (info.shares_for_me.length < params.n - 1) return result("waiting_for_shares");
  let key;
  try {
    key = th.finishCeremony(params, secrets, announcements, info.shares_for_me.map(th.shareFromJson));
  } catch (exc) {
    if (!(exc instanceof CryptoError)) throw exc;
    throw new TrusteeRefusal("bad_share", `a key share does not check out: ${exc.message}`, { index: exc.sender ?? "?" });
  }
  delete state.secrets;
  state.key = th.keyToJson(key);
  await save("key");
  await post(`${base(electionId)}/ceremony/confirm`, await confirmation(credential, view, key, info, state));
  return result("confirmed");
}
