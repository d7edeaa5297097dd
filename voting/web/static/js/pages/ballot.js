// The ballot page: choose (min/max enforced per question), encrypt in this
// browser, see the tracking code, then audit (Benaloh: the ballot and its
// opening are published on the board, never cast, and the voter checks them on
// another device) or cast (the voting credential signs the tracking code).
// The server never sees a plaintext vote.
//
// The voting credential (voting_credential.js): at the first encryption the
// PIN opens the credential file, whose decrypted key gives the credential
// secret; from it this election's Ed25519 voting credential is derived (the
// same on every device), registered once with the certificate key's signature
// (POST …/credential), and used as voter_id and to sign ballots. A session that
// logged in with the card in this computer (TLS client certificate) has no key
// here: the voting credential comes from a random secret this browser keeps
// (voting_secret.js, offered as a file to save), and the server attests its
// registration ({credential, attested: "client-certificate"}).
//
// Before the ballot is shown, the election key is taken from the board and
// checked (endorsements.js): the trustees follow the policy (2 <= t <= n), every
// trustee signed it, and it matches the fingerprint pinned in the link (#fp=…),
// if any; the rendered form must be the board's manifest. The voter sees the
// trustees' names, "t of n trustees", and the short fingerprint to compare with
// the election notice.
import { ApiError, cardSession, credentialFile, get, keepChoices, post, resending, session, takeChoices } from "../api.js";
import {
  encryptBallot,
  formatFingerprint,
  formatTrackingCode,
  shortCodeFromHex,
  trackingCode,
} from "../ballots.js";
import { fromHex, toHex } from "../bytes.js";
import { verifyAuditFile } from "../audits.js";
import { canonicalJsonText } from "../encoding.js";
import { verifyReceipt } from "../receipts.js";
import { openCredential, signRegistration } from "../credentials.js";
import { registrationMessage, signBallotWithCredential, votingCredential } from "../voting_credential.js";
import { $, $$, busy, jsonDownload, pageData, readFile, ready, say, show } from "../dom.js";
import { SecretFileError, keepSecret, keptSecret, newSecret, secretFile, secretFromFile } from "../voting_secret.js";
import { KeyRefusal, endorsedElection, pinnedFromUrl } from "../endorsements.js";
import { errorText, loc, t } from "../i18n.js";
import { sayLoginAgain } from "./common.js";

const { election_id: electionId, status: electionStatus } = pageData();
const base = `/api/elections/${encodeURIComponent(electionId)}`;
const statusBox = $("#ballot-status");
const errorBox = $("#ballot-error");
const form = $("#ballot-form");
const questions = $$("fieldset.question");
const BOARD_PAGE = 500;
const employeeId = session()?.employee_id;
const card = cardSession(); // no key in this page: the voting key comes from this browser's secret
let loadedSecret = null; // a saved voting key file the voter chose (card sessions)

let election = null; // {manifest, key, fingerprint, trustees, voting}: only once the key is verified
let prepared = null; // {ballot, opening, code, choices}
let credential = null; // the employee credential, opened with the PIN at the first encryption
const spoiled = new Set();

/** An error whose message is already the page's words (from the catalogue). */
class Told extends Error {}

/** The choices as they stand on the form: 0/1 per option, per question. */
const formChoices = () => questions.map((fieldset) => inputsOf(fieldset).map((i) => (i.checked ? 1 : 0)));

function fail(exc) {
  say(statusBox, "");
  if (exc instanceof ApiError && exc.status === 401) {
    // The session ended mid-vote: the choices wait in this tab for the re-login
    // (the PIN-opened key and any prepared ballot are dropped with the session).
    keepChoices(electionId, employeeId, formChoices());
    credential = null;
    prepared = null;
    if (election) election.voting = null;
    if (!card) show($("#pin-field"));
    return sayLoginAgain(errorBox, exc);
  }
  let text;
  if (exc instanceof ApiError) text = errorText(exc);
  else if (exc instanceof Told) text = exc.message;
  else text = t("ballot.error", { code: exc.code || exc.name || "error" }); // never a crypto error's English message
  say(errorBox, text);
}

/** Choices kept when the session ended (api.js), put back if they fit this form. */
function restoreChoices() {
  const kept = takeChoices(electionId, employeeId);
  const fits =
    Array.isArray(kept) &&
    kept.length === questions.length &&
    questions.every((fieldset, q) => {
      const row = kept[q];
      const count = Array.isArray(row) ? row.filter((v) => v === 1).length : -1;
      return (
        Array.isArray(row) &&
        row.length === inputsOf(fieldset).length &&
        row.every((v) => v === 0 || v === 1) &&
        count <= Number(fieldset.dataset.max) &&
        (inputsOf(fieldset)[0]?.type !== "radio" || count <= 1)
      );
    });
  if (!fits) return;
  questions.forEach((fieldset, q) => {
    inputsOf(fieldset).forEach((input, o) => {
      input.checked = kept[q][o] === 1;
    });
    updateCounter(fieldset);
  });
  say(statusBox, t("ballot.choices_restored"));
}

function showStep(id) {
  for (const step of ["step-choose", "step-review", "step-audit"]) show($(`#${step}`), step === id);
  const heading = $(`#${id} h2`);
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

// --- choosing ---------------------------------------------------------------------

function inputsOf(fieldset) {
  return $$("input", fieldset);
}

function updateCounter(fieldset) {
  const max = Number(fieldset.dataset.max);
  const inputs = inputsOf(fieldset);
  const count = inputs.filter((i) => i.checked).length;
  $(".counter", fieldset).textContent = t("ballot.count", { count, max });
  if (inputs[0]?.type === "checkbox") {
    // At the maximum, the remaining boxes are disabled: an over-vote cannot be made.
    for (const input of inputs) input.disabled = !input.checked && count >= max;
  }
  if (count >= Number(fieldset.dataset.min) && count <= max) markQuestion(fieldset, "");
}

function markQuestion(fieldset, message) {
  const error = $(".field-error", fieldset);
  error.textContent = message;
  error.hidden = !message;
  if (message) fieldset.setAttribute("aria-invalid", "true");
  else fieldset.removeAttribute("aria-invalid");
  fieldset.setAttribute("aria-describedby", [`${fieldset.querySelector(".hint").id}`, `${fieldset.querySelector(".counter").id}`, message ? error.id : ""].join(" ").trim());
}

function readChoices() {
  let firstBad = null;
  const rows = questions.map((fieldset) => {
    const inputs = inputsOf(fieldset);
    const row = inputs.map((i) => (i.checked ? 1 : 0));
    const count = row.reduce((a, b) => a + b, 0);
    const min = Number(fieldset.dataset.min);
    const max = Number(fieldset.dataset.max);
    if (count < min || count > max) {
      markQuestion(fieldset, min === max ? t("ballot.need_exactly", { n: min }) : t("ballot.need_between", { min, max }));
      firstBad = firstBad || fieldset;
    } else {
      markQuestion(fieldset, "");
    }
    return row;
  });
  if (firstBad) {
    inputsOf(firstBad).find((i) => !i.disabled)?.focus();
    return null;
  }
  return rows;
}

for (const fieldset of questions) {
  fieldset.addEventListener("change", () => {
    updateCounter(fieldset);
    if (!questions.some((q) => q.hasAttribute("aria-invalid"))) say(errorBox, "");
  });
  updateCounter(fieldset);
}

// --- the election key, from the board (never from the server's status reply) --------------

/** The board's entries from the first up to the first joint-key entry (or all of them). */
async function boardUntilJointKey() {
  const entries = [];
  for (;;) {
    const page = await get(`${base}/board/entries?start=${entries.length}&limit=${BOARD_PAGE}`, { auth: false });
    entries.push(...page.entries);
    if (page.entries.some((e) => e.kind === "joint-key") || !page.entries.length || entries.length >= page.size) return entries;
  }
}

/**
 * A manifest text as the HTML parser gives it back: CR and CRLF become LF, and
 * NUL is dropped from text or replaced (U+FFFD) in an attribute. An honest
 * server's page must not be refused over a text with these characters.
 */
const asParsed = (text, attribute = false) => text.replace(/\r\n?/g, "\n").replace(/\0/g, attribute ? "\uFFFD" : "");

/** A rendered text must be exactly `expected`, as plain text: no elements inside that could hide or add words. */
const plainText = (element, expected) => !!element && element.childElementCount === 0 && element.textContent === asParsed(expected);

/** The rule the template states under a question (ballot.html), from the manifest's limits. */
function ruleText(min, max) {
  if (min === max) return t("ballot.rule_exactly", { n: min });
  return min === 0 ? t("ballot.rule_up_to", { max }) : t("ballot.rule_between", { min, max });
}

/** A manifest text the template renders only when Python finds it true: not null, "" or {}. */
const present = (value) => !!value && !(typeof value === "object" && !Object.keys(value).length);

/**
 * The form the server rendered must be the manifest on the board, in the page's
 * language (the template renders that one only): the title, the description,
 * the re-vote policy, and each question's text, stated rule, limits, input type,
 * options (ids and labels, the visible <label> and the data-label the summary
 * and the audit table use). No accessible name may replace a rendered text.
 */
function checkForm(manifest) {
  const doc = manifest.document;
  const meta = $("main > p.meta");
  const next = meta?.nextElementSibling;
  const description = next?.tagName === "P" && !next.attributes.length ? next : null;
  const relabelled = (element) => element.hasAttribute("aria-label") || element.hasAttribute("aria-labelledby");
  const same =
    plainText($("main > h1"), loc(doc.title)) &&
    (present(doc.description) ? plainText(description, loc(doc.description)) : !description) &&
    !!meta && meta.textContent.split("·").pop().trim() === t(`revote.${doc.revote_policy}`) &&
    questions.length === manifest.questions.length &&
    questions.every((fieldset, q) => {
      const spec = manifest.questions[q];
      const { text, options } = doc.questions[q];
      const inputs = inputsOf(fieldset);
      const type = spec.minSelections === 1 && spec.maxSelections === 1 ? "radio" : "checkbox";
      return (
        !relabelled(fieldset) &&
        $$("legend", fieldset).length === 1 &&
        plainText($("legend", fieldset), `${q + 1}. ${loc(text)}`) &&
        $(".hint", fieldset)?.textContent.trim() === ruleText(spec.minSelections, spec.maxSelections) &&
        Number(fieldset.dataset.min) === spec.minSelections &&
        Number(fieldset.dataset.max) === spec.maxSelections &&
        inputs.length === spec.optionIds.length &&
        inputs.every((input, o) => {
          const label = loc(options[o].label);
          return (
            input.type === type &&
            input.value === spec.optionIds[o] &&
            input.dataset.label === asParsed(label, true) &&
            !relabelled(input) &&
            input.labels.length === 1 &&
            plainText(input.labels[0], label)
          );
        })
      );
    });
  if (!same) throw new KeyRefusal("form", {}, "the ballot form on this page is not the manifest on the board");
}

function showKey(checked, pins) {
  $("#fingerprint-short").textContent = formatFingerprint(checked.fingerprint);
  $("#fingerprint-full").textContent = toHex(checked.fingerprint);
  if (pins.length) say($("#fingerprint-pinned"), t("ballot.fingerprint_pinned", { fp: pins[0].display }));
  $("#trustees-lead").textContent = t("ballot.key_lead", { count: checked.trustees.length });
  const list = $("#trustee-list");
  let threshold = $("#trustee-threshold");
  if (!threshold) {
    threshold = document.createElement("p");
    threshold.id = "trustee-threshold";
    list.after(threshold);
  }
  threshold.textContent = t("ballot.key_threshold", { t: checked.threshold, n: checked.trustees.length });
  list.replaceChildren(
    ...checked.trustees.map((trustee) => {
      const item = document.createElement("li");
      item.textContent = t("ballot.trustee", { index: trustee.index, name: trustee.name, id: trustee.employeeId });
      return item;
    }),
  );
  show($("#election-key"));
}

/** No ballot without a verified key: the steps are removed, and the voter is told why and whom to tell. */
function refuse(exc) {
  for (const id of ["step-choose", "step-review", "step-audit", "election-key"]) $(`#${id}`)?.remove();
  say(statusBox, "");
  const reason = exc instanceof KeyRefusal ? t("ballot.key_reason." + exc.reason, exc.params) : exc instanceof ApiError ? errorText(exc) : "";
  say(errorBox, t("ballot.key_refused", { reason }));
  // Codes and values only: the English message of the check is not shown in a Japanese page.
  const params = Object.entries(exc.params || {}).map(([name, value]) => `${name}=${value}`);
  say($("#key-refusal-detail"), t("ballot.key_detail", { detail: [exc.reason || exc.code || exc.name, ...params].join(" ") }));
}

/** An employee not on the roll is told at once, and shown no ballot to fill. */
function notOnRoll() {
  for (const id of ["step-choose", "step-review", "step-audit", "election-key"]) $(`#${id}`)?.remove();
  say(statusBox, "");
  say(errorBox, t("ballot.not_on_roll"));
}

async function checkElectionKey() {
  say(statusBox, t("ballot.key_checking"));
  // Whether this employee is on the roll, asked alongside the board, before any ballot is shown.
  const onRoll = get(`${base}/voter`).then(
    () => true,
    (exc) => {
      if (exc instanceof ApiError && exc.code === "not_on_roll") return false;
      throw exc;
    },
  );
  onRoll.catch(() => {}); // handled below, after the key check
  let pins;
  try {
    pins = pinnedFromUrl(new URL(location.href));
    const checked = await endorsedElection(await boardUntilJointKey(), electionId, { pins });
    checkForm(checked.manifest);
    election = { ...checked, key: checked.key.precompute() };
  } catch (exc) {
    return refuse(exc);
  }
  try {
    if (!(await onRoll)) return notOnRoll();
  } catch (exc) {
    say(statusBox, "");
    if (exc instanceof ApiError && exc.status === 401) return sayLoginAgain(errorBox, exc);
    // Any other answer: the ballot is shown; encrypting asks again and says what fails.
  }
  showKey(election, pins);
  say(statusBox, "");
  show($("#step-choose"));
  restoreChoices();
}

/** Open the credential file with the PIN typed on the ballot form (once per page). Returns false when the PIN is missing or wrong. */
async function openWithPin() {
  if (credential || card) return true;
  const pinInput = $("#ballot-pin");
  pinInput.removeAttribute("aria-invalid");
  const file = credentialFile();
  if (!file) throw new ApiError(401, "not_logged_in", "log in first");
  if (!pinInput.value) {
    pinInput.setAttribute("aria-invalid", "true");
    pinInput.focus();
    say(errorBox, t("login.need_pin"));
    return false;
  }
  say(statusBox, t("ballot.opening_credential"));
  try {
    credential = await openCredential(file, pinInput.value);
  } catch {
    pinInput.setAttribute("aria-invalid", "true");
    pinInput.focus();
    say(statusBox, "");
    say(errorBox, t("login.wrong_pin"));
    return false;
  } finally {
    pinInput.value = "";
  }
  show($("#pin-field"), false);
  return true;
}

/**
 * This election's voting credential, derived from the credential secret and
 * registered with the certificate key's signature unless the server already
 * has it. A different credential registered for this employee (another
 * certificate) is refused: the voter is told which file to use.
 */
async function loadElection() {
  if (!election) throw new KeyRefusal("no_key", {}, "the election key has not been verified");
  if (!election.voting && card) {
    election.voting = await cardVotingCredential();
    $("#credential-short").textContent = election.voting.hex.slice(0, 16);
    show($("#credential-info"));
  }
  if (!election.voting) {
    const voting = votingCredential(credential.secret, electionId);
    const voter = await get(`${base}/voter`);
    if (voter.credential && voter.credential !== voting.hex) throw new Told(t("ballot.credential_other"));
    if (!voter.credential) {
      say(statusBox, t("ballot.registering"));
      const signature = await signRegistration(credential, registrationMessage(electionId, voting.publicBytes));
      const reply = await post(`${base}/credential`, { credential: voting.hex, signature: toHex(signature) });
      if (reply?.credential !== voting.hex) throw new Told(t("ballot.credential_other"));
    }
    election.voting = voting;
    $("#credential-short").textContent = voting.hex.slice(0, 16);
    show($("#credential-info"));
  }
  return election;
}

/**
 * A card session's voting credential: from the secret this browser keeps for
 * the employee and election, or the saved file the voter chose; a new random
 * secret (kept first, then registered) when none is registered yet. The server
 * attests the registration: the page has no key to sign it with.
 */
async function cardVotingCredential() {
  const voter = await get(`${base}/voter`);
  let kept = null;
  try {
    kept = await keptSecret(employeeId, electionId);
  } catch {
    kept = null; // no IndexedDB here: the saved file is the way
  }
  const gives = (secret) => !!secret && votingCredential(secret, electionId).hex === voter.credential;
  let secret;
  if (voter.credential) {
    secret = [loadedSecret, kept].find(gives);
    if (!secret) {
      show($("#secret-field"));
      throw new Told(t(loadedSecret || kept ? "ballot.secret_other" : "ballot.secret_needed"));
    }
  } else {
    secret = loadedSecret || kept || newSecret();
  }
  if (secret !== kept) {
    try {
      await keepSecret(employeeId, electionId, secret); // kept before it is registered
    } catch {
      // not kept: the file below is then the only copy
    }
  }
  const voting = votingCredential(secret, electionId);
  if (!voter.credential) {
    say(statusBox, t("ballot.registering"));
    const reply = await post(`${base}/credential`, { credential: voting.hex, attested: "client-certificate" });
    if (reply?.credential !== voting.hex) throw new Told(t("ballot.credential_other"));
  }
  show($("#secret-field"), false);
  jsonDownload($("#secret-download"), secretFile(employeeId, electionId, secret), `voting-key-${electionId}-${employeeId}.json`);
  show($("#secret-keep"));
  return voting;
}

$("#secret-file")?.addEventListener("change", async (event) => {
  say(errorBox, "");
  const input = event.currentTarget;
  input.removeAttribute("aria-invalid");
  try {
    loadedSecret = secretFromFile(JSON.parse((await readFile(input)) || "null"), employeeId, electionId);
    say(statusBox, t("ballot.secret_loaded"));
  } catch (exc) {
    loadedSecret = null;
    input.setAttribute("aria-invalid", "true");
    const reason = exc instanceof SecretFileError ? exc.reason : "not_secret_file";
    if (reason === "other_employee") say(errorBox, t("ballot.secret_other_employee"));
    else if (reason === "other_election") say(errorBox, t("ballot.secret_other_election"));
    else if (reason === "damaged") say(errorBox, t("ballot.secret_damaged"));
    else say(errorBox, t("ballot.secret_not_file"));
  }
});

function summarize(choices) {
  const list = $("#choice-summary");
  list.replaceChildren();
  questions.forEach((fieldset, q) => {
    const dt = document.createElement("dt");
    dt.textContent = fieldset.querySelector("legend").textContent;
    const dd = document.createElement("dd");
    const chosen = inputsOf(fieldset).filter((_, o) => choices[q][o]).map((i) => i.dataset.label);
    dd.textContent = chosen.length ? chosen.join(t("ballot.list_separator")) : t("ballot.none_chosen");
    list.append(dt, dd);
  });
}

form?.addEventListener("submit", (event) => {
  event.preventDefault();
  say(errorBox, "");
  const choices = readChoices();
  if (!choices) return say(errorBox, t("ballot.fix_choices"));
  busy($("#encrypt-button"), async () => {
    // The time shown is the voter's whole wait: opening the file, fetching the
    // election's voter record (and registering), and encrypting.
    const started = performance.now();
    try {
      if (!(await openWithPin())) return;
      const { manifest, key, fingerprint, voting } = await loadElection();
      say(statusBox, t("ballot.encrypting"));
      await new Promise((resolve) => setTimeout(resolve, 0)); // let the status be announced
      const { ballot, opening } = encryptBallot(manifest, key, fingerprint, voting.hex, choices);
      const code = trackingCode(fingerprint, ballot);
      prepared = { ballot, opening, code, choices, ms: performance.now() - started };
      $("#tracking-short").textContent = formatTrackingCode(code);
      $("#tracking-full").textContent = toHex(code);
      summarize(choices);
      say(statusBox, t("ballot.encrypted", { ms: Math.round(prepared.ms) }));
      showStep("step-review");
    } catch (exc) {
      fail(exc);
    }
  });
});

// --- auditing (Benaloh challenge) ------------------------------------------------------
//
// The ballot and its opening (the plaintexts and the randomness) are published
// on the board (POST …/audits, a `ballot-audited` entry), and that ballot can
// never be cast. This page does not judge the audit itself — a device that
// cheats would also say "passed" — it shows the tracking code, the choices made
// here, and the audit file to check on another device (the receipt check page),
// which reads the entry from the board and shows the choices it encrypts.

/**
 * The audit file offered for download is the server's reply: it must be the
 * file the check page accepts (signed by the server's key, exactly a receipt's
 * members, the entry included under its head) and its entry this very ballot
 * and opening; otherwise nothing is offered (a changed file would be answered
 * "not a receipt" or fail on the other device, and the voter would not know why).
 */
async function checkPublishedAudit(published, audited) {
  try {
    const serverKey = fromHex((await get("/api/server-key", { auth: false })).server_key, 32);
    verifyAuditFile(published, { serverKey });
    const body = published.entry.body;
    if (
      published.election_id !== electionId ||
      Object.keys(body).sort().join(",") !== "ballot,credential,opening,tracking_code" ||
      canonicalJsonText(body.ballot) !== canonicalJsonText(audited.ballot) ||
      canonicalJsonText(body.opening) !== canonicalJsonText(audited.opening)
    ) {
      throw new Told(t("ballot.audit_other_code"));
    }
  } catch (exc) {
    if (exc instanceof Told || exc instanceof ApiError) throw exc;
    throw new Told(t("ballot.audit_invalid"));
  }
}

$("#audit-button")?.addEventListener("click", (event) => {
  if (!prepared) return;
  busy(event.currentTarget, async () => {
    const audited = prepared;
    prepared = null; // its randomness is revealed: this ballot can never be cast
    spoiled.add(toHex(audited.code));
    say(errorBox, "");
    say(statusBox, t("ballot.audit_publishing"));
    try {
      const published = await post(`${base}/audits`, { ballot: audited.ballot, opening: audited.opening });
      const short = formatTrackingCode(audited.code);
      if (published?.tracking_code !== toHex(audited.code)) throw new Told(t("ballot.audit_other_code"));
      await checkPublishedAudit(published, audited);
      $("#audit-code").textContent = short;
      $("#audit-code-full").textContent = toHex(audited.code);
      const list = $("#audit-choices");
      list.replaceChildren(...$("#choice-summary").cloneNode(true).childNodes);
      jsonDownload($("#audit-download"), published, `audit-${electionId}-${short}.json`);
      say(statusBox, t("ballot.audit_published", { code: short }));
      showStep("step-audit");
    } catch (exc) {
      fail(exc);
    }
  });
});

$("#new-ballot-button")?.addEventListener("click", () => {
  say(statusBox, t("ballot.new_ready"));
  showStep("step-choose");
});

$("#back-button")?.addEventListener("click", () => {
  prepared = null;
  say(statusBox, "");
  showStep("step-choose");
});

// --- casting ------------------------------------------------------------------------------

$("#cast-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  say(errorBox, "");
  busy($("#cast-button"), async () => {
    try {
      if (!prepared || spoiled.has(toHex(prepared.code)) || !election?.voting) throw new Told(t("ballot.nothing_to_cast"));
      say(statusBox, t("ballot.signing"));
      const signature = signBallotWithCredential(election.voting, election.fingerprint, prepared.code);
      say(statusBox, t("ballot.sending"));
      // The very same ballot again if the outcome is unknown: recorded once, its receipt comes back.
      const body = { ballot: prepared.ballot, signature: toHex(signature) };
      // A resent ballot that a later one replaced comes back marked `superseded` (not part of
      // the signed receipt): the receipt page asks the board and says so.
      const { superseded: _replaced, ...receipt } = await resending(() => post(`${base}/ballots/`, body), { onRetry: () => say(statusBox, t("ballot.resending")) });
      const code = toHex(prepared.code);
      // The receipt must be for this very ballot: a server could drop it and
      // hand back another voter's receipt, which checks out on the board.
      verifyReceipt(receipt);
      if (
        receipt.election_id !== electionId ||
        receipt.tracking_code !== code ||
        canonicalJsonText(receipt.entry.body.ballot) !== canonicalJsonText(prepared.ballot)
      ) {
        throw new Told(t("ballot.receipt_mismatch", { code: shortCodeFromHex(code) }));
      }
      sessionStorage.setItem(`voting.receipt.${code}`, JSON.stringify(receipt));
      takeChoices(electionId, employeeId); // cast: no choices stay behind
      prepared = null;
      location.assign(`/vote/${encodeURIComponent(electionId)}/receipt?code=${code}`);
    } catch (exc) {
      fail(exc);
    }
  });
});

if (electionStatus !== "open") {
  ready();
} else if (!session()) {
  // To the login page and back, keeping a pinned fingerprint (#fp=…) in the address.
  location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search + location.hash)}`);
} else {
  if (card) show($("#pin-field"), false);
  checkElectionKey().then(ready);
}
