// The elections this employee may vote in, with whether they have voted.
import { ApiError, get, requireLogin } from "../api.js";
import { $, clone, ready, say, show } from "../dom.js";
import { errorText, loc, t } from "../i18n.js";
import { sayLoginAgain } from "./common.js";

async function main() {
  if (!requireLogin()) return;
  const list = $("#election-list");
  try {
    const elections = await get("/api/elections/");
    // Asked for every election at once: one round trip's wait, not one per election.
    const voters = await Promise.all(
      elections.map((election) =>
        get(`/api/elections/${encodeURIComponent(election.election_id)}/voter`).catch((exc) => {
          if (exc.code !== "not_on_roll") throw exc;
          return null;
        }),
      ),
    );
    const mine = elections.map((election, i) => ({ election, voter: voters[i] })).filter(({ voter }) => voter);
    for (const { election, voter } of mine) {
      const item = clone("election-item");
      $(".election-title", item).textContent = loc(election.manifest.title);
      $(".election-id", item).textContent = election.election_id;
      const badge = $(".badge", item);
      badge.textContent = t(`status.${election.status}`);
      badge.classList.add(`badge--${election.status}`);
      const counted = voter.ballots.filter((b) => !b.superseded);
      const link = $(".vote-link", item);
      if (counted.length) {
        const voted = $(".voted", item);
        // "You may vote again" only while it is true: not once the election has closed.
        const canRevote = election.status === "open" && election.manifest.revote_policy === "last";
        voted.textContent = canRevote ? t("vote.voted_can_revote") : t("vote.voted");
        show(voted);
      }
      const open = election.status === "open" && (!counted.length || election.manifest.revote_policy === "last");
      if (open) {
        link.href = `/vote/${encodeURIComponent(election.election_id)}`;
        link.textContent = counted.length ? t("vote.revote_link") : t("vote.vote_link");
      } else if (["tallied", "published"].includes(election.status)) {
        link.href = `/elections/${encodeURIComponent(election.election_id)}/results`;
        link.textContent = t("vote.results_link");
        link.classList.add("button--secondary");
      } else {
        link.remove();
      }
      list.append(item);
    }
    show($("#no-elections"), mine.length === 0);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) sayLoginAgain($("#vote-error"), exc);
    else say($("#vote-error"), errorText(exc));
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

main().finally(ready);
