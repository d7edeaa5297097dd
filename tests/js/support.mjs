// Shared helpers of the JavaScript tests: the vectors, and the deterministic
// random source of tests/vectors/gen_ballots.py.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const JS = new URL("../../voting/web/static/js/", import.meta.url).href;

export function vectors(name) {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), "utf8"));
}

const { hashToScalar } = await import(JS + "encoding.js");
const { fromHex } = await import(JS + "bytes.js");

/** hash_to_scalar(tag, seed, label, i) for i = 0, 1, ... (gen_ballots.CounterRng). */
export function counterRng(rngDoc, label) {
  const seed = fromHex(rngDoc.seed_hex);
  let counter = 0;
  return () => hashToScalar(rngDoc.tag, seed, label, counter++);
}

/** Run `fn`; return the class name of what it throws (null if nothing). */
export async function errorName(fn) {
  try {
    await fn();
  } catch (exc) {
    return exc.name;
  }
  return null;
}
