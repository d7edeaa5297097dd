// The elections in which the logged-in employee is a trustee: those of
// GET /api/elections for which the trustee's ceremony view answers.
import { get, requireLogin } from "../api.js";
import { $, clone, ready, say, show } from "../dom.js";
import { errorText, loc, t } from "../i18n.js";

const NOT_TRUSTEE = new Set(["not_trustee", "forbidden", "election_not_found"]);

async function main() {
  if (!requireLogin()) return;
  const list = $("#trustee-elections");
  try {
    let count = 0;
    for (const election of await get("/api/elections/")) {
      const id = encodeURIComponent(election.election_id);
      try {
        await get(`/api/elections/${id}/ceremony`);
      } catch (exc) {
        if (NOT_TRUSTEE.has(exc.code) || exc.status === 403) continue;
        throw exc;
      }
      const item = clone("trustee-election-item");
      $(".election-title", item).textContent = loc(election.manifest.title);
      $(".election-id", item).textContent = election.election_id;
      const badge = $(".badge", item);
      badge.textContent = t(`status.${election.status}`);
      badge.classList.add(`badge--${election.status}`);
      const link = $(".trustee-link", item);
      link.href = `/trustee/${id}`;
      link.textContent = t("trustee.list_link");
      list.append(item);
      count += 1;
    }
    show($("#no-trustee-elections"), count === 0);
  } catch (exc) {
    say($("#trustee-list-error"), errorText(exc));
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

main().finally(ready);
