// Log in with the credential file and its PIN. The file is read and opened in
// this browser (WebCrypto); the server only ever sees the signed login token.
// Or with the card in this computer: the browser presents the card's
// certificate to the reverse proxy (TLS client authentication), which passes it
// on for this one request; the page holds no key then (docs/web.md).
import { ApiError, post, saveSession } from "../api.js";
import { $, busy, readFile, ready, say } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { CREDENTIAL_FORMAT, makeLoginToken, openCredential } from "../credentials.js";
import { cardFailure } from "./card_errors.js";

const form = $("#login-form");
const status = $("#login-status");
const error = $("#login-error");

// credentials.js says a wrong PIN (AES-GCM refusing the key) by this message; its code is the generic one.
const wrongPin = (exc) => String(exc.message).startsWith("wrong PIN");

/** A credential file that will not open, in the page's language: the crypto error's code, never its English message. */
function openFailure(exc) {
  if (wrongPin(exc)) return t("login.wrong_pin");
  return t("login.bad_file", { code: exc.code || exc.name || "error" });
}

/** The server's rule for `next` (voting/web/pages.py _LOCAL_PATH): a path on
 * this site, printable ASCII only (no tab or newline, which URL parsing drops
 * to make "/\t/evil.example" a "//evil.example" link), never "//" or "/\". */
const LOCAL_PATH = /^\/(?![/\\])[\x21-\x7e]*$/;

function nextPage(roles) {
  const next = new URLSearchParams(location.search).get("next");
  if (next && LOCAL_PATH.test(next) && new URL(next, location.origin).origin === location.origin && !next.startsWith("/login")) return next;
  if (roles.includes("admin")) return "/admin";
  if (roles.includes("auditor") && !roles.includes("voter")) return "/audit";
  return "/vote";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  say(error, "");
  busy($("#login-button"), async () => {
    const fileInput = $("#credential-file");
    const pinInput = $("#pin");
    fileInput.removeAttribute("aria-invalid");
    pinInput.removeAttribute("aria-invalid");
    try {
      const text = await readFile(fileInput);
      if (!text) {
        fileInput.setAttribute("aria-invalid", "true");
        fileInput.focus();
        return say(error, t("login.need_file"));
      }
      if (!pinInput.value) {
        pinInput.setAttribute("aria-invalid", "true");
        pinInput.focus();
        return say(error, t("login.need_pin"));
      }
      let doc;
      try {
        doc = JSON.parse(text);
      } catch {
        fileInput.setAttribute("aria-invalid", "true");
        return say(error, t("login.not_json"));
      }
      if (!doc || typeof doc !== "object" || doc.format !== CREDENTIAL_FORMAT) {
        fileInput.setAttribute("aria-invalid", "true");
        return say(error, t("login.not_credential"));
      }
      say(status, t("login.opening"));
      let credential;
      try {
        credential = await openCredential(doc, pinInput.value);
      } catch (exc) {
        say(status, "");
        const wrong = wrongPin(exc) ? pinInput : fileInput;
        wrong.setAttribute("aria-invalid", "true");
        wrong.focus();
        return say(error, openFailure(exc));
      }
      say(status, t("login.signing"));
      const challenge = await post("/api/auth/challenge", undefined, { auth: false });
      // Sign only for the address this page was opened at: a phishing site that
      // relays the real server's challenge must not get a token the server accepts.
      if (challenge.audience !== location.origin) {
        say(status, "");
        const audience = String(challenge.audience).slice(0, 120);
        return say(error, t("login.wrong_server", { audience, origin: location.origin }));
      }
      const token = await makeLoginToken(credential, { nonce: challenge.nonce, audience: challenge.audience });
      const result = await post("/api/auth/login", { token }, { auth: false });
      pinInput.value = "";
      // The session is the opened file's employee's: a reply naming another
      // would hand that employee's kept choices (api.js) to this one.
      if (result?.employee_id !== credential.employeeId) {
        say(status, "");
        return say(error, t("login.other_employee"));
      }
      saveSession(result, doc);
      say(status, t("login.done", { name: result.name }));
      location.assign(nextPage(result.roles));
    } catch (exc) {
      say(status, "");
      say(error, exc instanceof ApiError ? errorText(exc) : t("login.failed", { code: exc.code || exc.name || "error" }));
    }
  });
});

$("#card-login-button").addEventListener("click", (event) => {
  say(error, "");
  busy(event.currentTarget, async () => {
    try {
      say(status, t("login.card_checking"));
      // No body: the certificate is the proxy's to pass on, the origin the browser's to send.
      const result = await post("/api/auth/client-certificate", undefined, { auth: false });
      saveSession(result, null);
      say(status, t("login.done", { name: result.name || result.employee_id }));
      location.assign(nextPage(result.roles));
    } catch (exc) {
      say(status, "");
      say(error, cardFailure(exc));
    }
  });
});

ready();
