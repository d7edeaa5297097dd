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

/** The text of `key` with {placeholders} filled; the key itself if unknown. */
export function t(key, params = {}) {
  const text = load()[key] ?? key;
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

/** The message for a server error code ("error.code.<code>"), else the server's own detail. */
export function errorText(error) {
  const key = `error.code.${error.code}`;
  const text = t(key);
  if (text !== key) return text;
  return error.detail || error.message || String(error);
}
