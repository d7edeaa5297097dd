// Verify the tree heads on this page: each signature, and that each head's
// tree extends the previous one (a consistency proof per pair).
import { get } from "../api.js";
import { fromHex } from "../bytes.js";
import { consistencyProofFromJson, signedTreeHeadFromJson, verifyConsistency, verifyTreeHead } from "../merkle.js";
import { $, busy, focusResult, pageData, ready, say } from "../dom.js";
import { t } from "../i18n.js";

const data = pageData();
const base = `/api/elections/${encodeURIComponent(data.election_id)}/board`;

// A failed head's tooltip is a catalogue text: the proof library's messages are English.
function mark(size, ok) {
  const cell = $(`[data-check="${size}"]`);
  cell.textContent = ok ? `✓ ${t("check.ok")}` : `✗ ${t("check.bad")}`;
  cell.className = `check-cell ${ok ? "ok" : "fail"}`;
  if (!ok) cell.title = t("heads.head_bad");
}

$("#verify-heads")?.addEventListener("click", (event) =>
  busy(event.currentTarget, async () => {
    const key = fromHex(data.server_key, 32);
    let good = 0;
    let previous = null;
    for (const doc of data.heads) {
      const { time, ...flat } = doc;
      try {
        const sth = signedTreeHeadFromJson(flat);
        verifyTreeHead(key, sth);
        if (previous) {
          const reply = await get(`${base}/consistency?old=${previous.head.size}&new=${sth.head.size}`, { auth: false });
          const proof = consistencyProofFromJson(reply.proof);
          if (proof.oldSize !== previous.head.size || proof.newSize !== sth.head.size) throw new Error("sizes");
          verifyConsistency(proof.oldSize, proof.newSize, previous.head.root, sth.head.root, proof.path);
        }
        previous = sth;
        mark(doc.size, true);
        good++;
      } catch {
        mark(doc.size, false);
      }
      void time;
    }
    const all = good === data.heads.length;
    const [result, other] = all ? [$("#heads-status"), $("#heads-error")] : [$("#heads-error"), $("#heads-status")];
    say(other, "");
    say(result, t(all ? "heads.verified" : "heads.verify_failed", { good, total: data.heads.length }));
    focusResult(result);
  }),
);

ready();
