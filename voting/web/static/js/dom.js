// Small DOM helpers for the page modules. Text goes in with textContent only:
// nothing from the server or a file is ever parsed as HTML.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function show(element, visible = true) {
  if (element) element.hidden = !visible;
}

/** Put a message into a notice region (role=status or role=alert); empty hides it. */
export function say(element, text) {
  if (!element) return;
  element.textContent = text || "";
  element.hidden = !text;
}

export function clone(templateId) {
  return document.getElementById(templateId).content.firstElementChild.cloneNode(true);
}

export function pageData() {
  const block = document.getElementById("page-data");
  return block ? JSON.parse(block.textContent) : {};
}

/** A download link for a JSON document (a Blob URL, no server round trip). */
export function jsonDownload(link, doc, filename) {
  const blob = new Blob([JSON.stringify(doc, null, 1) + "\n"], { type: "application/json" });
  if (link.dataset.url) URL.revokeObjectURL(link.dataset.url);
  link.dataset.url = URL.createObjectURL(blob);
  link.href = link.dataset.url;
  link.download = filename;
}

/** Disable a button while `work` runs (and mark the region busy). */
export async function busy(button, work) {
  const was = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = was;
    button.removeAttribute("aria-busy");
  }
}

/** Read a user-chosen file as text (it never leaves the browser). */
export function readFile(input) {
  const file = input.files && input.files[0];
  if (!file) return Promise.resolve(null);
  return file.text();
}

export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "ja-JP", { timeZone: "Asia/Tokyo", timeZoneName: "short" });
}

/**
 * The page's script is wired up: enable the buttons that need it (they are
 * rendered disabled, so nothing can be submitted before the script handles it)
 * and mark the page ready.
 */
export function ready() {
  for (const element of $$("[data-needs-js]")) element.disabled = false;
  document.body.dataset.ready = "true";
}

/** Move the focus to the element that shows an action's result (focusable by script only). */
export function focusResult(element) {
  if (!element) return;
  if (!element.hasAttribute("tabindex")) element.setAttribute("tabindex", "-1");
  element.focus();
}

/**
 * Ask before an action that cannot be undone, in a native modal <dialog>
 * (made once, inside <main>): `text` says what cannot be undone; Cancel comes
 * first and has the focus, so Enter cancels, as does Escape. Resolves true
 * only when the `confirm` button is pressed; the browser then gives the focus
 * back to the button that asked.
 */
export function confirmAction({ title, text, confirm, cancel }) {
  let dialog = document.getElementById("confirm-dialog");
  if (!dialog) {
    dialog = document.createElement("dialog");
    dialog.id = "confirm-dialog";
    dialog.className = "confirm";
    dialog.setAttribute("aria-labelledby", "confirm-title");
    dialog.setAttribute("aria-describedby", "confirm-text");
    const form = document.createElement("form");
    form.method = "dialog";
    const heading = document.createElement("h2");
    heading.id = "confirm-title";
    const body = document.createElement("p");
    body.id = "confirm-text";
    const actions = document.createElement("div");
    actions.className = "actions";
    for (const [value, kind] of [["cancel", "button button--secondary"], ["confirm", "button"]]) {
      const button = document.createElement("button");
      button.type = "submit";
      button.value = value;
      button.className = kind;
      actions.append(button);
    }
    form.append(heading, body, actions);
    dialog.append(form);
    (document.querySelector("main") || document.body).append(dialog);
  }
  $("#confirm-title", dialog).textContent = title;
  $("#confirm-text", dialog).textContent = text;
  $('button[value="cancel"]', dialog).textContent = cancel;
  $('button[value="confirm"]', dialog).textContent = confirm;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
    $('button[value="cancel"]', dialog).focus();
  });
}
