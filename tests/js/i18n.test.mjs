// The page's messages (static/js/i18n.js) over the real catalogue: "KEY#one"
// for a count of 1, as translate() does in Python; errorText() never puts the
// server's English detail into a Japanese page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { JS } from "./support.mjs";

const catalogue = JSON.parse(readFileSync(new URL("../../voting/web/messages.json", import.meta.url), "utf8"));

/** i18n.js as a page in `lang` loads it (a module instance of its own: it caches the messages). */
async function page(lang) {
  const messages = Object.fromEntries(Object.entries(catalogue).map(([key, texts]) => [key, texts[lang]]));
  globalThis.document = {
    documentElement: { lang },
    getElementById: (id) => (id === "messages" ? { textContent: JSON.stringify(messages) } : null),
  };
  return import(`${JS}i18n.js?${lang}`);
}

test("t() picks KEY#one for a count of 1, in {count} and in {n}", async () => {
  const { t } = await page("en");
  assert.equal(t("results.count", { count: 1 }), "1 vote");
  assert.equal(t("results.count", { count: 2 }), "2 votes");
  assert.equal(t("results.count", { count: 0 }), "0 votes");
  assert.equal(t("manage.roll_rejected", { n: 1 }), "1 line of the roll is wrong; nothing was imported.");
  assert.equal(t("manage.roll_rejected", { n: 3 }), "3 lines of the roll are wrong; nothing was imported.");
  assert.equal(t("no.such.key", { count: 1 }), "no.such.key");
});

test("errorText() in English: the catalogue's message, else the server's detail", async () => {
  const { errorText } = await page("en");
  assert.equal(errorText({ code: "not_admin", detail: "x" }), catalogue["error.code.not_admin"].en);
  assert.equal(errorText({ code: "brand_new", detail: "Something specific" }), "Something specific");
});

test("errorText() in Japanese never shows the English detail; the code stays visible", async () => {
  const { errorText } = await page("ja");
  assert.equal(errorText({ code: "not_admin", detail: "x" }), catalogue["error.code.not_admin"].ja);
  const generic = errorText({ code: "brand_new", detail: "Something specific" });
  assert.equal(generic, catalogue["error.generic"].ja.replace("{code}", "brand_new"));
  assert.equal(errorText(new TypeError("Failed to fetch")), catalogue["error.unknown"].ja);
});
