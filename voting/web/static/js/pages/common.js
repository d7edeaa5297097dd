// On every page: the logged-in employee in the header, logging out, and what
// a page shows when its session ends (a 401 from api.js).
import { clearSession, forgetChoices, post, session } from "../api.js";
import { $, ready, show } from "../dom.js";
import { errorText, t } from "../i18n.js";

const current = session();
const box = $("#session-box");
const login = $("#login-link");
if (current) {
  // A card enrolled from another CA (JPKI) names nobody: the employee id alone then.
  $("#session-name").textContent = current.name ? t("nav.logged_in_as", { name: current.name, id: current.employee_id }) : current.employee_id;
  show(box);
  show(login, false);
}

// The session ended (expired, idle, logged out elsewhere): nobody is named any more.
window.addEventListener("voting:session-ended", () => {
  $("#session-name").textContent = "";
  show(box, false);
  show(login);
});

/**
 * Say in `notice` (a role=alert region) that the session has ended, with a
 * link to log in again and come back to this very page; focus moves to it.
 */
export function sayLoginAgain(notice, error) {
  const link = document.createElement("a");
  link.href = `/login?next=${encodeURIComponent(location.pathname + location.search + location.hash)}`;
  link.textContent = t("session.login_again");
  notice.replaceChildren(`${errorText(error)} `, link);
  notice.hidden = false;
  notice.setAttribute("tabindex", "-1");
  notice.focus();
}

$("#logout-button")?.addEventListener("click", async () => {
  try {
    await post("/api/auth/logout");
  } catch {
    // the session may already have ended; forget it either way
  }
  clearSession();
  forgetChoices();
  location.assign("/");
});

// A page without a script of its own is ready now; the others say so themselves.
if (document.querySelectorAll("script[type=module]").length === 1) ready();
