// tests/vectors/merkle.json and the transparency-dev/merkle data in
// tests/vectors/rfc6962, checked by the browser's modules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { JS, ROOT, errorName, vectors } from "./support.mjs";

const { fromHex, toHex, b64decode } = await import(JS + "bytes.js");
const merkle = await import(JS + "merkle.js");
const doc = vectors("merkle.json");

test("leaf hashes and roots of the reference leaves", () => {
  const leaves = doc.leaf_data.map((h) => merkle.leafHash(fromHex(h)));
  assert.deepEqual(leaves.map(toHex), doc.leaf_hashes);
  for (const { size, root } of doc.roots) assert.equal(toHex(merkle.rootFromLeaves(leaves.slice(0, size))), root, `size ${size}`);
});

function verifyInclusionCase(c) {
  const p = merkle.inclusionProofFromJson(c.proof);
  merkle.verifyInclusion(fromHex(c.leaf_hash, 32), p.leafIndex, p.treeSize, p.path, fromHex(c.root, 32));
}

function verifyConsistencyCase(c) {
  const p = merkle.consistencyProofFromJson(c.proof);
  merkle.verifyConsistency(p.oldSize, p.newSize, fromHex(c.old_root, 32), fromHex(c.new_root, 32), p.path);
}

test("inclusion cases", async () => {
  for (const c of doc.inclusion) assert.equal((await errorName(() => verifyInclusionCase(c))) === null, c.valid, c.desc);
});

test("consistency cases", async () => {
  for (const c of doc.consistency) assert.equal((await errorName(() => verifyConsistencyCase(c))) === null, c.valid, c.desc);
});

test("signed tree heads", async () => {
  for (const c of doc.tree_heads.cases) {
    const run = () => {
      const sth = merkle.signedTreeHeadFromJson(c.signed_tree_head);
      if (c.message) assert.equal(toHex(merkle.treeHeadMessage(sth.head)), c.message, c.desc);
      merkle.verifyTreeHead(fromHex(c.public_key, 32), sth);
    };
    const error = await errorName(run);
    assert.equal(error === null, c.valid, `${c.desc}: ${error}`);
  }
});

const RFC6962 = join(ROOT, "tests/vectors/rfc6962");
const STRICTER_THAN_REFERENCE = new Set(["consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"]);

function cases(kind) {
  const names = readdirSync(join(RFC6962, kind), { recursive: true }).filter((n) => n.endsWith(".json"));
  assert.ok(names.length, `no ${kind} test data`);
  return names.sort().map((n) => `${kind}/${n.split("\\").join("/")}`);
}

const raw = (text) => (text === null || text === undefined ? null : b64decode(text));

test("transparency-dev/merkle inclusion data", async () => {
  for (const name of cases("inclusion")) {
    const c = JSON.parse(readFileSync(join(RFC6962, name), "utf8"));
    const run = () => merkle.verifyInclusion(raw(c.leafHash), c.leafIdx, c.treeSize, (c.proof || []).map(raw), raw(c.root));
    assert.equal((await errorName(run)) !== null, c.wantErr, name);
  }
});

test("transparency-dev/merkle consistency data", async () => {
  for (const name of cases("consistency")) {
    const c = JSON.parse(readFileSync(join(RFC6962, name), "utf8"));
    const run = () => merkle.verifyConsistency(c.size1, c.size2, raw(c.root1), raw(c.root2), (c.proof || []).map(raw));
    const wantErr = c.wantErr || STRICTER_THAN_REFERENCE.has(name);
    assert.equal((await errorName(run)) !== null, wantErr, name);
  }
});
