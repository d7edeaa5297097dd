// Managing one election: the voter roll (a preview with the per-line error
// report before anything is imported, and removal of single voters until voting
// opens), the lifecycle actions, and the trustees' progress, refreshed every few
// seconds.
import { get, hasRole, post, requireLogin, api } from "../api.js";
import { $, $$, busy, confirmAction, focusResult, pageData, ready, say, show } from "../dom.js";
import { errorText, t } from "../i18n.js";

const { election_id: electionId, steps, schedule } = pageData();
const base = `/api/elections/${encodeURIComponent(electionId)}`;
const statusBox = $("#manage-status");
const errorBox = $("#manage-error");
const REFRESH_MS = 4000;
/** The actions that cannot be undone: each asks first (manage.confirm.<action>.*). */
const IRREVERSIBLE = new Set(["close", "tally", "publish"]);
/** Voting is over in these states: the schedule is a past fact. */
const ENDED = new Set(["closed", "tallied", "published"]);

/**
 * Where the election stands, as far as a status banner is concerned: a banner
 * ("the ceremony has started", "voting is closed, the trustees decrypt") is
 * about the stage it was shown in, and goes when the next step happens (also
 * one made elsewhere, seen by the refresh).
 */
let stage = "";
let bannerStage = null;
function stageOf(status) {
  const decrypted = status.trustees.filter((tr) => tr.decrypted).length;
  return [status.status, Boolean(status.joint_key), decrypted >= status.threshold].join("|");
}

/**
 * A wrong line of the roll in the page's language: the server's parser
 * (voting/roster_csv.py) names the problem by code, with its parameters.
 */
function rollError(item) {
  const params = { ...(item.params || {}) };
  if (params.column) params.column = t(`manage.roll_${params.column}`);
  const key = `roll.err.${item.code}`;
  const text = t(key, params);
  return text === key ? String(item.error) : text;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}
function render(status) {
  stage = stageOf(status);
  if (bannerStage !== null && bannerStage !== stage) {
    say(statusBox, "");
    bannerStage = null;
  }
  const index = steps.indexOf(status.status);
  $$("#stepper li").forEach((li, i) => {
    li.classList.toggle("current", i === index);
    li.classList.toggle("done", i < index);
    if (i === index) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
    // Not by colour alone: the mark says it in words.
    $(".step-mark", li).textContent = i < index ? t("manage.step_done") : i === index ? t("manage.step_current") : "";
  });
  // After closing, "you may vote again" would be stale: the last ballot counted.
  const revote = $("#revote-policy");
  if (revote.dataset.policy === "last") revote.textContent = t(ENDED.has(status.status) ? "revote.last_past" : "revote.last");
  const period = $('[data-fact="schedule"]');
  if (period && schedule) period.textContent = t(ENDED.has(status.status) ? "manage.schedule_past" : "manage.schedule_value", schedule);
  for (const fact of ["roll_size", "ballots_cast", "ballots_counted", "board_size"]) {
    const dd = $(`[data-fact="${fact}"]`);
    if (dd) dd.textContent = String(status[fact]);
  }
  const badge = $('[data-fact="status"] .badge');
  badge.className = `badge badge--${status.status}`;
  badge.textContent = t(`status.${status.status}`);
  const decrypted = status.trustees.filter((tr) => tr.decrypted).length;
  let hint = "";
  for (const button of $$("#actions button")) {
    const current = button.dataset.when === status.status;
    show(button, current);
    let ready = true;
    if (current && button.dataset.action === "open") {
      ready = Boolean(status.joint_key) && status.roll_size > 0;
      if (!status.joint_key) hint = t("manage.wait_ceremony");
      else if (!status.roll_size) hint = t("manage.need_roll");
    }
    if (current && button.dataset.action === "tally") {
      ready = decrypted >= status.threshold;
      if (!ready) hint = t("manage.wait_decryptions", { done: decrypted, t: status.threshold });
    }
    if (current && button.dataset.action === "ceremony/start" && !status.roll_size) hint = t("manage.roll_first");
    button.disabled = !ready;
  }
  $("#action-hint").textContent = hint;
  for (const tr of status.trustees) {
    const row = $(`tr[data-trustee="${tr.index}"]`);
    if (!row) continue;
    [tr.announced, tr.confirmed, tr.decrypted].forEach((done, col) => {
      $(`[data-col="${col}"]`, row).textContent = done ? t("manage.done") : t("manage.pending");
    });
  }
  const wasEditable = editable;
  editable = ["draft", "key_ceremony"].includes(status.status);
  show($("#roll-section"), editable);
  if (editable && !wasEditable) loadRoll();
  show($("#results-link-item"), ["tallied", "published"].includes(status.status));
}

async function refresh() {
  try {
    const status = await get(base); // with the session: administrators also get the CRL state
    render(status);
    say($("#crl-warning"), status.crl?.warning ? t("manage.crl_warning", { detail: status.crl.warning }) : "");
  } catch (exc) {
    say(errorBox, errorText(exc));
  }
}

/** A banner for the stage the election is in now; the focus goes to it (the action's result). */
function announce(box, text) {
  say(box, text);
  if (box === statusBox) bannerStage = stage;
  focusResult(box);
}

for (const button of $$("#actions button")) {
  const action = button.dataset.action;
  button.addEventListener("click", async () => {
    if (IRREVERSIBLE.has(action)) {
      const go = await confirmAction({
        title: t(`manage.confirm.${action}.title`),
        text: t(`manage.confirm.${action}.text`),
        confirm: t(`manage.confirm.${action}.yes`),
        cancel: t("manage.confirm_cancel"),
      });
      if (!go) return;
    }
    await busy(button, async () => {
      say(errorBox, "");
      try {
        await post(`${base}/${action}`);
      } catch (exc) {
        await refresh();
        return announce(errorBox, errorText(exc)); // never an English exception text in a Japanese page
      }
      await refresh(); // first, so that the banner belongs to the new stage
      announce(statusBox, t(`manage.did.${action}`));
    });
  });
}

/** The chosen file's bytes, checked by the server (the same parser imports them). */
let pending = null;
let editable = false;

function showErrors(errors) {
  $("#roll-errors").replaceChildren(
    ...errors.map((item) => {
      const row = document.createElement("tr");
      row.append(cell(String(item.line)), cell(rollError(item)));
      return row;
    }),
  );
  show($("#roll-report"), errors.length > 0);
}

function showPreview(preview) {
  $("#roll-rows").replaceChildren(
    ...preview.rows.map((r) => {
      const row = document.createElement("tr");
      row.append(cell(String(r.line)), cell(r.employee_id), cell(r.name), cell(r.department));
      return row;
    }),
  );
  $("#roll-preview-summary").textContent = t("manage.roll_preview_summary", {
    count: preview.count,
    encoding: preview.encoding === "cp932" ? "Shift_JIS (cp932)" : "UTF-8",
    shown: preview.rows.length,
  });
  const confirm = $("#roll-confirm");
  confirm.textContent = t("manage.roll_confirm", { count: preview.count });
  show(confirm, preview.errors.length === 0 && preview.count > 0);
  show($("#roll-preview"), preview.count > 0 || preview.errors.length === 0);
  showErrors(preview.errors);
  if (preview.errors.length) say(errorBox, t("manage.roll_rejected", { n: preview.errors.length }));
}

function clearPreview() {
  pending = null;
  show($("#roll-preview"), false);
  show($("#roll-report"), false);
}

$("#roll-file").addEventListener("change", clearPreview);

$("#roll-form").addEventListener("submit", (event) => {
  event.preventDefault();
  say(errorBox, "");
  say(statusBox, "");
  clearPreview();
  busy($("#roll-button"), async () => {
    const input = $("#roll-file");
    const file = input.files && input.files[0];
    if (!file) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return say(errorBox, t("manage.roll_need_file"));
    }
    input.removeAttribute("aria-invalid");
    const bytes = await file.arrayBuffer();
    try {
      const preview = await api("POST", `${base}/roll?dry_run=true`, { raw: bytes, contentType: "text/csv" });
      showPreview(preview);
      if (!preview.errors.length && preview.count > 0) pending = bytes;
    } catch (exc) {
      say(errorBox, errorText(exc));
    }
  });
});

$("#roll-confirm").addEventListener("click", () => {
  const button = $("#roll-confirm");
  busy(button, async () => {
    if (!pending) return;
    say(errorBox, "");
    try {
      const result = await api("POST", `${base}/roll`, { raw: pending, contentType: "text/csv" });
      clearPreview();
      $("#roll-form").reset();
      announce(statusBox, t("manage.roll_added", { added: result.added, total: result.total }));
    } catch (exc) {
      const errors = exc.body?.errors;
      if (exc.code === "roll_invalid" && Array.isArray(errors)) {
        show(button, false);
        showErrors(errors);
        say(errorBox, t("manage.roll_rejected", { n: errors.length }));
      } else {
        say(errorBox, errorText(exc));
      }
    }
    await refresh();
    await loadRoll();
  });
});

/** The roll as it stands, each voter with a remove button while it can change. */
async function loadRoll() {
  if (!editable || !hasRole("admin")) return;
  let roll;
  try {
    roll = await get(`${base}/roll`);
  } catch (exc) {
    return say(errorBox, errorText(exc));
  }
  $("#roll-entries").replaceChildren(
    ...roll.entries.map((entry) => {
      const row = document.createElement("tr");
      const action = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button button--secondary";
      button.textContent = t("manage.roll_remove");
      button.dataset.remove = entry.employee_id;
      button.addEventListener("click", () => askRemove(entry, button));
      action.append(button);
      row.append(cell(entry.employee_id), cell(entry.name), cell(entry.department), action);
      return row;
    }),
  );
  $("#roll-current").textContent = t("manage.roll_current", { total: roll.entries.length });
  show($("#roll-table"), roll.entries.length > 0);
  show($("#roll-none"), roll.entries.length === 0);
}

/** Confirm in a modal dialog: a removal cannot be undone. */
function askRemove(entry, button) {
  const dialog = $("#remove-dialog");
  $("#remove-text").textContent = t("manage.roll_remove_text", { id: entry.employee_id, name: entry.name });
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    () => {
      if (dialog.returnValue !== "remove") return;
      busy(button, async () => {
        say(errorBox, "");
        try {
          const result = await api("DELETE", `${base}/roll/${encodeURIComponent(entry.employee_id)}`);
          await refresh();
          await loadRoll(); // the row and its button are gone: the focus goes to what happened
          announce(statusBox, t("manage.roll_removed", { id: result.removed, total: result.total }));
        } catch (exc) {
          announce(errorBox, errorText(exc));
          await refresh();
          await loadRoll();
        }
      });
    },
    { once: true },
  );
  dialog.showModal();
}

if (requireLogin()) {
  if (!hasRole("admin")) say(errorBox, t("admin.not_admin"));
  refresh().finally(ready);
  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, REFRESH_MS);
}
