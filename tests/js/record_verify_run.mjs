// The record verifier of the trustee page (record_verify.js) over records made
// by Python, for tests/test_record_verify_js.py: `node record_verify_run.mjs
// corpus.json` where the corpus is [{name, files: {path: base64} | zip: base64,
// server_key?, crls_after_events, now_ms, trust_anchors?: [base64 DER]}];
// prints {name: {check: [status, first failure or note], attested: count}}.
import { readFileSync } from "node:fs";
import { JS } from "./support.mjs";

const { verifyRecord, readRecordZip } = await import(JS + "record_verify.js");

const corpus = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = {};
for (const item of corpus) {
  const files = item.zip
    ? readRecordZip(new Uint8Array(Buffer.from(item.zip, "base64")))
    : Object.fromEntries(Object.entries(item.files).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, "base64"))]));
  const report = await verifyRecord(files, {
    serverKey: item.server_key ? new Uint8Array(Buffer.from(item.server_key, "hex")) : null,
    crlsAfterEvents: item.crls_after_events,
    now: item.now_ms,
    trustAnchors: item.trust_anchors ? item.trust_anchors.map((a) => new Uint8Array(Buffer.from(a, "base64"))) : null,
  });
  out[item.name] = Object.fromEntries(report.checks.map((c) => [c.number, [c.status, c.failures[0] || c.note]]));
  out[item.name].attested = report.attestedRegistrations;
}
process.stdout.write(JSON.stringify(out));
