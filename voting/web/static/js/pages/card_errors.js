// A refused card login or enrollment, in words for a card in this computer
// (the catalogue's error.code.* speak of credential files).

import { ApiError } from "../api.js";
import { errorText, t } from "../i18n.js";

/** Refusal code -> catalogue key, for every page that uses the card. */
const CARD_MESSAGES = {
  no_client_certificate: "login.card_none",
  client_certificate_untrusted_source: "login.card_unavailable",
  client_certificate_disabled: "login.card_disabled",
  tls_session_resumed: "login.card_resumed",
  certificate_invalid: "login.card_invalid",
  client_certificate_malformed: "login.card_invalid",
  certificate_revoked: "login.card_revoked",
  not_enrolled: "login.card_not_enrolled",
  enrollment_revoked: "login.card_enrollment_revoked",
};

/** The words for ``exc``; ``more`` adds a page's own codes (code -> key). */
export function cardFailure(exc, more = {}) {
  if (!(exc instanceof ApiError)) return t("login.failed", { code: exc.code || exc.name || "error" });
  const key = more[exc.code] || CARD_MESSAGES[exc.code];
  return key ? t(key) : errorText(exc);
}
