// Every election, for administrators.
import { get, hasRole, requireLogin } from "../api.js";
import { $, clone, ready, say, show } from "../dom.js";
import { errorText, loc, t } from "../i18n.js";

async function main() {
  if (!requireLogin()) return;
  const error = $("#admin-error");
  if (!hasRole("admin")) return say(error, t("admin.not_admin"));
  try {
    const elections = await get("/api/elections/");
    const body = $("#election-table tbody");
    for (const election of elections) {
      const row = clone("election-row");
      const cells = row.querySelectorAll("td");
      const link = cells[0].querySelector("a");
      link.href = `/admin/${encodeURIComponent(election.election_id)}`;
      link.textContent = election.election_id;
      cells[1].textContent = loc(election.manifest.title);
      const badge = cells[2].querySelector(".badge");
      badge.textContent = t(`status.${election.status}`);
      badge.classList.add(`badge--${election.status}`);
      cells[3].textContent = "—";
      body.append(row);
      get(`/api/elections/${encodeURIComponent(election.election_id)}`, { auth: false })
        .then((status) => {
          cells[3].textContent = t("admin.ballots_value", { counted: status.ballots_counted, roll: status.roll_size });
        })
        .catch(() => {});
    }
    show($("#election-table"), elections.length > 0);
    show($("#no-elections"), elections.length === 0);
  } catch (exc) {
    say(error, errorText(exc));
  }
}

main().finally(ready);
