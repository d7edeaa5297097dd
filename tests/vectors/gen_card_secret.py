"""Vectors for the card secret: ``card_secret.json`` (docs/parts/credentials.md,
"Card secret"; crypto/credentials ``card_secret_point``, ``card_secret_message``,
``card_secret``).

Everything is fixed: the certificates and private keys are those of
``credentials.json`` (gen_credentials), RSA PKCS#1 v1.5 and Ed25519 sign
deterministically, and ECDH is a function of the key and the point. Where a
card computes the value on the card, this file computes it with the published
test key, so anyone can check a card implementation (or a port of the
derivation) byte for byte. The point's search is spelled out: each candidate
counter with its x, and whether x is on P-256.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from crypto import credentials as cr
from crypto.encoding import encode_parts
from tests.vectors.gen_credentials import _pem, _Pki

ELECTIONS = ("remote-work-2026", "committee-2026-04")


def _point_search() -> list[dict[str, object]]:
    """Every counter tried up to the first x on the curve."""
    tried = []
    for counter in range(64):
        x = hashlib.sha256(encode_parts(cr.CARD_SECRET_POINT_TAG, counter.to_bytes(4, "big"))).digest()
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x02" + x)
            on_curve = True
        except ValueError:
            on_curve = False
        tried.append({"counter": counter, "x": x.hex(), "on_curve": on_curve})
        if on_curve:
            return tried
    raise AssertionError("no x on the curve in 64 tries")


def _value(kind: str, key, message: bytes) -> bytes:
    if kind == "rsa-signature":
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    if kind == "eddsa-signature":
        return key.sign(message)
    point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), cr.card_secret_point())
    return key.exchange(ec.ECDH(), point)


def _cases(pki: _Pki) -> list[dict[str, object]]:
    cases = []
    for label, kind in (("rs256", "rsa-signature"), ("es256", "ecdh"), ("eddsa", "eddsa-signature")):
        key, certificate = pki.keys[label], pki.certs[label]
        message = cr.card_secret_message(certificate)
        value = _value(kind, key, message)
        if kind != "ecdh":
            # what a card returns through sign_jws is exactly this signature
            assert cr._signature_valid(certificate.public_key(), value, message)
        secret = cr.card_secret(kind, value)
        cases.append(
            {
                "label": label,
                "kind": kind,
                "certificate": _pem(certificate),
                "certificate_sha256": hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
                "message": message.hex(),
                "value": value.hex(),
                "secret": secret.hex(),
                "voting_credentials": {
                    election: cr.VotingCredential.derive(secret, election).hex for election in ELECTIONS
                },
            }
        )
    return cases


def generate() -> dict[str, object]:
    pki = _Pki()
    search = _point_search()
    point = cr.card_secret_point()
    assert point[1:33].hex() == search[-1]["x"]
    return {
        "card_secret.json": {
            "description": (
                "The card secret (docs/parts/credentials.md, 'Card secret'). point: the search for "
                "card_secret_point() (x = SHA-256(encode_parts(T tag, B counter as 4 bytes BE)), the first x "
                "on P-256, even y) and the point, uncompressed. cases: for each key kind, the certificate, "
                "card_secret_message(certificate), the value a card computes (RS256 or Ed25519 signature of "
                "the message, or the x-coordinate of d times the point), card_secret(kind, value), and the "
                "voting credentials it derives. The private keys are those of credentials.json, published "
                "test keys."
            ),
            "tags": {
                "point": cr.CARD_SECRET_POINT_TAG,
                "message": cr.CARD_SECRET_MESSAGE_TAG,
                "secret": cr.CARD_SECRET_TAG,
            },
            "point": {"search": search, "uncompressed": point.hex()},
            "cases": _cases(pki),
        }
    }
