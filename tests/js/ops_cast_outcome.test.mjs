// The page's cast resends the very same ballot when its outcome is unknown
// (a 503, or the connection lost awaiting the reply), a bounded number of
// times, and never after a refusal: api.js `resending` with the real `post`
// over a stand-in fetch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS } from "./support.mjs";

const { ApiError, RESEND_DELAYS_MS, post, resending } = await import(JS + "api.js");

const problem = (status, code) =>
  new Response(JSON.stringify({ status, code, detail: code, type: `urn:voting-pilot:error:${code}`, title: code }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });

/** A fetch answering from `replies` in turn (a function throws, as a lost connection does); records the bodies. */
function serve(replies) {
  const bodies = [];
  globalThis.fetch = async (path, init) => {
    bodies.push(init.body);
    const reply = replies.shift();
    if (typeof reply === "function") return reply();
    return reply;
  };
  return bodies;
}

const noWait = { sleep: async () => {} };
const receipt = { tracking_code: "ab", leaf_index: 7 };
const cast = () => post("/api/elections/e/ballots/", { ballot: { voter_id: "v" }, signature: "00" });

test("a 503 outcome_unknown is answered by sending the same ballot again, which returns its receipt", async () => {
  const bodies = serve([problem(503, "outcome_unknown"), new Response(JSON.stringify(receipt), { status: 201 })]);
  const retries = [];
  const got = await resending(cast, { ...noWait, onRetry: (n, exc) => retries.push([n, exc.code]) });
  assert.deepEqual(got, receipt);
  assert.deepEqual(retries, [[1, "outcome_unknown"]]);
  assert.equal(bodies.length, 2);
  assert.equal(bodies[0], bodies[1]);
});

test("a connection lost awaiting the reply is answered the same way", async () => {
  const bodies = serve([
    () => { throw new TypeError("network connection was lost"); },
    problem(503, "database_unavailable"),
    new Response(JSON.stringify(receipt), { status: 201 }),
  ]);
  assert.deepEqual(await resending(cast, noWait), receipt);
  assert.equal(new Set(bodies).size, 1);
  assert.equal(bodies.length, 3);
});

test("a refusal is never resent", async () => {
  const bodies = serve([problem(409, "outside_schedule")]);
  await assert.rejects(resending(cast, noWait), (exc) => exc instanceof ApiError && exc.code === "outside_schedule");
  assert.equal(bodies.length, 1);
});

test("resending is bounded, with pauses that grow, and the last answer is shown", async () => {
  const bodies = serve(Array.from({ length: 20 }, () => problem(503, "outcome_unknown")));
  const pauses = [];
  await assert.rejects(
    resending(cast, { sleep: async (ms) => pauses.push(ms) }),
    (exc) => exc instanceof ApiError && exc.status === 503 && exc.code === "outcome_unknown",
  );
  assert.equal(bodies.length, RESEND_DELAYS_MS.length + 1);
  assert.deepEqual(pauses, RESEND_DELAYS_MS);
  assert.ok(pauses.every((ms, i) => i === 0 || ms > pauses[i - 1]));
});
