// The trustee page (/trustee/{id}): the key ceremony in the browser, with
// the CLI trustee client's checks (trustee_ceremony.js). The key share is made
// here and kept in the PIN-sealed trustee file (trustee_file.js) that the
// trustee saves — and chooses again, to prove it is saved — before anything
// that depends on it is sent. Nothing secret is sent to the server or kept in
// the browser's storage.
import { ApiError, cardSession, credentialFile, get, post, requireLogin } from "../api.js";
import { formatFingerprint, electionFingerprint } from "../ballots.js";
import { b64decode, b64encode, equalBytes } from "../bytes.js";
import { endorsedElection, KeyRefusal } from "../endorsements.js";
import { openCredential } from "../credentials.js";
import { $, jsonDownload, pageData, ready, say, show } from "../dom.js";
import { canonicalJson } from "../encoding.js";
import { errorText, t } from "../i18n.js";
import { Point } from "../group.js";
import { openTrusteeFile, sealTrusteeFile, TrusteeFileError } from "../trustee_file.js";
import { checkTrustAnchors, fingerprint as certificateFingerprint, rootsFromPem } from "../x509.js";
import { ceremonyStep, trustAnchors, TrusteeRefusal } from "./trustee_ceremony.js";
import { verifiedAggregate } from "./trustee_decrypt.js";
import { keyFromJson, partialDecrypt, partialToJson } from "../threshold.js";
import { REQUIRED_CHECKS } from "../record_verify.js";

const POLL_MS = 2000;
const { election_id: electionId } = pageData();
const status = $("#trustee-status");
const error = $("#trustee-error");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let credential = null;
let pin = null;
let state = null;
let pendingSave = null;
let pendingConfirm = null;
let chosenRoots = null; // DER of the root.pem chosen on this page (null: none, or unreadable)
let attestedShown = null; // the number of attested registrations shown for the trustee to accept (null: none shown)

function fail(message) {
  say(status, "");
  say(error, message);
  error.setAttribute("tabindex", "-1");
  error.focus();
}

/** SHA-256 as `openssl x509 -fingerprint -sha256` prints it (AB:CD:...), to compare with the notice. */
const rootFingerprints = (roots) => roots.map((der) => certificateFingerprint(der).toUpperCase().match(/../g).join(":")).join(", ");

async function readRoot() {
  const file = $("#root-file").files[0];
  const shown = $("#root-fingerprint");
  chosenRoots = null;
  say(shown, "");
  if (!file) return;
  try {
    const roots = rootsFromPem(await file.text());
    checkTrustAnchors(roots);
    chosenRoots = roots;
    say(shown, t("trustee.root_fingerprint", { fingerprint: rootFingerprints(roots) }));
  } catch {
    say(shown, t("trustee.root_unreadable"));
  }
}

/**
 * The roots the co-trustees' certificates must chain to: pinned in the trustee
 * file, or (first time) the root.pem chosen now, pinned into the state and so
 * saved with the first trustee file, before anything is sent. Returns a
 * catalogue key when the page must not go on.
 */
function pinRoots(continuing) {
  if (continuing) {
    if (!Array.isArray(state.trust_anchors) || !state.trust_anchors.length) return "trustee.root_not_pinned";
    const pinned = state.trust_anchors.map((a) => b64decode(a));
    if (chosenRoots && (chosenRoots.length !== pinned.length || chosenRoots.some((r, i) => !equalBytes(r, pinned[i])))) return "trustee.root_differs";
    return null;
  }
  if (!chosenRoots) return $("#root-file").files[0] ? "trustee.root_unreadable" : "trustee.root_needed";
  state.trust_anchors = chosenRoots.map(b64encode);
  return null;
}

function describe(exc) {
  if (exc instanceof TrusteeRefusal) return `${t(`trustee.refusal.${exc.reason}`, exc.params)} ${t("trustee.refusal_tell")}`;
  if (exc instanceof TrusteeFileError) return t(exc.message.startsWith("wrong PIN") ? "trustee.file_wrong_pin" : "trustee.file_invalid");
  if (exc instanceof ApiError) return errorText(exc);
  return t("trustee.unexpected");
}

// --- saving the trustee file: download, then choose the saved file again ----------------

async function save(reason) {
  const doc = await sealTrusteeFile(state, pin, { electionId, employeeId: credential.employeeId });
  jsonDownload($("#save-link"), doc, `trustee-${electionId}.json`);
  $("#save-reason").textContent = t(`trustee.save_reason_${reason}`);
  $("#saved-file").value = "";
  show($("#save-panel"));
  say(status, t("trustee.status_save"));
  $("#save-panel").focus();
  await new Promise((resolve) => {
    pendingSave = { doc, resolve };
  });
  show($("#save-panel"), false);
}

async function checkSaved() {
  if (!pendingSave) return;
  say(error, "");
  const file = $("#saved-file").files[0];
  let same = false;
  try {
    same = file && new TextDecoder().decode(canonicalJson(JSON.parse(await file.text()))) === new TextDecoder().decode(canonicalJson(pendingSave.doc));
  } catch {
    same = false;
  }
  if (!same) {
    fail(t("trustee.saved_mismatch"));
    return;
  }
  const { resolve } = pendingSave;
  pendingSave = null;
  say(status, t("trustee.saved_ok"));
  resolve();
}

// --- the parameters from the signed board, for the trustee's confirmation -----------

function confirm(view) {
  $("#confirm-threshold").textContent = t("trustee.confirm_threshold", { t: view.params.t, n: view.params.n });
  $("#confirm-index").textContent = t("trustee.confirm_index", { index: view.index, id: credential.employeeId });
  $("#confirm-root").textContent = t("trustee.confirm_root", { fingerprint: rootFingerprints(trustAnchors(state)) });
  const list = $("#co-trustees");
  list.replaceChildren();
  view.trusteeIds.forEach((id, i) => {
    if (i + 1 === view.index) return;
    const item = document.createElement("li");
    item.textContent = t("trustee.co_trustee", { index: i + 1, id });
    list.append(item);
  });
  const witnesses = $("#witness-list");
  witnesses.replaceChildren();
  const policy = view.manifest.witnesses;
  const lines = policy.witnesses.length
    ? [t("trustee.witness_quorum", { quorum: policy.quorum, count: policy.witnesses.length }), ...policy.witnesses.map((w) => t("trustee.witness", { name: w.name, key: w.publicKeyHex.slice(0, 16) }))]
    : [t("trustee.no_witnesses")];
  for (const line of lines) {
    const item = document.createElement("li");
    item.textContent = line;
    witnesses.append(item);
  }
  show($("#confirm-panel"));
  say(status, t("trustee.status_confirm"));
  $("#confirm-panel").focus();
  return new Promise((resolve) => {
    pendingConfirm = resolve;
  });
}

function answer(accepted) {
  if (!pendingConfirm) return;
  const resolve = pendingConfirm;
  pendingConfirm = null;
  show($("#confirm-panel"), false);
  resolve(accepted);
}

// --- the ceremony, step by step ---------------------------------------------------------

function technical(result) {
  $("#tech-server-key").textContent = state.server_key || "—";
  $("#tech-root").textContent = rootFingerprints(trustAnchors(state));
  if (result.view) $("#tech-board-size").textContent = String(result.view.boardSize);
}

/** The board's entries up to the first joint-key entry (as the ballot page reads them). */
async function boardUntilJointKey() {
  const entries = [];
  for (;;) {
    const page = await get(`/api/elections/${encodeURIComponent(electionId)}/board/entries?start=${entries.length}&limit=100`, { auth: false });
    entries.push(...page.entries);
    if (page.entries.some((e) => e.kind === "joint-key") || !page.entries.length || entries.length >= page.size) return entries;
  }
}

async function finished(view) {
  let info = await get(`/api/elections/${encodeURIComponent(electionId)}/ceremony`);
  while (info.joint_key === null) {
    say(status, t("trustee.status_waiting_confirmations"));
    await sleep(POLL_MS);
    info = await get(`/api/elections/${encodeURIComponent(electionId)}/ceremony`);
  }
  // The key this trustee computed and endorsed is the one the server publishes.
  const joint = Point.fromHex(info.joint_key);
  const own = Point.fromHex(state.key.joint_public_key);
  if (!joint.equals(own)) throw new TrusteeRefusal("joint_key_differs", "the server publishes another joint key than this trustee's");
  // Every trustee endorsed that key, with a certificate chaining to the pinned root.
  try {
    const endorsed = await endorsedElection(await boardUntilJointKey(), electionId, { roots: trustAnchors(state) });
    if (!endorsed.key.equals(own)) throw new KeyRefusal("key", {}, "the board's joint key is not this trustee's");
  } catch (exc) {
    if (!(exc instanceof KeyRefusal)) throw exc;
    throw new TrusteeRefusal("joint_key_differs", `the board's joint key is not endorsed by every trustee: ${exc.message}`);
  }
  $("#tech-joint-key").textContent = info.joint_key;
  const fingerprint = formatFingerprint(electionFingerprint(view.manifest, own));
  $("#done-text").textContent = t("trustee.done_text");
  const fp = $("#done-fingerprint");
  fp.textContent = t("trustee.done_fingerprint", { fingerprint });
  show(fp);
  say(status, t("trustee.status_published"));
  show($("#done-panel"));
  $("#done-panel").focus();
  offerDecryption();
}

// --- the partial decryption (trustee_decrypt.js makes the CLI's checks) -------------------

function offerDecryption() {
  const button = $("#decrypt-button");
  button.textContent = t(state.partial_decryption ? "trustee.decrypt_resend" : "trustee.decrypt_button");
  show(button);
  button.disabled = false;
}

const PROGRESS_KEYS = { download: "download", "tree heads": "heads", "ballot proofs": "ballots", registrations: "registrations", witnesses: "witnesses" };

function progress(stage, done, total) {
  show($("#decrypt-progress-box"));
  $("#decrypt-progress-label").textContent = t(`trustee.progress.${PROGRESS_KEYS[stage] || stage}`, { done, total });
  const bar = $("#decrypt-progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
}

/** Each required check, in plain words, with its verdict. */
function showChecks(failed) {
  const list = $("#decrypt-checks");
  list.replaceChildren();
  for (const number of REQUIRED_CHECKS) {
    const item = document.createElement("li");
    const ok = !failed.some(([n]) => n === number);
    item.textContent = t(ok ? "trustee.decrypt_check_pass" : "trustee.decrypt_check_fail", { title: t(`trustee.record_check.${number}`) });
    list.append(item);
  }
  show($("#decrypt-checks-box"));
}

/**
 * Registrations attested by a TLS client certificate login rest on the
 * server's word: their number is shown with a box the trustee ticks to accept
 * exactly that number; decrypting again then passes it to the checks.
 */
function showAttested(count) {
  attestedShown = count;
  $("#attested-text").textContent = t("trustee.attested_text", { count });
  $("#attested-accept-label").textContent = t("trustee.attested_accept", { count });
  $("#attested-accept").checked = false;
  show($("#attested-box"));
}

const acceptedAttested = () => (attestedShown !== null && $("#attested-accept").checked ? attestedShown : null);

async function decrypt() {
  const button = $("#decrypt-button");
  const result = $("#decrypt-result");
  button.disabled = true;
  say(error, "");
  show(result, false);
  try {
    if (!state.partial_decryption) {
      const checked = await verifiedAggregate(electionId, state, { progress, acceptAttested: acceptedAttested() });
      show($("#attested-box"), false);
      showChecks([]);
      progress("decrypting", 0, 1);
      const partial = partialDecrypt(keyFromJson(state.key), checked.ciphertexts, { fingerprint: checked.fingerprint });
      state.partial_decryption = partialToJson(partial);
      state.ballots_counted = checked.ballotsCounted;
      show($("#decrypt-progress-box"), false);
      await save("partial"); // saved before it is sent: a re-run sends this one again
    }
    progress("sending", 0, 1);
    await post(`/api/elections/${encodeURIComponent(electionId)}/partial-decryptions`, state.partial_decryption);
    show($("#decrypt-progress-box"), false);
    say(status, "");
    result.textContent = t("trustee.decrypt_done", { count: state.ballots_counted ?? "?" });
    show(result);
    result.focus();
  } catch (exc) {
    show($("#decrypt-progress-box"), false);
    if (exc instanceof TrusteeRefusal && exc.params.failed) showChecks(exc.params.failed);
    if (exc instanceof TrusteeRefusal && exc.reason === "attested_not_accepted") showAttested(exc.params.count);
    fail(describe(exc));
    offerDecryption();
  }
}

async function run() {
  for (;;) {
    const result = await ceremonyStep({ electionId, credential, state, confirm, save });
    technical(result);
    say(status, t(`trustee.step.${result.step}`));
    if (result.step === "announced" || result.step === "shares_sent") continue;
    if (result.step === "confirmed") return finished(result.view);
    if (result.step === "declined" || result.step === "ended") {
      fail(t(`trustee.step.${result.step}`));
      return undefined;
    }
    await sleep(POLL_MS);
  }
}

async function unlock() {
  say(error, "");
  const file = credentialFile();
  if (!file) {
    // A login with the card in this computer has no key here to sign the trustee's steps with.
    if (cardSession()) return say(error, t("trustee.card_session"));
    requireLogin();
    return;
  }
  const button = $("#unlock-button");
  button.disabled = true;
  try {
    pin = $("#pin").value;
    try {
      credential = await openCredential(file, pin);
    } catch {
      throw new TrusteeFileError("wrong PIN");
    }
    state = {};
    const chosen = $("#trustee-file").files[0];
    await readRoot();
    if (chosen) {
      let doc;
      try {
        doc = JSON.parse(await chosen.text());
      } catch {
        throw new TrusteeFileError("not a trustee file");
      }
      const opened = await openTrusteeFile(doc, pin);
      if (opened.electionId !== electionId || opened.employeeId !== credential.employeeId) {
        fail(t("trustee.file_other", { election: opened.electionId, id: opened.employeeId }));
        button.disabled = false;
        return;
      }
      state = opened.state;
    }
    const refused = pinRoots(Boolean(chosen));
    if (refused) {
      fail(t(refused));
      state = null;
      button.disabled = false;
      return;
    }
    $("#pin").value = "";
    show($("#unlock-panel"), false);
    say(status, t("trustee.status_checking"));
    status.setAttribute("tabindex", "-1");
    status.focus();
    await run();
  } catch (exc) {
    fail(describe(exc));
    if (!credential || !state) button.disabled = false;
  }
}

function main() {
  if (!requireLogin()) return;
  $("#unlock-form").addEventListener("submit", (event) => {
    event.preventDefault();
    unlock();
  });
  $("#saved-form").addEventListener("submit", (event) => {
    event.preventDefault();
    checkSaved();
  });
  $("#root-file").addEventListener("change", readRoot);
  $("#accept-button").addEventListener("click", () => answer(true));
  $("#decrypt-button").addEventListener("click", decrypt);
  $("#decline-button").addEventListener("click", () => answer(false));
}

main();
ready();
