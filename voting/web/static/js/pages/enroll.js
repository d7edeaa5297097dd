// Enroll the card in this computer: the browser presents the card's
// certificate to the reverse proxy (TLS client authentication), which passes it
// on for this one request; the one-time code and the employee id printed on
// the code slip link the card to that employee (docs/web.md, "The card in
// this computer"). Nothing here signs: the link's proof is the server's word.
import { ApiError, post } from "../api.js";
import { $, busy, focusResult, ready, say, show } from "../dom.js";
import { t } from "../i18n.js";
import { cardFailure } from "./card_errors.js";

const form = $("#enroll-form");
const status = $("#enroll-status");
const error = $("#enroll-error");
const EMPLOYEE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** An enrollment's own refusals, beside a card login's. */
const ENROLL_MESSAGES = {
  enrollment_not_needed: "enroll.not_needed",
  already_enrolled: "enroll.already",
  enrollment_code_malformed: "enroll.code_malformed",
  enrollment_code_unknown: "enroll.code_unknown",
  enrollment_code_other_employee: "enroll.code_other_employee",
  enrollment_code_used: "enroll.code_used",
  enrollment_code_expired: "enroll.code_expired",
};

function mark(input, message) {
  input.setAttribute("aria-invalid", "true");
  input.focus();
  say(error, message);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  say(error, "");
  say(status, "");
  show($("#enroll-done"), false);
  const idInput = $("#employee-id");
  const codeInput = $("#enrollment-code");
  idInput.removeAttribute("aria-invalid");
  codeInput.removeAttribute("aria-invalid");
  // Full-width letters and digits from a Japanese IME are the same characters.
  const employeeId = idInput.value.normalize("NFKC").trim();
  const code = codeInput.value.normalize("NFKC").trim();
  if (!EMPLOYEE_ID.test(employeeId)) return mark(idInput, t("enroll.need_employee_id"));
  if (!code) return mark(codeInput, t("enroll.need_code"));
  busy($("#enroll-button"), async () => {
    try {
      say(status, t("login.card_checking"));
      const result = await post("/api/enroll/client-certificate", { code, employee_id: employeeId }, { auth: false });
      codeInput.value = "";
      say(status, t("enroll.done", { id: result.employee_id }));
      show($("#enroll-done"));
      focusResult(status);
    } catch (exc) {
      say(status, "");
      if (exc instanceof ApiError && exc.code?.startsWith("enrollment_code")) codeInput.setAttribute("aria-invalid", "true");
      if (exc instanceof ApiError && exc.code === "invalid_employee_id") idInput.setAttribute("aria-invalid", "true");
      say(error, cardFailure(exc, ENROLL_MESSAGES));
    }
  });
});

ready();
