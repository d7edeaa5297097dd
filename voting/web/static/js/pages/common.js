// On every page: the logged-in employee in the header, and logging out.
import { clearSession, post, session } from "../api.js";
import { $, ready, show } from "../dom.js";
import { t } from "../i18n.js";

const current = session();
const box = $("#session-box");
const login = $("#login-link");
if (current) {
  $("#session-name").textContent = t("nav.logged_in_as", { name: current.name, id: current.employee_id });
  show(box);
  show(login, false);
}
$("#logout-button")?.addEventListener("click", async () => {
  try {
    await post("/api/auth/logout");
  } catch {
    // the session may already have ended; forget it either way
  }
  clearSession();
  location.assign("/");
});

// A page without a script of its own is ready now; the others say so themselves.
if (document.querySelectorAll("script[type=module]").length === 1) ready();
