// The witnesses' entries the administrator pastes on the new-election page
// (witness_entries.js): found in the text as `voting witness init` and
// `voting witness status` print them, judged by witness.js's policy parser
// with tests/vectors/witness.json's verdicts, and every mistake named by a
// message of the catalogue, in Japanese and English.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { JS, vectors } from "./support.mjs";

const { WitnessEntriesError, jsonValues, witnessError, witnessesMember } = await import(JS + "witness_entries.js");
const doc = vectors("witness.json");
const catalogue = JSON.parse(readFileSync(new URL("../../voting/web/messages.json", import.meta.url), "utf8"));

const KEY_A = "5bd4ae02bfd9f128d906f8473448046667fd53df34a0327f7a4a8e6ad3d1c1c5";
const KEY_B = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
const AUDIT = { name: "監査事務局 (audit office)", public_key: KEY_A, url: "https://witness.audit.city.example" };
const UNION = { name: "職員組合", public_key: KEY_B };

/** What `voting witness init` prints: json.dumps(entry, ensure_ascii=False, indent=2). */
const printed = (entry) => JSON.stringify(entry, null, 2);

/** The error `fn` throws, checked to be a WitnessEntriesError whose message is in the catalogue. */
function mistake(fn) {
  try {
    fn();
  } catch (exc) {
    assert.ok(exc instanceof WitnessEntriesError, `${exc.name}: ${exc.message}`);
    assert.ok(catalogue[exc.key]?.ja && catalogue[exc.key]?.en, `${exc.key} is not in messages.json`);
    return exc;
  }
  assert.fail("no error");
}

test("entries one after another, as 'voting witness init' prints them; the quorum defaults to all", () => {
  const text = `${printed(AUDIT)}\n\n${printed(UNION)}\n`;
  assert.deepEqual(witnessesMember(text, ""), { quorum: 2, members: [AUDIT, UNION] });
  assert.deepEqual(witnessesMember(text, " 1 "), { quorum: 1, members: [AUDIT, UNION] });
});

test("a JSON array, one-line entries as 'voting witness status' prints them, commas between", () => {
  assert.deepEqual(witnessesMember(JSON.stringify([AUDIT, UNION]), "2"), { quorum: 2, members: [AUDIT, UNION] });
  const status = `  ${JSON.stringify(AUDIT)}\n  ${JSON.stringify(UNION)}`;
  assert.deepEqual(witnessesMember(status, ""), { quorum: 2, members: [AUDIT, UNION] });
  assert.deepEqual(witnessesMember(`${JSON.stringify(AUDIT)},\n${JSON.stringify(UNION)},`, ""), { quorum: 2, members: [AUDIT, UNION] });
});

test("a brace or quotation mark inside a name does not end its entry; url null is no url", () => {
  const odd = { name: 'a}b] "c" {d', public_key: KEY_B };
  assert.deepEqual(witnessesMember(printed(odd), ""), { quorum: 1, members: [odd] });
  assert.deepEqual(witnessesMember(JSON.stringify({ ...UNION, url: null }), ""), { quorum: 1, members: [UNION] });
});

test("nothing pasted is no witnesses; a quorum without them is a mistake on the quorum field", () => {
  assert.equal(witnessesMember("", ""), null);
  assert.equal(witnessesMember(" \n\t ", ""), null);
  const exc = mistake(() => witnessesMember("", "2"));
  assert.equal(exc.key, "create.witness_err_quorum_alone");
  assert.equal(exc.field, "quorum");
});

test("the mistakes, each in words and on its field", () => {
  const cases = [
    [`${printed(AUDIT)}\n{"name": "x",`, "", "create.witness_err_syntax", "entries", { line: 6 }],
    ["name: 監査事務局", "", "create.witness_err_syntax", "entries", { line: 1 }],
    [`${printed(AUDIT)}\n${printed(AUDIT).slice(0, -2)}`, "", "create.witness_err_syntax", "entries", { line: 6 }],
    [`{"name": "a", "public_key": "${KEY_A}"]`, "", "create.witness_err_syntax", "entries", { line: 1 }],
    [JSON.stringify({ ...UNION, public_key: KEY_B.toUpperCase() }), "", "create.witness_err_key", "entries", { n: "1" }],
    [`${printed(AUDIT)}\n${JSON.stringify({ ...UNION, public_key: KEY_B.slice(2) })}`, "", "create.witness_err_key", "entries", { n: "2" }],
    [JSON.stringify({ ...UNION, name: " 職員組合" }), "", "create.witness_err_name", "entries", { n: "1" }],
    [JSON.stringify({ ...UNION, url: "ftp://x.example" }), "", "create.witness_err_url", "entries", { n: "1" }],
    [JSON.stringify({ ...UNION, department: "x" }), "", "create.witness_err_shape", "entries", { n: "1" }],
    [JSON.stringify(["x"]), "", "create.witness_err_shape", "entries", { n: "1" }],
    [`${printed(UNION)}\n${printed({ ...UNION, name: "他" })}`, "", "create.witness_err_duplicate", "entries", {}],
    [JSON.stringify({ ...UNION, private_key: KEY_A, format: "x" }), "", "create.witness_err_state_file", "entries", { n: 1 }],
    [printed(UNION), "2", "create.witness_err_quorum", "quorum", { count: 1 }],
    [printed(UNION), "0", "create.witness_err_quorum", "quorum", { count: 1 }],
    [printed(UNION), "1.5", "create.witness_err_quorum", "quorum", { count: 1 }],
    [printed(UNION), "all", "create.witness_err_quorum", "quorum", { count: 1 }],
  ];
  for (const [text, quorum, key, field, params] of cases) {
    const exc = mistake(() => witnessesMember(text, quorum));
    assert.equal(exc.key, key, text);
    assert.equal(exc.field, field, text);
    for (const [name, value] of Object.entries(params)) assert.equal(exc.params[name], value, `${text}: ${name}`);
  }
  const many = Array.from({ length: 17 }, (_, i) => JSON.stringify({ name: `w${i}`, public_key: i.toString(16).padStart(64, "0") })).join("\n");
  assert.equal(mistake(() => witnessesMember(many, "")).key, "create.witness_err_too_many");
});

test("the same verdicts as crypto/witness.py on the vectors' policies", () => {
  let checked = 0;
  for (const c of doc.policies) {
    const w = c.witnesses;
    const pasteable = w && typeof w === "object" && !Array.isArray(w) && Array.isArray(w.members) && w.members.length > 0 &&
      Object.keys(w).sort().join(",") === "members,quorum" && Number.isInteger(w.quorum) && w.quorum >= 0;
    if (!pasteable) continue;
    for (const text of [w.members.map((m) => printed(m)).join("\n"), JSON.stringify(w.members)]) {
      if (c.valid) {
        assert.deepEqual(witnessesMember(text, String(w.quorum)), { quorum: c.quorum, members: c.members }, c.desc);
      } else {
        const exc = mistake(() => witnessesMember(text, String(w.quorum)));
        assert.notEqual(exc.key, "create.witness_err_other", `${c.desc}: ${exc.message}`);
      }
    }
    checked++;
  }
  assert.ok(checked >= 25, `${checked} policies`);
});

test("the server's reasons about witnesses are named; others are not", () => {
  const own = witnessError("a witness cannot have the server's own key: witnesses are independent of it");
  assert.equal(own.key, "create.witness_err_server_key");
  assert.equal(witnessError("witness 2: public_key is not an Ed25519 public key").params.n, "2");
  assert.equal(witnessError("witnesses.quorum must be an integer from 1 to the number of witnesses (0 without witnesses)", 3).field, "quorum");
  assert.equal(witnessError("something new about a witness").key, "create.witness_err_other");
  assert.equal(witnessError("unknown manifest fields: ['x']"), null);
  assert.equal(witnessError("title.ja must be non-empty text of at most 500 characters"), null);
});

test("jsonValues keeps the line of each value", () => {
  assert.deepEqual(jsonValues('\n{"a": 1}\n\n[2, {"b": "}"}]'), [{ value: { a: 1 }, line: 2 }, { value: [2, { b: "}" }], line: 4 }]);
});
