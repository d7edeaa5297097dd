// Managing one election: the voter roll (with the per-line error report), the
// lifecycle actions, and the trustees' progress, refreshed every few seconds.
import { ApiError, get, hasRole, post, requireLogin, api } from "../api.js";
import { $, $$, busy, pageData, readFile, ready, say, show } from "../dom.js";
import { errorText, t } from "../i18n.js";

const { election_id: electionId, steps } = pageData();
const base = `/api/elections/${encodeURIComponent(electionId)}`;
const statusBox = $("#manage-status");
const errorBox = $("#manage-error");
const REFRESH_MS = 4000;

/** The roll parser's messages (voting/elections/roll.py) in the page's language. */
const ROLL_ERRORS = [
  [/^the first line must be the header (.*)$/, "roll.err.header", (m) => ({ header: m[1] })],
  [/^expected 3 fields, found (\d+)$/, "roll.err.fields", (m) => ({ n: m[1] })],
  [/^invalid employee id (.*)$/, "roll.err.id", (m) => ({ id: m[1] })],
  [/^employee (.+) is already on the roll$/, "roll.err.duplicate", (m) => ({ id: m[1] })],
  [/^the name must be/, "roll.err.name", () => ({})],
  [/^the department must be/, "roll.err.department", () => ({})],
  [/^not CSV: (.*)$/, "roll.err.csv", (m) => ({ detail: m[1] })],
  [/^more than (\d+) rows$/, "roll.err.rows", (m) => ({ n: m[1] })],
];

function rollError(message) {
  for (const [pattern, key, params] of ROLL_ERRORS) {
    const m = pattern.exec(message);
    if (m) return t(key, params(m));
  }
  return message;
}

function render(status) {
  const index = steps.indexOf(status.status);
  $$("#stepper li").forEach((li, i) => {
    li.classList.toggle("current", i === index);
    li.classList.toggle("done", i < index);
    if (i === index) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  });
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
  show($("#roll-section"), ["draft", "key_ceremony"].includes(status.status));
  show($("#results-link-item"), ["tallied", "published"].includes(status.status));
}

async function refresh() {
  try {
    render(await get(base, { auth: false }));
  } catch (exc) {
    say(errorBox, errorText(exc));
  }
}

for (const button of $$("#actions button")) {
  button.addEventListener("click", () =>
    busy(button, async () => {
      say(errorBox, "");
      try {
        await post(`${base}/${button.dataset.action}`);
        say(statusBox, t(`manage.did.${button.dataset.action}`));
      } catch (exc) {
        say(errorBox, exc instanceof ApiError ? errorText(exc) : exc.message);
      }
      await refresh();
    }),
  );
}

$("#roll-form").addEventListener("submit", (event) => {
  event.preventDefault();
  say(errorBox, "");
  const report = $("#roll-report");
  show(report, false);
  busy($("#roll-button"), async () => {
    const input = $("#roll-file");
    const text = await readFile(input);
    if (text === null) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return say(errorBox, t("manage.roll_need_file"));
    }
    input.removeAttribute("aria-invalid");
    try {
      const result = await api("POST", `${base}/roll`, { raw: text, contentType: "text/csv; charset=utf-8" });
      say(statusBox, t("manage.roll_added", { added: result.added, total: result.total }));
    } catch (exc) {
      const errors = exc.body?.errors;
      if (exc.code === "roll_invalid" && Array.isArray(errors)) {
        const body = $("#roll-errors");
        body.replaceChildren();
        for (const item of errors) {
          const row = document.createElement("tr");
          const line = document.createElement("td");
          line.textContent = String(item.line);
          const problem = document.createElement("td");
          problem.textContent = rollError(String(item.error));
          row.append(line, problem);
          body.append(row);
        }
        show(report);
        say(errorBox, t("manage.roll_rejected", { n: errors.length }));
      } else {
        say(errorBox, errorText(exc));
      }
    }
    await refresh();
  });
});

if (requireLogin()) {
  if (!hasRole("admin")) say(errorBox, t("admin.not_admin"));
  refresh().finally(ready);
  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, REFRESH_MS);
}
