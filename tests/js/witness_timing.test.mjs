// The receipt check's clock rules (check.js witnessConfirmation), behind a
// server that answers 503 for ever or dates its head in the future: found by
// the attack review, where a voter on a branch the witnesses never saw was
// told "check again in a few minutes" a day later.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS } from "./support.mjs";

globalThis.document ??= { getElementById: () => null, documentElement: { lang: "en" } };
globalThis.sessionStorage ??= { getItem: () => null, setItem: () => {}, removeItem: () => {} };
let status = 503;
globalThis.fetch = async () =>
  new Response(JSON.stringify({ code: "unavailable", detail: "try later" }), {
    status,
    headers: { "content-type": "application/json" },
  });

const { GRACE_MS, MAX_CLOCK_SKEW_MS, witnessConfirmation } = await import(JS + "check.js");
const receipt = { election_id: "e" };
const cast = Date.UTC(2026, 11, 6, 10, 0);
const sth = (timestampMs) => ({ head: { logId: "e", size: 3, timestampMs } });

test("a server that cannot be asked, or rate-limits, is no alarm within the grace period", async () => {
  for (status of [503, 429]) {
    const verdict = await witnessConfirmation("/api/elections/e", receipt, sth(cast), null, null, { now: cast + 60_000 });
    assert.equal(verdict.state, "unreachable", `HTTP ${status}`);
  }
  status = 503;
});

test("a server that stays unreachable past the grace period is an alarm", async () => {
  const verdict = await witnessConfirmation("/api/elections/e", receipt, sth(cast), null, null, { now: cast + GRACE_MS + 1 });
  assert.equal(verdict.state, "alarm");
});

test("a head dated ahead of this device's clock is an alarm", async () => {
  const ahead = cast + MAX_CLOCK_SKEW_MS + 60_000;
  const verdict = await witnessConfirmation("/api/elections/e", receipt, sth(ahead), null, null, { now: cast });
  assert.equal(verdict.state, "alarm");
  assert.match(verdict.detail, /head_in_future|ahead/); // the message key (messages.json is the page's)
});

test("the grace period runs from when this device first saw the receipt, if earlier than its head", async () => {
  // A server re-dating the receipt it hands out on every visit cannot postpone the alarm.
  const seenAt = cast - GRACE_MS;
  const verdict = await witnessConfirmation("/api/elections/e", receipt, sth(cast), null, null, { now: cast + 1, seenAt });
  assert.equal(verdict.state, "alarm");
});
