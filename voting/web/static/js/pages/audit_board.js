// Verify the entries on this page of the board, in this browser: the newest
// tree head's signature, then each entry's inclusion proof under that head.
import { get } from "../api.js";
import { fromHex } from "../bytes.js";
import { canonicalJson } from "../encoding.js";
import { inclusionProofFromJson, leafHash, signedTreeHeadFromJson, verifyInclusion, verifyTreeHead } from "../merkle.js";
import { $, busy, focusResult, pageData, ready, say } from "../dom.js";
import { errorText, t } from "../i18n.js";

const data = pageData();
const base = `/api/elections/${encodeURIComponent(data.election_id)}/board`;
const entries = JSON.parse(document.getElementById("entries").textContent).map((text) => JSON.parse(text));

// A failed entry's tooltip is a catalogue text: the proof library's messages are English.
function mark(index, ok) {
  const cell = $(`[data-check="${index}"]`);
  cell.textContent = ok ? `✓ ${t("check.ok")}` : `✗ ${t("check.bad")}`;
  cell.className = `check-cell ${ok ? "ok" : "fail"}`;
  if (!ok) cell.title = t("board.entry_bad");
}

$("#verify-page")?.addEventListener("click", (event) =>
  busy(event.currentTarget, async () => {
    const status = $("#verify-status");
    const error = $("#verify-error");
    say(error, "");
    try {
      const { head: headDoc, server_key: key } = data;
      const sth = signedTreeHeadFromJson(headDoc);
      verifyTreeHead(fromHex(key, 32), sth);
      let good = 0;
      for (const entry of entries) {
        try {
          const reply = await get(`${base}/inclusion?index=${entry.index}&size=${sth.head.size}`, { auth: false });
          const proof = inclusionProofFromJson(reply.proof);
          verifyInclusion(leafHash(canonicalJson(entry)), proof.leafIndex, proof.treeSize, proof.path, sth.head.root);
          mark(entry.index, true);
          good++;
        } catch {
          mark(entry.index, false);
        }
      }
      const all = good === entries.length;
      say(all ? status : error, t(all ? "board.verified" : "board.verify_failed", { good, total: entries.length, size: sth.head.size }));
      if (all) say(error, "");
      focusResult(all ? status : error);
    } catch (exc) {
      // An API refusal has its code in the catalogue; a bad signature is said in words, not the library's English.
      say(status, "");
      say(error, exc.code ? errorText(exc) : t("board.head_bad"));
      focusResult(error);
    }
  }),
);

ready();
