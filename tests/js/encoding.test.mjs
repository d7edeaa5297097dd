// tests/vectors/ballots.json "encodings" and tests/vectors/ristretto255.json,
// checked by the browser's modules (voting/web/static/js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { JS, errorName, vectors } from "./support.mjs";

const { canonicalJson, canonicalJsonText, encodeParts, hashToScalar, hashParts } = await import(JS + "encoding.js");
const { fromHex, toHex } = await import(JS + "bytes.js");
const { ristretto255_hasher } = await import(new URL("../vendor/noble.js", JS).href);
const { G, IDENTITY, ORDER, Point, Scalar } = await import(JS + "group.js");

const ballots = vectors("ballots.json");
const group = vectors("ristretto255.json");

function part(doc) {
  switch (doc.type) {
    case "point": return Point.fromHex(doc.hex, { allowIdentity: true });
    case "scalar": return Scalar.fromHex(doc.hex);
    case "bytes": return fromHex(doc.hex);
    case "text": return doc.value;
    case "int": return BigInt(doc.value);
    case "list": return doc.items.map(part);
    default: throw new Error(doc.type);
  }
}

test("encode_parts cases", async () => {
  for (const c of ballots.encodings.encode_parts.cases) {
    if (c.valid) assert.equal(toHex(encodeParts(...c.parts.map(part))), c.hex, c.comment);
    else assert.equal(await errorName(() => encodeParts(...c.parts.map(part))), "EncodingError", c.comment);
  }
});

test("encode_parts refuses booleans, floats and lone surrogates", async () => {
  assert.equal(await errorName(() => encodeParts(true)), "EncodingError");
  assert.equal(await errorName(() => encodeParts(1.5)), "EncodingError");
  assert.equal(await errorName(() => encodeParts("\ud800")), "EncodingError");
});

test("hash_to_scalar cases", () => {
  for (const c of ballots.encodings.hash_to_scalar.cases) {
    const parts = c.parts.map(part);
    assert.equal(toHex(encodeParts(c.tag, ...parts)), c.encoded_hex);
    assert.equal(toHex(hashParts(c.tag, ...parts)), c.sha512_hex);
    assert.equal(hashToScalar(c.tag, ...parts).hex(), c.scalar_hex);
  }
});

test("canonical_json cases", async () => {
  for (const c of ballots.encodings.canonical_json.cases) {
    const value = JSON.parse(c.input_json);
    if (c.valid) {
      assert.equal(canonicalJsonText(value), c.canonical, c.comment);
      assert.equal(toHex(canonicalJson(value)), c.canonical_hex, c.comment);
    } else {
      assert.equal(await errorName(() => canonicalJson(value)), "EncodingError", c.comment);
    }
  }
});

test("group order and generator", () => {
  assert.equal(ORDER, BigInt(group.group_order_l));
  assert.equal(G.hex(), group.generator);
});

test("RFC 9496 A.1: multiples of the generator", () => {
  for (const c of group.rfc9496_a1_generator_multiples.cases) {
    assert.equal(G.mul(new Scalar(BigInt(c.k))).hex(), c.encoding, `k = ${c.k}`);
  }
});

test("RFC 9496 A.2: invalid encodings are refused", async () => {
  for (const c of group.rfc9496_a2_invalid_encodings.cases) {
    assert.equal(await errorName(() => Point.fromHex(c.encoding)), c.error, c.reason);
  }
});

test("RFC 9496 A.3: element derivation from uniform bytes", () => {
  for (const c of group.rfc9496_a3_from_uniform_bytes.cases) {
    assert.equal(toHex(ristretto255_hasher.deriveToCurve(fromHex(c.input)).toBytes()), c.output, c.label ?? c.input);
  }
});

test("hash_to_group", () => {
  for (const c of group.hash_to_group.cases) {
    assert.equal(Point.hashToGroup(c.tag, fromHex(c.data)).hex(), c.output, c.tag);
  }
});

test("point decoding", async () => {
  for (const c of group.point_decoding.cases) {
    const run = () => Point.fromHex(c.hex, { allowIdentity: c.allow_identity });
    if (c.valid) assert.equal((await run()).hex(), c.hex, c.comment);
    else assert.equal(await errorName(run), c.error, c.comment);
  }
});

test("scalar decoding", async () => {
  for (const c of group.scalar_decoding.cases) {
    const run = () => Scalar.fromHex(c.hex);
    if (c.valid) assert.equal(run().value, BigInt(c.value), c.comment);
    else assert.equal(await errorName(run), c.error, c.comment);
  }
});

test("identity arithmetic", () => {
  assert.ok(G.mul(new Scalar(0n)).equals(IDENTITY));
  assert.ok(IDENTITY.mul(new Scalar(5n)).isIdentity());
  assert.ok(G.sub(G).isIdentity());
});
