// The witnesses an administrator names on the new-election page
// (pages/admin_new.js): the entries `voting witness init` prints — JSON
// objects {name, public_key, url?}, pasted one after another or as a JSON
// array — and the quorum become the manifest's `witnesses` member. The rules
// are witness.js's parseWitnessPolicy (crypto/witness.py's, so the server's);
// this module only finds the entries in the pasted text and says what is wrong
// in words of the message catalogue (create.witness_err_*), never in colour only.

import { ManifestError } from "./errors.js";
import { MAX_WITNESSES, parseWitnessPolicy } from "./witness.js";

/** A mistake in the witnesses' fields: `key` is a catalogue key, `params` its
 * placeholders, `field` "entries" (the text area) or "quorum". */
export class WitnessEntriesError extends Error {
  constructor(key, params = {}, field = "entries") {
    super(params.detail ? `${key}: ${params.detail}` : key);
    this.name = "WitnessEntriesError";
    this.key = key;
    this.params = params;
    this.field = field;
  }
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function lineAt(text, index) {
  return text.slice(0, index).split("\n").length;
}

/**
 * The JSON objects and arrays in `text`, in order, separated by white space or
 * commas (anything else is a mistake): [{value, line}]. Strings are respected,
 * so a brace inside a witness's name does not end its entry.
 */
export function jsonValues(text) {
  const values = [];
  let i = 0;
  for (;;) {
    while (i < text.length && /[\s,]/u.test(text[i])) i++;
    if (i >= text.length) return values;
    const start = i;
    const line = lineAt(text, start);
    if (text[i] !== "{" && text[i] !== "[") throw new WitnessEntriesError("create.witness_err_syntax", { line });
    let depth = 0;
    let inString = false;
    for (; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
      } else if (c === '"') {
        inString = true;
      } else if (c === "{" || c === "[") {
        depth++;
      } else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      }
    }
    let value;
    try {
      if (depth !== 0) throw new SyntaxError("unclosed");
      value = JSON.parse(text.slice(start, i));
    } catch {
      throw new WitnessEntriesError("create.witness_err_syntax", { line });
    }
    values.push({ value, line });
  }
}

// The parser's messages (crypto/witness.py's), in the catalogue's words. A
// message not listed is shown as it is, in create.witness_err_other.
const PARSER_MESSAGES = [
  [/^witness (\d+): must be an object/, "create.witness_err_shape", "entries"],
  [/^witness (\d+): name must be/, "create.witness_err_name", "entries"],
  [/^witness (\d+): public_key must be/, "create.witness_err_key", "entries"],
  [/^witness (\d+): public_key is not an Ed25519/, "create.witness_err_key", "entries"],
  [/^witness (\d+): url must be/, "create.witness_err_url", "entries"],
  [/two witnesses have the same public key/, "create.witness_err_duplicate", "entries"],
  [/^witnesses\.members must be a list of at most/, "create.witness_err_too_many", "entries"],
  [/^witnesses\.quorum must be/, "create.witness_err_quorum", "quorum"],
  [/server's own key/, "create.witness_err_server_key", "entries"],
];

/**
 * A message about the witnesses (from witness.js, or the server's
 * invalid_manifest detail) as a WitnessEntriesError; null when it is not about
 * the witnesses. `count` is the number of witnesses, for the quorum's message.
 */
export function witnessError(detail, count = 0) {
  for (const [pattern, key, field] of PARSER_MESSAGES) {
    const match = pattern.exec(detail);
    if (match) return new WitnessEntriesError(key, { n: match[1] ?? "", count, max: MAX_WITNESSES, detail }, field);
  }
  return /witness/i.test(detail) ? new WitnessEntriesError("create.witness_err_other", { detail }) : null;
}

/**
 * The pasted entries and the quorum field's value -> the manifest's
 * `witnesses` member ({quorum, members}), or null for no witnesses (both
 * fields empty). An empty quorum is all of the witnesses. Throws
 * WitnessEntriesError.
 */
export function witnessesMember(entriesText, quorumText) {
  const members = [];
  for (const { value } of jsonValues(entriesText)) {
    for (const entry of Array.isArray(value) ? value : [value]) {
      const n = members.length + 1;
      // A witness's state file (voting witness init --state) holds its private key: never put it anywhere.
      if (isObject(entry) && "private_key" in entry) throw new WitnessEntriesError("create.witness_err_state_file", { n });
      // `url: null` is no url, as `voting election create --witness` reads it.
      members.push(isObject(entry) && entry.url === null ? Object.fromEntries(Object.entries(entry).filter(([k]) => k !== "url")) : entry);
    }
  }
  const quorumValue = String(quorumText ?? "").trim();
  if (!members.length) {
    if (quorumValue) throw new WitnessEntriesError("create.witness_err_quorum_alone", {}, "quorum");
    return null;
  }
  if (quorumValue && !/^[0-9]{1,3}$/.test(quorumValue)) {
    throw new WitnessEntriesError("create.witness_err_quorum", { count: members.length }, "quorum");
  }
  const doc = { quorum: quorumValue ? Number(quorumValue) : members.length, members };
  let policy;
  try {
    policy = parseWitnessPolicy(doc);
  } catch (exc) {
    if (exc instanceof ManifestError) throw witnessError(exc.message, members.length) || new WitnessEntriesError("create.witness_err_other", { detail: exc.message });
    throw exc;
  }
  return {
    quorum: policy.quorum,
    members: policy.witnesses.map((w) => ({ name: w.name, public_key: w.publicKeyHex, ...(w.url === null ? {} : { url: w.url }) })),
  };
}
