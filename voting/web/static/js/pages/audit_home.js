// Auditors see every election; anyone may open a board by its id.
import { get, session } from "../api.js";
import { $, ready, say, show } from "../dom.js";
import { errorText, loc, t } from "../i18n.js";

async function main() {
  if (!session()) return;
  try {
    const elections = await get("/api/elections/");
    const list = $("#audit-list");
    for (const election of elections) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/audit/${encodeURIComponent(election.election_id)}`;
      link.textContent = `${loc(election.manifest.title)} (${election.election_id}) — ${t(`status.${election.status}`)}`;
      item.append(link);
      list.append(item);
    }
    show($("#audit-list-section"), elections.length > 0);
  } catch (exc) {
    say($("#audit-error"), errorText(exc));
  }
}

main().finally(ready);
