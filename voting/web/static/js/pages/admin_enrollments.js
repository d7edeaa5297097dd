// Card enrollment, for administrators (voting/auth/enrollment.py): issue a
// one-time enrollment code for an employee (shown once), list the enrolled
// cards, revoke one after a confirmation that asks for the reason.
import { get, hasRole, post, requireLogin } from "../api.js";
import { $, busy, clone, focusResult, formatTime, ready, say, show } from "../dom.js";
import { errorText, t } from "../i18n.js";

const errorBox = $("#cards-error");
const statusBox = $("#cards-status");
const EMPLOYEE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A full-width id typed with a Japanese IME becomes ASCII, as the server's CSV reader does. */
const normalized = (text) => text.normalize("NFKC").trim();

async function load() {
  const { enrollments } = await get("/api/admin/enrollments");
  const body = $("#cards-table tbody");
  body.replaceChildren();
  for (const entry of enrollments) {
    const row = clone("card-row");
    const cells = row.querySelectorAll("td");
    cells[0].textContent = entry.employee_id;
    const card = cells[1].querySelector("code");
    card.textContent = `${entry.fingerprint.slice(0, 16)}…`;
    card.title = entry.fingerprint;
    cells[2].textContent = entry.anchor;
    cells[3].textContent = formatTime(entry.enrolled_at);
    if (entry.revoked_at) {
      cells[4].textContent = t("cards.state_revoked", { when: formatTime(entry.revoked_at), by: entry.revoked_by, reason: entry.revoked_reason });
    } else {
      cells[4].textContent = t(entry.via === "client-certificate" ? "cards.state_active_tls" : "cards.state_active");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button button--secondary";
      button.textContent = t("cards.revoke");
      button.setAttribute("aria-label", t("cards.revoke_label", { id: entry.employee_id, card: entry.fingerprint.slice(0, 16) }));
      button.addEventListener("click", () => askRevoke(entry, button));
      cells[5].append(button);
    }
    body.append(row);
  }
  $("#cards-caption").textContent = t("cards.caption", { count: enrollments.length });
  show($("#cards-table"), enrollments.length > 0);
  show($("#cards-none"), enrollments.length === 0);
}

/** Ask in a modal dialog, with the reason: a revoked card can never be enrolled again. */
function askRevoke(entry, button) {
  const dialog = $("#revoke-dialog");
  const reason = $("#revoke-reason");
  $("#revoke-text").textContent = t("cards.revoke_text", { id: entry.employee_id, card: entry.fingerprint.slice(0, 16) });
  reason.value = "";
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    () => {
      if (dialog.returnValue !== "revoke") return;
      busy(button, async () => {
        say(errorBox, "");
        say(statusBox, "");
        try {
          const row = await post(`/api/admin/enrollments/${encodeURIComponent(entry.fingerprint)}/revoke`, { reason: reason.value.trim() });
          await load();
          say(statusBox, t("cards.revoked", { id: row.employee_id }));
          focusResult(statusBox);
        } catch (exc) {
          say(errorBox, errorText(exc));
          focusResult(errorBox);
        }
      });
    },
    { once: true },
  );
  dialog.showModal();
}

// Revoking needs a reason: the confirm button refuses an empty one, in words.
$("#revoke-form").addEventListener("submit", (event) => {
  const reason = $("#revoke-reason");
  if (event.submitter?.value === "revoke" && !reason.value.trim()) {
    event.preventDefault();
    reason.setCustomValidity(t("cards.reason_needed"));
    reason.reportValidity();
  }
});
$("#revoke-reason").addEventListener("input", (event) => event.target.setCustomValidity(""));

$("#code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#code-employee");
  const employeeId = normalized(input.value);
  say(errorBox, "");
  if (!EMPLOYEE_ID.test(employeeId)) {
    say(errorBox, t("cards.bad_employee_id"));
    focusResult(errorBox);
    return;
  }
  busy($("#code-button"), async () => {
    try {
      const issued = await post("/api/admin/enrollment-codes", { employee_id: employeeId });
      $("#code-for").textContent = t("cards.code_for", { id: issued.employee_id });
      $("#code-value").textContent = issued.code;
      $("#code-expires").textContent = t("cards.code_expires", { when: formatTime(issued.expires_at) });
      show($("#code-result"), true);
      focusResult($("#code-result"));
      input.value = "";
    } catch (exc) {
      say(errorBox, errorText(exc));
      focusResult(errorBox);
    }
  });
});

async function main() {
  if (!requireLogin()) return;
  if (!hasRole("admin")) return say(errorBox, t("admin.not_admin"));
  try {
    await load();
  } catch (exc) {
    say(errorBox, errorText(exc));
  }
}

main().finally(ready);
