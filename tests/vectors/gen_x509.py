"""Test vectors for certificate chains and CRLs (static/js/x509.js against
crypto/credentials): ``x509.json``.

Each chain case is judged here by the Python code the trustee client and the
record verifier use — ``TrustStore.verify_chain`` (with, when the case names an
employee, ``check_key`` and ``employee_id_of`` first, as ``_verify_signed``),
and each CRL case by ``check_revocation`` after it — and carries the verdict
("ok" or the error code), which the JavaScript must reproduce. Keys derive from
labels (the RSA ones are gen_credentials.py's), serials and dates are fixed and
ECDSA signs deterministically, so regenerating gives the same file.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from crypto import credentials as cr
from crypto.errors import CertificateError, CryptoError
from tests.vectors.gen_credentials import fixed_key

ISSUED = datetime(2025, 1, 1, tzinfo=UTC)
EXPIRES = datetime(2035, 1, 1, tzinfo=UTC)
NOW = datetime(2030, 1, 1, tzinfo=UTC)
ORG = "City Hall Test"


def _name(cn: str, employee_id: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG)]
    if employee_id:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, employee_id))
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ku(*, sign: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(sign, False, False, False, False, ca, ca, False, False)


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    public_key,
    signer,
    serial: int,
    extensions: list,
    *,
    not_before: datetime = ISSUED,
    not_after: datetime = EXPIRES,
    digest=hashes.SHA256(),  # noqa: B008
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
        .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        return builder.sign(signer, digest, ecdsa_deterministic=True)
    return builder.sign(signer, digest)


def _ca_exts(key, issuer_key, path_length: int, *, ca: bool = True, keycert: bool = True, basic: bool = True) -> list:
    exts = [(x509.KeyUsage(False, False, False, False, False, keycert, True, False, False), True),
            (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)]
    if basic:
        exts.insert(0, (x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), True))
    if issuer_key is not key:
        exts.append((x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False))
    return exts


def _leaf_exts(issuer_key, employee_id: str | None, *, eku=ExtendedKeyUsageOID.CLIENT_AUTH, aki: bool = True, extra=()) -> list:
    exts = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_ku(sign=True), True),
        (x509.ExtendedKeyUsage([eku]), False),
    ]
    if employee_id:
        exts.append((x509.SubjectAlternativeName([x509.UniformResourceIdentifier(cr.EMPLOYEE_URI_PREFIX + employee_id)]), False))
    if aki:
        exts.append((x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False))
    return [*exts, *extra]


def _p384(label: str) -> ec.EllipticCurvePrivateKey:
    seed = hashlib.sha256(("votingpilot test key " + label).encode()).digest()
    return ec.derive_private_key(int.from_bytes(seed, "big"), ec.SECP384R1())


def _der(c: x509.Certificate | x509.CertificateRevocationList) -> str:
    return base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()


def _flip_signature(c: x509.Certificate) -> str:
    der = bytearray(c.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature value, not the DER framing
    return base64.b64encode(bytes(der)).decode()


def _load(items: list[str]) -> list[x509.Certificate]:
    return [cr._load_der_certificate(base64.b64decode(d), CertificateError) for d in items]


def chain_verdict(chain: list[str], roots: list[str], now: datetime, employee_id: str | None) -> str:
    """What the trustee client and the record verifier decide about this chain: "ok" or the error code."""
    try:
        store = cr.TrustStore.from_der([base64.b64decode(r) for r in roots])
        certificates = _load(chain)
        if employee_id is not None:
            cr.check_key(certificates[0].public_key())
            if cr.employee_id_of(certificates[0]) != employee_id:
                raise CertificateError("another employee")
        store.verify_chain(certificates[0], certificates[1:], now)
    except CryptoError as exc:
        return exc.code
    return "ok"


def crl_verdict(chain: list[str], roots: list[str], crls: list[str], now: datetime) -> str:
    try:
        store = cr.TrustStore.from_der([base64.b64decode(r) for r in roots])
        certificates = _load(chain)
        built = store.verify_chain(certificates[0], certificates[1:], now)
        cr.check_revocation(built, [cr.crl_from_der(base64.b64decode(c)) for c in crls], now=now)
    except CryptoError as exc:
        return exc.code
    return "ok"


def _crl(issuer_name: x509.Name, key, revoked: list[int], *, this: datetime, next_: datetime, extra=()) -> x509.CertificateRevocationList:
    builder = x509.CertificateRevocationListBuilder().issuer_name(issuer_name).last_update(this).next_update(next_)
    builder = builder.add_extension(x509.CRLNumber(1), critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(ISSUED + timedelta(days=30)).build()
        )
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    return builder.sign(key, hashes.SHA256())


def generate() -> dict[str, object]:
    root_key, issuing_key = fixed_key("x509 root"), fixed_key("x509 issuing")
    root_name, issuing_name = _name("Test Root CA"), _name("Test Issuing CA")
    root = _cert(root_name, root_name, root_key.public_key(), root_key, 1, _ca_exts(root_key, root_key, 1))
    issuing = _cert(issuing_name, root_name, issuing_key.public_key(), root_key, 2, _ca_exts(issuing_key, root_key, 0))

    def leaf(label: str, employee_id: str | None = "T0002", *, key=None, issuer_key=issuing_key, serial: int = 100, **kw):
        key = key or fixed_key("x509 leaf " + label)
        dates = {k: kw.pop(k) for k in ("not_before", "not_after", "digest") if k in kw}
        return _cert(_name("Trustee " + label, employee_id), issuing_name, key.public_key(), issuer_key, serial, _leaf_exts(issuer_key, employee_id, **kw), **dates)

    good = leaf("good")
    # another CA that names the same trustee: the dishonest server's own
    other_key, other_issuing_key = fixed_key("x509 other root"), fixed_key("x509 other issuing")
    other_root = _cert(root_name, root_name, other_key.public_key(), other_key, 1, _ca_exts(other_key, other_key, 1))
    other_issuing = _cert(issuing_name, root_name, other_issuing_key.public_key(), other_key, 2, _ca_exts(other_issuing_key, other_key, 0))
    impostor = leaf("impostor", issuer_key=other_issuing_key)
    # an issuing CA with RSA-2048 (PKCS#1 v1.5 signatures) and one with SHA-384
    rsa_key = fixed_key("", "RSA-2048")
    rsa_issuing = _cert(_name("RSA Issuing CA"), root_name, rsa_key.public_key(), root_key, 3, _ca_exts(rsa_key, root_key, 0))
    rsa_leaf = _cert(_name("Trustee rsa-ca", "T0002"), _name("RSA Issuing CA"), fixed_key("x509 leaf rsa-ca").public_key(), rsa_key, 101, _leaf_exts(rsa_key, "T0002"))
    weak_rsa = fixed_key("", "RSA-1024")
    weak_issuing = _cert(_name("Weak Issuing CA"), root_name, weak_rsa.public_key(), root_key, 4, _ca_exts(weak_rsa, root_key, 0))
    weak_issued = _cert(_name("Trustee weak-ca", "T0002"), _name("Weak Issuing CA"), fixed_key("x509 leaf weak-ca").public_key(), weak_rsa, 102, _leaf_exts(weak_rsa, "T0002"))

    def ca_variant(serial: int, **kw) -> x509.Certificate:
        dates = {k: kw.pop(k) for k in ("not_before", "not_after") if k in kw}
        return _cert(issuing_name, root_name, issuing_key.public_key(), root_key, serial, _ca_exts(issuing_key, root_key, 0, **kw), **dates)

    strict_root = _cert(root_name, root_name, root_key.public_key(), root_key, 5, _ca_exts(root_key, root_key, 0))
    not_ca_root = _cert(root_name, root_name, root_key.public_key(), root_key, 6, _ca_exts(root_key, root_key, 1, ca=False))
    R = [_der(root)]  # noqa: N806
    cases: list[tuple[str, list[str], list[str], str | None]] = [
        ("valid P-256 chain", [_der(good), _der(issuing)], R, "T0002"),
        ("valid, no employee asked", [_der(good), _der(issuing)], R, None),
        ("valid, root included in the chain", [_der(good), _der(issuing), _der(root)], R, "T0002"),
        ("valid Ed25519 leaf", [_der(leaf("ed", key=fixed_key("x509 ed", "Ed25519"))), _der(issuing)], R, "T0002"),
        ("valid RSA-2048 leaf", [_der(leaf("rsa", key=fixed_key("", "RSA-2048"), serial=103)), _der(issuing)], R, "T0002"),
        ("valid RSA-2048 issuing CA", [_der(rsa_leaf), _der(rsa_issuing)], R, "T0002"),
        ("valid SHA-384 signature", [_der(leaf("sha384", digest=hashes.SHA384())), _der(issuing)], R, "T0002"),
        ("valid, intermediates in another order", [_der(good), _der(rsa_issuing), _der(issuing)], R, "T0002"),
        ("valid, two roots", [_der(good), _der(issuing)], [_der(other_root), _der(root)], "T0002"),
        ("wrong root: another CA naming the trustee", [_der(impostor), _der(other_issuing)], R, "T0002"),
        ("wrong root: the right chain, the other root", [_der(good), _der(issuing)], [_der(other_root)], "T0002"),
        ("intermediate missing", [_der(good)], R, "T0002"),
        ("leaf expired", [_der(leaf("old", not_after=datetime(2029, 12, 31, tzinfo=UTC))), _der(issuing)], R, "T0002"),
        ("leaf not yet valid", [_der(leaf("new", not_before=datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC))), _der(issuing)], R, "T0002"),
        ("leaf valid to the second", [_der(leaf("edge", not_after=NOW)), _der(issuing)], R, "T0002"),
        ("issuing CA expired", [_der(good), _der(ca_variant(7, not_after=datetime(2029, 1, 1, tzinfo=UTC)))], R, "T0002"),
        ("issuing CA without the CA flag", [_der(good), _der(ca_variant(8, ca=False))], R, "T0002"),
        ("issuing CA without basicConstraints", [_der(good), _der(ca_variant(9, basic=False))], R, "T0002"),
        ("issuing CA without keyCertSign", [_der(good), _der(ca_variant(10, keycert=False))], R, "T0002"),
        ("issuing CA with an RSA-1024 key", [_der(weak_issued), _der(weak_issuing)], R, "T0002"),
        ("path length exceeded", [_der(good), _der(issuing)], [_der(strict_root)], "T0002"),
        ("trust anchor not a CA", [_der(good), _der(issuing)], [_der(not_ca_root)], "T0002"),
        ("wrong employee id", [_der(good), _der(issuing)], R, "T0003"),
        ("two employee URIs", [_der(leaf("two", None, extra=[(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(cr.EMPLOYEE_URI_PREFIX + "T0002"), x509.UniformResourceIdentifier(cr.EMPLOYEE_URI_PREFIX + "T0003")]), False)])),
            _der(issuing)], R, "T0002"),
        ("leaf without SAN", [_der(leaf("nosan", None)), _der(issuing)], R, None),
        ("weak key: RSA-1024 leaf", [_der(leaf("rsa1024", key=fixed_key("", "RSA-1024"), serial=104)), _der(issuing)], R, "T0002"),
        ("weak key: P-384 leaf", [_der(leaf("p384", key=_p384("x509 p384"))), _der(issuing)], R, "T0002"),
        ("bad signature on the leaf", [_flip_signature(good), _der(issuing)], R, "T0002"),
        ("bad signature on the issuing CA", [_der(good), _flip_signature(issuing)], R, "T0002"),
        ("leaf signed by another key under the same name", [_der(leaf("forged", issuer_key=fixed_key("x509 forger"))), _der(issuing)], R, "T0002"),
        ("leaf for serverAuth only", [_der(leaf("server", eku=ExtendedKeyUsageOID.SERVER_AUTH)), _der(issuing)], R, "T0002"),
        ("leaf without authorityKeyIdentifier", [_der(leaf("noaki", aki=False)), _der(issuing)], R, "T0002"),
        ("leaf with an unknown critical extension", [_der(leaf("crit", extra=[(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), True)])), _der(issuing)], R, "T0002"),
        ("leaf claiming to be a CA", [_der(_cert(_name("Trustee ca", "T0002"), issuing_name, fixed_key("x509 leaf ca").public_key(), issuing_key, 105,
            [(x509.BasicConstraints(ca=True, path_length=None), True), *_leaf_exts(issuing_key, "T0002")[1:]])), _der(issuing)], R, "T0002"),
        ("not DER", [base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), _der(issuing)], R, "T0002"),
    ]
    chains = [
        {"name": name, "chain": chain, "roots": roots, "employee_id": eid, "verdict": chain_verdict(chain, roots, NOW, eid)}
        for name, chain, roots, eid in cases
    ]

    revoked_leaf = leaf("revoked", serial=200)
    later = NOW + timedelta(days=7)
    root_crl = _crl(root_name, root_key, [], this=NOW - timedelta(days=1), next_=later)
    issuing_crl = _crl(issuing_name, issuing_key, [200], this=NOW - timedelta(days=1), next_=later)
    chain = [_der(good), _der(issuing)]
    crl_cases = [
        ("current CRLs, not revoked", chain, [root_crl, issuing_crl]),
        ("the leaf revoked", [_der(revoked_leaf), _der(issuing)], [root_crl, issuing_crl]),
        ("an older CRL also lists the leaf", [_der(revoked_leaf), _der(issuing)],
         [root_crl, _crl(issuing_name, issuing_key, [], this=NOW - timedelta(hours=1), next_=later), _crl(issuing_name, issuing_key, [200], this=NOW - timedelta(days=3), next_=later)]),
        ("no CRL from the root", chain, [issuing_crl]),
        ("CRL signed by another key", chain, [root_crl, _crl(issuing_name, fixed_key("x509 forger"), [], this=NOW - timedelta(days=1), next_=later)]),
        ("CRL out of date", chain, [root_crl, _crl(issuing_name, issuing_key, [], this=NOW - timedelta(days=8), next_=NOW)]),
        ("CRL not yet valid", chain, [root_crl, _crl(issuing_name, issuing_key, [], this=NOW + timedelta(seconds=61), next_=later)]),
        ("CRL issued within the clock skew", chain, [root_crl, _crl(issuing_name, issuing_key, [], this=NOW + timedelta(seconds=60), next_=later)]),
        ("delta CRL", chain, [root_crl, _crl(issuing_name, issuing_key, [], this=NOW - timedelta(days=1), next_=later, extra=[(x509.DeltaCRLIndicator(1), True)])]),
    ]
    crls = [
        {"name": name, "chain": c, "roots": R, "crls": [_der(x) for x in cl], "verdict": crl_verdict(c, R, [_der(x) for x in cl], NOW)}
        for name, c, cl in crl_cases
    ]
    root_pem = root.public_bytes(serialization.Encoding.PEM).decode()
    return {"x509.json": {
        "now": NOW.isoformat().replace("+00:00", "Z"),
        "root_pem": root_pem,
        "root_fingerprint": cr.certificate_fingerprint(root),
        "chains": chains,
        "crls": crls,
        "expired_detail": "a certificate in the chain is expired or not yet valid",
    }}


if __name__ == "__main__":
    import json
    from pathlib import Path

    for name, doc in generate().items():
        (Path(__file__).parent / name).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
