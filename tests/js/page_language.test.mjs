// In a Japanese page no English exception text reaches the
// reader: errorText() shows a PageError's own (catalogue) message, a generic
// catalogue message for any other exception, and the receipt check's witness
// details (check.js) are catalogue words, not the errors' English messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { JS } from "./support.mjs";

const catalogue = JSON.parse(readFileSync(new URL("../../voting/web/messages.json", import.meta.url), "utf8"));
const ja = Object.fromEntries(Object.entries(catalogue).map(([key, texts]) => [key, texts.ja]));
globalThis.document = {
  documentElement: { lang: "ja" },
  getElementById: (id) => (id === "messages" ? { textContent: JSON.stringify(ja) } : null),
};
globalThis.sessionStorage ??= { getItem: () => null, setItem: () => {}, removeItem: () => {} };
globalThis.fetch = async () =>
  new Response(JSON.stringify({ code: "brand_new", detail: "Some English words from the server" }), {
    status: 400,
    headers: { "content-type": "application/json" },
  });

const { errorText, PageError, t } = await import(JS + "i18n.js");
const { detailOf, witnessConfirmation } = await import(JS + "check.js");
const { ConsistencyProofError, CosignatureError, QuorumError, ReceiptError } = await import(JS + "errors.js");

test("errorText() shows a PageError's message, and never an exception's English text", () => {
  assert.equal(errorText(new PageError(t("receipt.no_code"))), ja["receipt.no_code"]);
  assert.equal(errorText(new SyntaxError("Unexpected token 'n', \"{not json\" is not valid JSON")), ja["error.unknown"]);
  assert.equal(errorText(new TypeError("Cannot read properties of undefined")), ja["error.unknown"]);
});

test("the witness checks' details are the catalogue's, not the errors' English", () => {
  const cases = [
    [new CosignatureError("the log's cosignature is by another key"), "check.why.cosignature_invalid"],
    [new ReceiptError("the cosigned head is for another election"), "check.why.receipt_invalid"],
    [new QuorumError("2 of 3 needed"), "check.why.witness_quorum_missing"],
    [new ConsistencyProofError("the server gives no consistency proof from size 3 to 5 (x)"), "check.why.consistency_proof_invalid"],
  ];
  for (const [exc, key] of cases) assert.equal(detailOf(exc), ja[key], exc.message);
});

test("a refusal of the server's cosigned head is reported without its English detail", async () => {
  const sth = { head: { logId: "e", size: 3, timestampMs: Date.now() } };
  const verdict = await witnessConfirmation("/api/elections/e", { election_id: "e" }, sth, null, null);
  assert.equal(verdict.state, "failed");
  assert.equal(verdict.detail, ja["error.generic"].replace("{code}", "brand_new"));
});
