// Creating an election: the form becomes a manifest (texts in Japanese and
// English, limits, schedule in Japan time, re-vote policy, the witnesses and
// their quorum) with its trustees.
import { ApiError, hasRole, post, requireLogin } from "../api.js";
import { $, $$, busy, clone, ready, say } from "../dom.js";
import { errorText, lang, t } from "../i18n.js";
import { WitnessEntriesError, witnessError, witnessesMember } from "../witness_entries.js";

const form = $("#create-form");
const questionsBox = $("#questions");
const error = $("#create-error");
let serial = 0;

// --- the witnesses (docs/parts/witness.md) ------------------------------------------------

const witnessFields = {
  entries: { input: $("#witnesses"), error: $("#witnesses-error"), hints: ["witnesses-hint"] },
  quorum: { input: $("#witness-quorum"), error: $("#witness-quorum-error"), hints: ["witness-quorum-hint"] },
};
const witnessSummary = $("#witnesses-summary");
const noWitnesses = $("#witnesses-none");
const quorumLow = $("#witness-quorum-low");

/** Show `message` under one witness field (or clear it), tied to the field by aria-describedby. */
function markWitnessField(name, message) {
  const { input, error, hints } = witnessFields[name];
  error.textContent = message || "";
  error.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  const extra = name === "entries" ? [noWitnesses, witnessSummary] : [quorumLow];
  const shown = extra.filter((element) => !element.hidden).map((element) => element.id);
  input.setAttribute("aria-describedby", [...hints, ...(message ? [error.id] : []), ...shown].join(" "));
}

function showWitnessError(exc) {
  const other = exc.field === "quorum" ? "entries" : "quorum";
  markWitnessField(other, "");
  // The parser's own reason (witness_err_other) is English: a Japanese page says it in general words.
  const key = exc.key === "create.witness_err_other" && lang() !== "en" ? "create.witness_err_unexplained" : exc.key;
  markWitnessField(exc.field, t(key, exc.params));
}

let witnessCount = 0;

/**
 * The manifest's `witnesses` member from the two fields, or null for none,
 * with the note (no witnesses), the summary (who, and how many must cosign)
 * and any mistake next to its field; `quiet`: a mistake is not shown (yet).
 * Throws WitnessEntriesError.
 */
function readWitnesses(quiet = false) {
  const { entries, quorum } = witnessFields;
  noWitnesses.hidden = entries.input.value.trim() !== "";
  witnessSummary.hidden = true;
  quorumLow.hidden = true;
  let member;
  try {
    // A number field holding something that is not a number reads as "", which would be "all of them".
    const quorumText = quorum.input.validity.badInput ? "?" : quorum.input.value;
    member = witnessesMember(entries.input.value, quorumText);
  } catch (exc) {
    if (exc instanceof WitnessEntriesError) {
      if (quiet) markWitnessField("entries", ""); // nothing shown yet: only the note's place in aria-describedby
      else showWitnessError(exc);
    }
    throw exc;
  }
  witnessCount = member ? member.members.length : 0;
  quorum.input.placeholder = member ? String(witnessCount) : "";
  if (member) {
    const names = member.members.map((w) => t("create.witness_named", { name: w.name, digits: w.public_key.slice(0, 8) }));
    say(witnessSummary, t("create.witnesses_summary", { count: witnessCount, names: names.join(t("ballot.list_separator")), quorum: member.quorum }));
    if (2 * member.quorum <= witnessCount) say(quorumLow, t("create.witness_quorum_low", { quorum: member.quorum, count: witnessCount }));
  }
  markWitnessField("entries", "");
  markWitnessField("quorum", "");
  return member;
}

/** As the administrator types, a mistake is shown once pasted or once the field is left;
 * one already shown goes as soon as it is put right. */
function rereadWitnesses(event) {
  const shown = Object.values(witnessFields).some(({ error }) => !error.hidden);
  const quiet = event.type === "input" && event.inputType !== "insertFromPaste" && !shown;
  try {
    readWitnesses(quiet);
  } catch (exc) {
    if (!(exc instanceof WitnessEntriesError)) throw exc;
  }
}

for (const { input } of Object.values(witnessFields)) {
  input.addEventListener("input", rereadWitnesses);
  input.addEventListener("change", rereadWitnesses);
}

function label(row, name, text, id) {
  const input = row.querySelector(`[data-name="${name}"]`);
  const lab = row.querySelector(`[data-for="${name}"]`);
  input.id = id;
  lab.htmlFor = id;
  if (text) lab.textContent = text;
  return input;
}

function renumber() {
  $$(".question-editor", questionsBox).forEach((fieldset, q) => {
    fieldset.querySelector(".question-legend").textContent = t("create.question_n", { n: q + 1 });
    $$(".option-editor", fieldset).forEach((item, o) => {
      item.querySelector('[data-for="label-ja"]').textContent = t("create.option_ja", { n: o + 1 });
      item.querySelector('[data-for="label-en"]').textContent = t("create.option_en", { n: o + 1 });
      item.querySelector(".remove-option").textContent = t("create.remove_option", { n: o + 1 });
    });
  });
}

function addOption(fieldset, focus = false) {
  const item = clone("option-template");
  const id = `o${++serial}`;
  label(item, "label-ja", "", `${id}-ja`);
  label(item, "label-en", "", `${id}-en`);
  item.querySelector(".remove-option").addEventListener("click", () => {
    if ($$(".option-editor", fieldset).length > 1) item.remove();
    renumber();
  });
  $(".option-editors", fieldset).append(item);
  renumber();
  if (focus) item.querySelector("input").focus();
}

function addQuestion(focus = false) {
  const fieldset = clone("question-template");
  const id = `q${++serial}`;
  for (const name of ["text-ja", "text-en", "min", "max"]) label(fieldset, name, "", `${id}-${name}`);
  fieldset.querySelector(".add-option").addEventListener("click", () => addOption(fieldset, true));
  fieldset.querySelector(".remove-question").addEventListener("click", () => {
    if ($$(".question-editor", questionsBox).length > 1) fieldset.remove();
    renumber();
  });
  questionsBox.append(fieldset);
  addOption(fieldset);
  addOption(fieldset);
  if (focus) fieldset.querySelector("input").focus();
}

/** "2026-12-01T09:00" (a datetime-local value, Japan time) -> ISO 8601 with +09:00. */
function japanTime(value) {
  return value ? `${value.length === 16 ? value + ":00" : value}+09:00` : null;
}

function text(ja, en) {
  return { ja: ja.trim(), en: en.trim() };
}

function buildBody() {
  const value = (id) => $(`#${id}`).value;
  const manifest = {
    election_id: value("election-id").trim(),
    title: text(value("title-ja"), value("title-en")),
    revote_policy: $('input[name="revote"]:checked').value,
    questions: $$(".question-editor", questionsBox).map((fieldset, q) => {
      const field = (name) => fieldset.querySelector(`[data-name="${name}"]`).value;
      return {
        id: `q${q + 1}`,
        text: text(field("text-ja"), field("text-en")),
        min_selections: Number(field("min")),
        max_selections: Number(field("max")),
        options: $$(".option-editor", fieldset).map((item, o) => ({
          id: `q${q + 1}-o${o + 1}`,
          label: text(item.querySelector('[data-name="label-ja"]').value, item.querySelector('[data-name="label-en"]').value),
        })),
      };
    }),
  };
  if (value("description-ja").trim() || value("description-en").trim()) {
    manifest.description = text(value("description-ja"), value("description-en"));
  }
  const opens = japanTime(value("opens-at"));
  const closes = japanTime(value("closes-at"));
  if (opens || closes) {
    manifest.schedule = {};
    if (opens) manifest.schedule.opens_at = opens;
    if (closes) manifest.schedule.closes_at = closes;
  }
  const witnesses = readWitnesses();
  if (witnesses) manifest.witnesses = witnesses;
  const trustees = value("trustees").split(/[\s,、]+/).filter(Boolean);
  return { manifest, trustees, threshold: Number(value("threshold")) };
}

// --- every other field: a mistake in words under the field, not a red border only ----------

/** The fields the browser checks (the witnesses' two have their own messages, readWitnesses). */
const checkedFields = () => $$("input, textarea", form).filter((input) => !input.closest("#witnesses-fieldset"));

/** Show `message` under `input` (or clear it), tied by aria-invalid and aria-describedby. */
function markField(input, message) {
  if (input.dataset.hints === undefined) input.dataset.hints = input.getAttribute("aria-describedby") || "";
  const id = `${input.id}-error`;
  let note = document.getElementById(id);
  if (!note && message) {
    note = document.createElement("p");
    note.className = "field-error";
    note.id = id;
    input.after(note);
  }
  if (note) say(note, message);
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  const describedBy = [input.dataset.hints, message ? id : ""].filter(Boolean).join(" ");
  if (describedBy) input.setAttribute("aria-describedby", describedBy);
  else input.removeAttribute("aria-describedby");
}

/** What is wrong with a field, in words (from the browser's own validity checks). */
function fieldMistake(input) {
  const v = input.validity;
  if (v.valueMissing) return t("create.err.required");
  if (v.badInput) return t("create.err.number");
  if (v.patternMismatch) return t("create.err.id_pattern");
  if (v.rangeUnderflow || v.rangeOverflow || v.stepMismatch) return t("create.err.range", { min: input.min, max: input.max });
  if (v.tooLong) return t("create.err.too_long", { max: input.maxLength });
  return t("create.err.required");
}

// A mistake shown goes as soon as the field is put right.
form.addEventListener("input", (event) => {
  const input = event.target;
  if (input.getAttribute("aria-invalid") === "true" && !input.closest("#witnesses-fieldset") && input.checkValidity()) markField(input, "");
});

/** The browser's own checks first: every required field, with a message next to it. */
function validate() {
  const fields = checkedFields();
  for (const input of fields) markField(input, "");
  const bad = fields.filter((input) => !input.checkValidity());
  for (const input of bad) markField(input, fieldMistake(input));
  if (bad.length) {
    bad[0].focus();
    say(error, t("create.fix_fields", { n: bad.length }));
    return false;
  }
  try {
    readWitnesses();
  } catch (exc) {
    if (!(exc instanceof WitnessEntriesError)) throw exc;
    witnessFields[exc.field].input.focus();
    say(error, t("create.fix_witnesses"));
    return false;
  }
  for (const fieldset of $$(".question-editor", questionsBox)) {
    const min = Number(fieldset.querySelector('[data-name="min"]').value);
    const max = Number(fieldset.querySelector('[data-name="max"]').value);
    const options = $$(".option-editor", fieldset).length;
    if (!(min <= max && max <= options && max >= 1)) {
      const input = fieldset.querySelector('[data-name="max"]');
      const message = t("create.bad_limits", { question: fieldset.querySelector(".question-legend").textContent, options });
      markField(input, message);
      input.focus();
      say(error, message);
      return false;
    }
  }
  return true;
}

$("#add-question").addEventListener("click", () => addQuestion(true));
addQuestion();

form.addEventListener("submit", (event) => {
  event.preventDefault();
  say(error, "");
  if (!validate()) return;
  busy($("#create-button"), async () => {
    try {
      const body = buildBody();
      const created = await post("/api/elections/", body);
      location.assign(`/admin/${encodeURIComponent(created.election_id)}`);
    } catch (exc) {
      if (!(exc instanceof ApiError)) {
        say(error, errorText(exc)); // in a Japanese page, never the exception's English text
      } else if (exc.code === "invalid_manifest" && exc.detail) {
        // The server's own checks (crypto/witness.py among them, and that no witness has the
        // server's key): its reason, in English only in an English page, and next to the
        // witnesses' field (in the catalogue's words) when about them.
        say(error, lang() === "en" ? t("create.server_refused", { reason: errorText(exc), detail: exc.detail }) : errorText(exc));
        const about = witnessError(exc.detail, witnessCount);
        if (about) {
          showWitnessError(about);
          witnessFields[about.field].input.focus();
        }
      } else if (exc.code === "election_exists") {
        markField($("#election-id"), errorText(exc));
        say(error, errorText(exc));
        $("#election-id").focus();
      } else {
        say(error, errorText(exc));
      }
    }
  });
});

if (requireLogin() && !hasRole("admin")) say(error, t("admin.not_admin"));
ready();
