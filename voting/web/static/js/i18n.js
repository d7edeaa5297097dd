// The page's messages: the catalogue of voting/web/messages.json in the page's
// language, embedded by the server as a JSON data block (not a script).

let messages = null;

function load() {
  if (!messages) {
    const block = document.getElementById("messages");
    messages = block ? JSON.parse(block.textContent) : {};
  }
  return messages;
}

/** The text of `key` with {placeholders} filled; the key itself if unknown.
 * "KEY#one" is KEY's text when the {count} (else {n}) parameter is 1, as in
 * translate() of voting/web/i18n.py ("1 vote", not "1 votes"). */
export function t(key, params = {}) {
  const all = load();
  const count = "count" in params ? params.count : params.n;
  const text = (String(count) === "1" && all[`${key}#one`]) || all[key] || key;
  return text.replace(/\{([a-z_]+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export function lang() {
  return document.documentElement.lang || "ja";
}

/** A manifest text {ja, en} in the page's language. */
export function loc(value) {
  if (value && typeof value === "object") return value[lang()] || Object.values(value).find((v) => typeof v === "string" && v) || "";
  return value == null ? "" : String(value);
}

/** An error whose message is already a catalogue text in the page's language
 * (e.g. "this QR code is not a receipt's"): errorText() shows it as it is. */
export class PageError extends Error {
  constructor(message) {
    super(message);
    this.name = "PageError";
  }
}

/** The message for an error's code ("error.code.<code>", server or crypto error).
 * For a code without a message: the server's own detail in an English page, but
 * in a Japanese page never that English text: a generic message with the code. */
export function errorText(error) {
  if (error instanceof PageError) return error.message;
  const code = error?.code;
  if (code && `error.code.${code}` in load()) return t(`error.code.${code}`);
  const detail = error?.detail || error?.message;
  if (lang() === "en" && detail) return detail;
  return code ? t("error.generic", { code }) : t("error.unknown");
}
