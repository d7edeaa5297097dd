"""Certificate login, revocation, ballot signatures and credential files
(crypto/credentials.py, crypto/ca.py; docs/parts/credentials.md).

Every way a login can be wrong has a test of its own. Keys are made once per
module (RSA key generation is slow); every check gets ``now`` explicitly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import ca
from crypto import credentials as cr
from crypto.encoding import canonical_json
from crypto.errors import (
    AudienceError,
    BallotSignatureError,
    CertificateError,
    CertificateRevoked,
    CredentialError,
    CrlError,
    NonceError,
    TokenExpired,
    TokenFormatError,
    TokenSignatureError,
    TokenSubjectError,
    WeakKeyError,
)
from tests.vectors import gen_credentials as vectors
from tests.vectors.gen_credentials import b64url, build_leaf, jws, payload, raw_sign, x5c

NOW = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)
ISSUED = NOW - timedelta(days=30)
AUD = "https://vote.city-hall.example.jp"
FINGERPRINT = hashlib.sha256(b"election").digest()
TRACKING = hashlib.sha256(b"ballot").digest()
VECTORS = Path(__file__).parent / "vectors" / "credentials.json"


# --- fixtures ----------------------------------------------------------------------


class Pki:
    """A root, an issuing CA, current CRLs, and an unrelated CA."""

    def __init__(self) -> None:
        self.root = ca.create_root_ca("Test Root", now=ISSUED)
        self.issuing = ca.create_issuing_ca(self.root, "Test Issuing", now=ISSUED)
        self.trust = cr.TrustStore((self.root.certificate,))
        self.root_crl = self.crl(self.root, [])
        self.other_root = ca.create_root_ca("Other Root", now=ISSUED, organization="Elsewhere")
        self.other_issuing = ca.create_issuing_ca(self.other_root, "Other Issuing", now=ISSUED)

    def crl(
        self,
        authority: ca.Authority,
        revoked: list,
        *,
        this_update: datetime = NOW - timedelta(hours=1),
        next_update: datetime = NOW + timedelta(days=7),
    ) -> x509.CertificateRevocationList:
        return ca.build_crl(
            authority, revoked, now=this_update, next_update=next_update, crl_number=1
        )

    def crls(self, revoked: list | None = None) -> list[x509.CertificateRevocationList]:
        return [self.root_crl, self.crl(self.issuing, revoked or [])]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
def creds(pki: Pki) -> dict[str, cr.Credential]:
    return {
        "ES256": ca.enroll_employee(pki.issuing, employee_id="E0001", name="山田 太郎", now=ISSUED),
        "RS256": ca.enroll_employee(
            pki.issuing, employee_id="E0002", name="鈴木 花子", now=ISSUED, key_type="RSA-2048"
        ),
        "EdDSA": ca.enroll_employee(
            pki.issuing, employee_id="E0003", name="佐藤 次郎", now=ISSUED, key_type="Ed25519"
        ),
    }


@pytest.fixture(scope="module")
def es(creds: dict[str, cr.Credential]) -> cr.Credential:
    return creds["ES256"]


def login(
    cred: cr.Credential, registry: cr.MemoryNonceRegistry, *, now: datetime = NOW, **kwargs: object
) -> str:
    return cr.make_login_token(
        cred.private_key, cred.chain, nonce=registry.issue(now), audience=AUD, now=now, **kwargs
    )


def verify(
    token: str,
    pki: Pki,
    registry: cr.MemoryNonceRegistry | None = None,
    *,
    crls: list | None = None,
    audience: str = AUD,
    now: datetime = NOW,
) -> cr.VerifiedLogin:
    consume = registry.consumer(now) if registry else (lambda nonce: True)
    return cr.verify_login_token(
        token,
        trust_store=pki.trust,
        crls=pki.crls() if crls is None else crls,
        audience=audience,
        now=now,
        consume_nonce=consume,
    )


def leaf(
    pki: Pki,
    key: object,
    employee_id: str = "E0100",
    *,
    issuer: ca.Authority | None = None,
    not_before: datetime = ISSUED,
    not_after: datetime = NOW + timedelta(days=365),
    **kwargs: object,
):
    """A hand-built leaf and its chain, for certificates that break the profile."""
    issuer = issuer or pki.issuing
    cert = build_leaf(
        issuer,
        key.public_key(),
        employee_id=employee_id,
        name="Test",
        not_before=not_before,
        not_after=not_after,
        serial=x509.random_serial_number(),
        **kwargs,
    )
    return cert, [cert, issuer.certificate]


def crafted(key: object, chain: list, *, alg: str | None = None, **changes: object) -> str:
    """A token with any header alg and payload, signed by ``key``."""
    body = payload(cr.employee_id_of(chain[0]), "n" * 22, iat=NOW)
    body.update(changes)
    return jws({"alg": alg or vectors.alg_of(key), "x5c": x5c(chain)}, body, key)


# --- happy paths ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_login_succeeds_for_each_key_type(
    pki: Pki, creds: dict[str, cr.Credential], alg: str
) -> None:
    cred = creds[alg]
    registry = cr.MemoryNonceRegistry()
    token = login(cred, registry)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == alg and len(header["x5c"]) == 2
    result = verify(token, pki, registry)
    assert result.employee_id == cred.employee_id
    assert result.name == cred.name
    der = cred.certificate.public_bytes(serialization.Encoding.DER)
    assert result.fingerprint == hashlib.sha256(der).hexdigest()
    assert result.certificate == cred.certificate
    assert result.issuer == pki.issuing.certificate.subject.rfc4514_string()
    assert result.chain == (cred.certificate, pki.issuing.certificate, pki.root.certificate)
    assert cr.algorithm_for_key(result.public_key) == alg
    assert result.to_json()["employee_id"] == cred.employee_id


def test_es256_signature_is_raw_r_s(pki: Pki, es: cr.Credential) -> None:
    token = login(es, cr.MemoryNonceRegistry())
    assert len(base64.urlsafe_b64decode(token.split(".")[2] + "==")) == 64


def test_token_within_clock_skew_is_accepted(pki: Pki, es: cr.Credential) -> None:
    token = crafted(
        es.private_key,
        list(es.chain),
        iat=int(NOW.timestamp()) + 50,
        exp=int(NOW.timestamp()) + 170,
    )
    assert verify(token, pki).employee_id == es.employee_id


def test_chain_may_include_the_root(pki: Pki, es: cr.Credential) -> None:
    token = crafted(es.private_key, [*es.chain, pki.root.certificate])
    assert verify(token, pki).employee_id == es.employee_id


# --- certificates ---------------------------------------------------------------------


def test_expired_certificate(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    _, chain = leaf(pki, key, not_before=ISSUED, not_after=NOW - timedelta(days=1))
    with pytest.raises(CertificateError, match="expired or not yet valid"):
        verify(crafted(key, chain), pki)


def test_not_yet_valid_certificate(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    _, chain = leaf(
        pki, key, not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=30)
    )
    with pytest.raises(CertificateError, match="expired or not yet valid"):
        verify(crafted(key, chain), pki)


def test_revoked_certificate(pki: Pki, es: cr.Credential) -> None:
    entry = ca.revoke(
        pki.issuing,
        es.certificate,
        now=NOW - timedelta(hours=2),
        reason=x509.ReasonFlags.key_compromise,
    )
    assert entry.serial_number == es.certificate.serial_number
    with pytest.raises(CertificateRevoked):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=pki.crls([entry]))


def test_revoked_issuing_ca(pki: Pki, es: cr.Credential) -> None:
    entry = ca.revoke(pki.root, pki.issuing.certificate, now=NOW - timedelta(hours=2))
    crls = [pki.crl(pki.root, [entry]), pki.crl(pki.issuing, [])]
    with pytest.raises(CertificateRevoked):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=crls)


def test_unknown_ca(pki: Pki) -> None:
    stranger = ca.enroll_employee(
        pki.other_issuing, employee_id="E0001", name="山田 太郎", now=ISSUED
    )
    with pytest.raises(CertificateError, match="not trusted"):
        verify(login(stranger, cr.MemoryNonceRegistry()), pki)


def test_chain_without_issuing_ca(pki: Pki, es: cr.Credential) -> None:
    with pytest.raises(CertificateError):
        verify(crafted(es.private_key, [es.certificate]), pki)


def test_certificate_without_client_auth_eku(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    _, chain = leaf(pki, key, eku=False)
    with pytest.raises(CertificateError, match="clientAuth|extended key usage"):
        verify(crafted(key, chain), pki)


def test_certificate_with_wrong_key_usage(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    _, chain = leaf(pki, key, key_usage="key_encipherment")
    with pytest.raises(CertificateError, match="digital signatures"):
        verify(crafted(key, chain), pki)


def test_leaf_rsa_1024_is_weak(pki: Pki) -> None:
    key = vectors.fixed_key("rsa1024", "RSA-1024")
    _, chain = leaf(pki, key)
    with pytest.raises(WeakKeyError, match="1024"):
        verify(crafted(key, chain), pki)


def test_leaf_p384_is_refused(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    _, chain = leaf(pki, key)
    token = jws(
        {"alg": "ES256", "x5c": x5c(chain)},
        payload("E0100", "n" * 22, iat=NOW),
        vectors.fixed_key("x"),
    )
    with pytest.raises(WeakKeyError, match="P-256"):
        verify(token, pki)


# --- nonces, audience, time, subject ----------------------------------------------------


def test_replayed_nonce(pki: Pki, es: cr.Credential) -> None:
    registry = cr.MemoryNonceRegistry()
    token = login(es, registry)
    verify(token, pki, registry)
    with pytest.raises(NonceError):
        verify(token, pki, registry)


def test_unknown_nonce(pki: Pki, es: cr.Credential) -> None:
    token = cr.make_login_token(es.private_key, es.chain, nonce="x" * 43, audience=AUD, now=NOW)
    with pytest.raises(NonceError):
        verify(token, pki, cr.MemoryNonceRegistry())


def test_expired_nonce(pki: Pki, es: cr.Credential) -> None:
    registry = cr.MemoryNonceRegistry(ttl_s=60)
    nonce = registry.issue(NOW - timedelta(seconds=61))
    token = cr.make_login_token(es.private_key, es.chain, nonce=nonce, audience=AUD, now=NOW)
    with pytest.raises(NonceError):
        verify(token, pki, registry)


def test_nonce_is_not_consumed_when_a_check_fails(pki: Pki, es: cr.Credential) -> None:
    registry = cr.MemoryNonceRegistry()
    token = login(es, registry)
    with pytest.raises(AudienceError):
        verify(token, pki, registry, audience="https://other.example.jp")
    assert verify(token, pki, registry).employee_id == es.employee_id


def test_wrong_audience(pki: Pki, es: cr.Credential) -> None:
    with pytest.raises(AudienceError):
        verify(login(es, cr.MemoryNonceRegistry()), pki, audience="https://other.example.jp")


def test_expired_token(pki: Pki, es: cr.Credential) -> None:
    token = login(es, cr.MemoryNonceRegistry(), now=NOW - timedelta(minutes=5))
    with pytest.raises(TokenExpired, match="expired"):
        verify(token, pki)


def test_token_issued_in_the_future(pki: Pki, es: cr.Credential) -> None:
    token = login(es, cr.MemoryNonceRegistry(), now=NOW + timedelta(minutes=5))
    with pytest.raises(TokenExpired, match="future"):
        verify(token, pki)


def test_token_lifetime_too_long(pki: Pki, es: cr.Credential) -> None:
    token = crafted(es.private_key, list(es.chain), exp=int(NOW.timestamp()) + 3600)
    with pytest.raises(TokenFormatError, match="after iat"):
        verify(token, pki)


def test_sub_not_matching_the_certificate(pki: Pki, es: cr.Credential) -> None:
    with pytest.raises(TokenSubjectError):
        verify(crafted(es.private_key, list(es.chain), sub="E9999"), pki)


# --- token format and signature ------------------------------------------------------


def test_alg_none(pki: Pki, es: cr.Credential) -> None:
    token = jws(
        {"alg": "none", "x5c": x5c(list(es.chain))},
        payload(es.employee_id, "n" * 22, iat=NOW),
        None,
    )
    with pytest.raises(TokenFormatError, match="not allowed"):
        verify(token, pki)


def test_alg_hs256_keyed_with_the_certificate(pki: Pki, es: cr.Credential) -> None:
    head = b64url(canonical_json({"alg": "HS256", "x5c": x5c(list(es.chain))}))
    body = b64url(canonical_json(payload(es.employee_id, "n" * 22, iat=NOW)))
    key = cr.certificate_to_pem(es.certificate).encode()
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(TokenFormatError, match="not allowed"):
        verify(f"{head}.{body}.{b64url(mac)}", pki)


def test_alg_not_matching_the_key(pki: Pki, creds: dict[str, cr.Credential]) -> None:
    for alg, cred in (
        ("RS256", creds["ES256"]),
        ("ES256", creds["EdDSA"]),
        ("EdDSA", creds["RS256"]),
    ):
        with pytest.raises(TokenFormatError, match="does not match|signs with"):
            verify(crafted(cred.private_key, list(cred.chain), alg=alg), pki)


def test_tampered_payload(pki: Pki, es: cr.Credential) -> None:
    head, _, sig = login(es, cr.MemoryNonceRegistry()).split(".")
    body = b64url(canonical_json(payload(es.employee_id, "m" * 22, iat=NOW)))
    with pytest.raises(TokenSignatureError):
        verify(f"{head}.{body}.{sig}", pki)


def test_tampered_signature(pki: Pki, es: cr.Credential) -> None:
    head, body, sig = login(es, cr.MemoryNonceRegistry()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[-1] ^= 0x80
    with pytest.raises(TokenSignatureError):
        verify(f"{head}.{body}.{b64url(bytes(raw))}", pki)


def test_der_encoded_es256_signature(pki: Pki, es: cr.Credential) -> None:
    head, body, _ = login(es, cr.MemoryNonceRegistry()).split(".")
    der = es.private_key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(TokenSignatureError):
        verify(f"{head}.{body}.{b64url(der)}", pki)


def test_signature_by_another_key(pki: Pki, creds: dict[str, cr.Credential]) -> None:
    token = crafted(ec.generate_private_key(ec.SECP256R1()), list(creds["ES256"].chain))
    with pytest.raises(TokenSignatureError):
        verify(token, pki)


@pytest.mark.parametrize("cut", ["two_parts", "half", "empty_signature", "four_parts"])
def test_truncated_token(pki: Pki, es: cr.Credential, cut: str) -> None:
    token = login(es, cr.MemoryNonceRegistry())
    head, body, sig = token.split(".")
    broken = {
        "two_parts": f"{head}.{body}",
        "half": token[: len(token) // 2],
        "empty_signature": f"{head}.{body}.",
        "four_parts": f"{token}.{sig}",
    }[cut]
    with pytest.raises(TokenFormatError):
        verify(broken, pki)


def test_oversized_token(pki: Pki, es: cr.Credential) -> None:
    token = login(es, cr.MemoryNonceRegistry())
    with pytest.raises(TokenFormatError, match="longer than"):
        verify(token + "A" * cr.MAX_TOKEN_LENGTH, pki)


@pytest.mark.parametrize("part", [0, 1, 2])
def test_garbage_base64(pki: Pki, es: cr.Credential, part: int) -> None:
    parts = login(es, cr.MemoryNonceRegistry()).split(".")
    parts[part] = "@@" + parts[part][2:]
    with pytest.raises(TokenFormatError, match="base64url"):
        verify(".".join(parts), pki)


def test_padded_base64url(pki: Pki, es: cr.Credential) -> None:
    head, body, sig = login(es, cr.MemoryNonceRegistry()).split(".")
    padded = base64.urlsafe_b64encode(base64.urlsafe_b64decode(sig + "==")).decode()
    assert padded.endswith("=")
    with pytest.raises(TokenFormatError):
        verify(f"{head}.{body}.{padded}", pki)


def test_non_canonical_base64url(pki: Pki, es: cr.Credential) -> None:
    head, body, sig = login(es, cr.MemoryNonceRegistry()).split(".")
    # 64 bytes -> 86 characters; the last one carries 2 unused bits
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(sig[-1])
    twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last ^ 1]
    with pytest.raises(TokenFormatError, match="canonical"):
        verify(f"{head}.{body}.{sig[:-1]}{twin}", pki)


def test_header_with_extra_member(pki: Pki, es: cr.Credential) -> None:
    token = jws(
        {"alg": "ES256", "x5c": x5c(list(es.chain)), "kid": "1"},
        payload(es.employee_id, "n" * 22, iat=NOW),
        es.private_key,
    )
    with pytest.raises(TokenFormatError, match="exactly the members"):
        verify(token, pki)


def test_duplicate_json_member(pki: Pki, es: cr.Credential) -> None:
    head, _, _ = login(es, cr.MemoryNonceRegistry()).split(".")
    body_json = canonical_json(payload(es.employee_id, "n" * 22, iat=NOW)).decode()
    body = b64url(body_json.replace('{"aud"', '{"sub":"E9999","aud"').encode())
    signature = b64url(raw_sign(es.private_key, f"{head}.{body}".encode()))
    with pytest.raises(TokenFormatError, match="duplicate"):
        verify(f"{head}.{body}.{signature}", pki)


def test_non_integer_iat(pki: Pki, es: cr.Credential) -> None:
    with pytest.raises(TokenFormatError):
        verify(crafted(es.private_key, list(es.chain), iat=True), pki)
    head = b64url(canonical_json({"alg": "ES256", "x5c": x5c(list(es.chain))}))
    body_json = canonical_json(payload(es.employee_id, "n" * 22, iat=NOW)).decode()
    iat = int(NOW.timestamp())
    body = b64url(body_json.replace(f'"iat":{iat}', f'"iat":{iat}.5').encode())
    with pytest.raises(TokenFormatError, match="non-integer"):
        verify(f"{head}.{body}.{b64url(raw_sign(es.private_key, f'{head}.{body}'.encode()))}", pki)


def test_x5c_not_a_certificate(pki: Pki, es: cr.Credential) -> None:
    token = jws(
        {"alg": "ES256", "x5c": ["AAAA"]},
        payload(es.employee_id, "n" * 22, iat=NOW),
        es.private_key,
    )
    with pytest.raises(TokenFormatError, match="certificate"):
        verify(token, pki)


def test_token_must_be_text(pki: Pki) -> None:
    with pytest.raises(TokenFormatError):
        verify(b"a.b.c", pki)  # type: ignore[arg-type]


# --- CRLs -------------------------------------------------------------------------


def test_crl_past_next_update_fails_closed(pki: Pki, es: cr.Credential) -> None:
    stale = pki.crl(
        pki.issuing, [], this_update=NOW - timedelta(days=8), next_update=NOW - timedelta(seconds=1)
    )
    with pytest.raises(CrlError, match="out of date"):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=[pki.root_crl, stale])


def test_crl_not_yet_valid(pki: Pki, es: cr.Credential) -> None:
    future = pki.crl(
        pki.issuing, [], this_update=NOW + timedelta(hours=1), next_update=NOW + timedelta(days=7)
    )
    with pytest.raises(CrlError, match="not valid yet"):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=[pki.root_crl, future])


def test_crl_signed_by_the_wrong_ca(pki: Pki, es: cr.Credential) -> None:
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.issuing.certificate.subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
        .sign(pki.root.key, hashes.SHA256())
    )
    with pytest.raises(CrlError, match="not signed"):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=[pki.root_crl, forged])


def test_crl_missing_for_the_issuing_ca(pki: Pki, es: cr.Credential) -> None:
    with pytest.raises(CrlError, match="no CRL"):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=[pki.root_crl])


def test_crl_missing_for_the_root(pki: Pki, es: cr.Credential) -> None:
    with pytest.raises(CrlError, match="no CRL"):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=[pki.crl(pki.issuing, [])])


def test_newest_crl_decides_freshness(pki: Pki, es: cr.Credential) -> None:
    stale = pki.crl(
        pki.issuing, [], this_update=NOW - timedelta(days=8), next_update=NOW - timedelta(days=1)
    )
    fresh = pki.crl(pki.issuing, [])
    assert verify(login(es, cr.MemoryNonceRegistry()), pki, crls=[pki.root_crl, stale, fresh])


def test_delta_crl_is_refused(pki: Pki, es: cr.Credential) -> None:
    delta = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.issuing.certificate.subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
        .add_extension(x509.DeltaCRLIndicator(1), critical=True)
        .sign(pki.issuing.key, hashes.SHA256())
    )
    with pytest.raises(CrlError, match="unsupported extension"):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=[pki.root_crl, delta])


# --- ballot signatures ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_ballot_signature_verifies(creds: dict[str, cr.Credential], alg: str) -> None:
    cred = creds[alg]
    signature = cr.sign_ballot(
        cred.private_key, election_fingerprint=FINGERPRINT, tracking_code=TRACKING
    )
    cr.verify_ballot_signature(
        cred.certificate, signature, election_fingerprint=FINGERPRINT, tracking_code=TRACKING
    )


def test_ballot_signature_for_another_election(es: cr.Credential) -> None:
    signature = cr.sign_ballot(
        es.private_key, election_fingerprint=FINGERPRINT, tracking_code=TRACKING
    )
    with pytest.raises(BallotSignatureError):
        cr.verify_ballot_signature(
            es.certificate, signature, election_fingerprint=b"other", tracking_code=TRACKING
        )


def test_ballot_signature_for_another_tracking_code(es: cr.Credential) -> None:
    signature = cr.sign_ballot(
        es.private_key, election_fingerprint=FINGERPRINT, tracking_code=TRACKING
    )
    with pytest.raises(BallotSignatureError):
        cr.verify_ballot_signature(
            es.certificate, signature, election_fingerprint=FINGERPRINT, tracking_code=b"x"
        )


def test_ballot_signature_by_another_key(creds: dict[str, cr.Credential]) -> None:
    signature = cr.sign_ballot(
        creds["ES256"].private_key, election_fingerprint=FINGERPRINT, tracking_code=TRACKING
    )
    for other in ("RS256", "EdDSA"):
        with pytest.raises(BallotSignatureError):
            cr.verify_ballot_signature(
                creds[other].certificate,
                signature,
                election_fingerprint=FINGERPRINT,
                tracking_code=TRACKING,
            )
    stranger = ca.generate_key()
    with pytest.raises(BallotSignatureError):
        cr.verify_ballot_signature(
            creds["ES256"].certificate,
            cr.sign_ballot(stranger, election_fingerprint=FINGERPRINT, tracking_code=TRACKING),
            election_fingerprint=FINGERPRINT,
            tracking_code=TRACKING,
        )


def test_ballot_signature_message_is_domain_separated() -> None:
    message = cr.ballot_signature_message(election_fingerprint=b"\x01", tracking_code=b"\x02")
    tag = b"votingpilot/v1/ballot-signature"
    assert message == b"T" + len(tag).to_bytes(4, "big") + tag + b"B\0\0\0\1\x01" + b"B\0\0\0\1\x02"


# --- credential file ------------------------------------------------------------------

PIN = "482913"


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_credential_file_roundtrip(creds: dict[str, cr.Credential], alg: str) -> None:
    cred = creds[alg]
    doc = cr.seal_credential(
        cred.private_key,
        cred.chain,
        PIN,
        employee_id=cred.employee_id,
        name=cred.name,
        iterations=1000,
    )
    doc = json.loads(json.dumps(doc))
    assert doc["alg"] == alg and doc["kdf"]["iterations"] == 1000
    opened = cr.open_credential(doc, PIN)
    assert opened.employee_id == cred.employee_id and opened.name == cred.name
    assert opened.chain == cred.chain
    assert cr.algorithm_for_key(opened.private_key) == alg
    signature = cr.sign_ballot(
        opened.private_key, election_fingerprint=FINGERPRINT, tracking_code=TRACKING
    )
    cr.verify_ballot_signature(
        cred.certificate, signature, election_fingerprint=FINGERPRINT, tracking_code=TRACKING
    )


@pytest.fixture(scope="module")
def sealed(es: cr.Credential) -> dict:
    return cr.seal_credential(
        es.private_key, es.chain, PIN, employee_id=es.employee_id, name=es.name, iterations=1000
    )


def test_credential_file_wrong_pin(sealed: dict) -> None:
    with pytest.raises(CredentialError, match="wrong PIN"):
        cr.open_credential(sealed, "482914")


def test_credential_file_tampered_ciphertext(sealed: dict) -> None:
    raw = bytearray(base64.b64decode(sealed["key"]))
    raw[5] ^= 0x01
    with pytest.raises(CredentialError, match="wrong PIN, or the credential file is damaged"):
        cr.open_credential({**sealed, "key": base64.b64encode(bytes(raw)).decode()}, PIN)


def test_credential_file_edited_cleartext(sealed: dict, creds: dict[str, cr.Credential]) -> None:
    other_chain = [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
        for c in creds["RS256"].chain
    ]
    for edit in (
        {"name": "山田 花子"},
        {"chain": other_chain},
        {"kdf": {**sealed["kdf"], "iterations": 1001}},
    ):
        with pytest.raises(CredentialError):
            cr.open_credential({**sealed, **edit}, PIN)


def test_credential_file_full_width_pin(sealed: dict) -> None:
    assert cr.open_credential(sealed, "４８２９１３").employee_id == sealed["employee_id"]


@pytest.mark.parametrize(
    "edit",
    [
        {"version": 2},
        {"format": "other"},
        {"alg": "HS256"},
        {"employee_id": "bad id"},
        {"name": ""},
        {"chain": []},
        {"chain": ["not base64!"]},
        {"kdf": {"name": "scrypt", "iterations": 1000, "salt": "AAAAAAAAAAAAAAAAAAAAAA=="}},
        {
            "kdf": {
                "name": "PBKDF2-HMAC-SHA256",
                "iterations": 10**9,
                "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
            }
        },
        {"kdf": {"name": "PBKDF2-HMAC-SHA256", "iterations": 1000, "salt": "AAAA"}},
        {"cipher": {"name": "AES-256-GCM", "nonce": "AAAA"}},
        {"key": "AAAA"},
        {"extra": 1},
    ],
)
def test_credential_file_bad_field(sealed: dict, edit: dict) -> None:
    with pytest.raises(CredentialError):
        cr.open_credential({**sealed, **edit}, PIN)


def test_credential_file_missing_member(sealed: dict) -> None:
    with pytest.raises(CredentialError, match="members"):
        cr.open_credential({k: v for k, v in sealed.items() if k != "cipher"}, PIN)


def test_seal_refuses_short_pin_and_foreign_key(
    es: cr.Credential, creds: dict[str, cr.Credential]
) -> None:
    with pytest.raises(CredentialError, match="at least"):
        cr.seal_credential(
            es.private_key, es.chain, "1234", employee_id=es.employee_id, name=es.name, iterations=1
        )
    with pytest.raises(CredentialError, match="does not belong"):
        cr.seal_credential(
            creds["EdDSA"].private_key,
            es.chain,
            PIN,
            employee_id=es.employee_id,
            name=es.name,
            iterations=1,
        )
    with pytest.raises(CredentialError, match="employee id"):
        cr.seal_credential(
            es.private_key, es.chain, PIN, employee_id="E0999", name=es.name, iterations=1
        )


# --- CA and value types --------------------------------------------------------------


def test_employee_certificate_profile(pki: Pki, es: cr.Credential) -> None:
    cert = es.certificate
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier
    ) == ["urn:x-city-hall:employee:E0001"]
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    key_usage = ext.get_extension_for_class(x509.KeyUsage)
    assert (
        key_usage.critical
        and key_usage.value.digital_signature
        and not key_usage.value.key_encipherment
    )
    assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = pki.issuing.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    assert aki.key_identifier == ski.digest
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "E0001"
    assert cr.employee_id_of(cert) == "E0001" and cr.display_name_of(cert) == "山田 太郎"


def test_issue_refuses_weak_key_and_bad_id(pki: Pki) -> None:
    with pytest.raises(WeakKeyError):
        ca.issue_employee_certificate(
            pki.issuing,
            vectors.fixed_key("w", "RSA-1024").public_key(),
            employee_id="E1",
            name="x",
            now=NOW,
        )
    with pytest.raises(ValueError):
        ca.issue_employee_certificate(
            pki.issuing, ca.generate_key().public_key(), employee_id="E 1", name="x", now=NOW
        )


def test_ca_key_must_suit_the_verifier(pki: Pki) -> None:
    """The verifier forbids Ed25519 (and weak RSA) keys that sign certificates."""
    with pytest.raises(ValueError, match="CA key"):
        ca.create_root_ca("Ed root", now=NOW, key=ca.generate_key("Ed25519"))
    with pytest.raises(ValueError, match="CA key"):
        ca.create_issuing_ca(pki.root, "Weak", now=NOW, key=vectors.fixed_key("w", "RSA-1024"))


def test_certificate_never_outlives_its_issuer(pki: Pki) -> None:
    cert = ca.issue_employee_certificate(
        pki.issuing,
        ca.generate_key().public_key(),
        employee_id="E5",
        name="x",
        now=NOW,
        days=100 * 365,
    )
    assert cert.not_valid_after_utc == pki.issuing.certificate.not_valid_after_utc


def test_revoke_refuses_a_certificate_of_another_ca(pki: Pki, es: cr.Credential) -> None:
    with pytest.raises(ValueError):
        ca.revoke(pki.other_issuing, es.certificate, now=NOW)


def test_crl_has_this_and_next_update(pki: Pki, es: cr.Credential) -> None:
    entry = ca.revoke(pki.issuing, es.certificate, now=NOW)
    crl = ca.build_crl(
        pki.issuing, [entry], now=NOW, next_update=NOW + timedelta(days=7), crl_number=3
    )
    assert crl.last_update_utc == NOW and crl.next_update_utc == NOW + timedelta(days=7)
    assert crl.is_signature_valid(pki.issuing.certificate.public_key())
    assert crl.get_revoked_certificate_by_serial_number(es.certificate.serial_number) is not None
    assert cr.crl_from_pem(cr.crl_to_pem(crl)) == crl
    with pytest.raises(ValueError):
        ca.build_crl(pki.issuing, [], now=NOW, next_update=NOW, crl_number=4)


def test_pem_roundtrips(pki: Pki, es: cr.Credential) -> None:
    pem = cr.certificate_to_pem(pki.root.certificate) + cr.certificate_to_pem(
        pki.other_root.certificate
    )
    store = cr.TrustStore.from_pem(pem)
    assert store.roots == (pki.root.certificate, pki.other_root.certificate)
    der = pki.root.certificate.public_bytes(serialization.Encoding.DER)
    assert cr.TrustStore.from_der([der]) == pki.trust
    key_pem = cr.private_key_to_pem(es.private_key, "secret")
    assert "ENCRYPTED" in key_pem
    assert (
        cr.private_key_from_pem(key_pem, "secret").private_numbers()
        == es.private_key.private_numbers()
    )
    with pytest.raises(CredentialError):
        cr.private_key_from_pem(key_pem, "wrong")
    authority = ca.Authority.from_pem(
        cr.private_key_to_pem(pki.issuing.key), cr.certificate_to_pem(pki.issuing.certificate)
    )
    assert authority.certificate == pki.issuing.certificate


def test_trust_store_refuses_a_leaf(es: cr.Credential) -> None:
    with pytest.raises(CertificateError, match="not a CA"):
        cr.TrustStore((es.certificate,))
    with pytest.raises(CertificateError):
        cr.TrustStore(())


def test_naive_now_is_a_programming_error(pki: Pki, es: cr.Credential) -> None:
    token = login(es, cr.MemoryNonceRegistry())
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(token, pki, now=NOW.replace(tzinfo=None))


def test_time_zones_are_respected(pki: Pki, es: cr.Credential) -> None:
    jst = timezone(timedelta(hours=9))
    assert (
        verify(login(es, cr.MemoryNonceRegistry()), pki, now=NOW.astimezone(jst)).employee_id
        == es.employee_id
    )


# --- test vectors ------------------------------------------------------------------


def _load_vectors() -> dict:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


def test_vector_file_is_up_to_date() -> None:
    assert vectors.generate()["credentials.json"] == _load_vectors()


def test_vector_tokens() -> None:
    data = _load_vectors()
    trust = cr.TrustStore.from_pem("".join(data["roots"]))
    now = datetime.fromisoformat(data["now"])
    crl_sets = {name: [cr.crl_from_pem(pem) for pem in pems] for name, pems in data["crls"].items()}
    assert len(data["tokens"]) >= 30
    for case in data["tokens"]:
        consumed: list[str] = []

        def consume(nonce: str, case: dict = case, consumed: list[str] = consumed) -> bool:
            consumed.append(nonce)
            return case["nonce_fresh"]

        def run(case: dict = case, consume=consume) -> cr.VerifiedLogin:
            return cr.verify_login_token(
                case["token"],
                trust_store=trust,
                crls=crl_sets[case["crls"]],
                audience=data["audience"],
                now=now,
                consume_nonce=consume,
            )

        if case["valid"]:
            assert run().employee_id == case["employee_id"], case["id"]
            assert consumed == [case["nonce"]], case["id"]
        else:
            with pytest.raises(CredentialError) as info:
                run()
            assert info.value.code == case["error"], (case["id"], str(info.value))


def test_vector_ballot_signatures() -> None:
    data = _load_vectors()
    for case in data["ballot_signatures"]:
        cert = cr.certificates_from_pem(data["certificates"][case["certificate"]])[0]
        args = dict(
            election_fingerprint=bytes.fromhex(case["election_fingerprint"]),
            tracking_code=bytes.fromhex(case["tracking_code"]),
        )
        if case["valid"]:
            cr.verify_ballot_signature(cert, bytes.fromhex(case["signature"]), **args)
        else:
            with pytest.raises(CredentialError) as info:
                cr.verify_ballot_signature(cert, bytes.fromhex(case["signature"]), **args)
            assert info.value.code == case["error"], case["id"]


def test_vector_credential_files() -> None:
    for case in _load_vectors()["credential_files"]:
        if case["valid"]:
            assert (
                cr.open_credential(case["file"], case["pin"]).employee_id == case["employee_id"]
            ), case["id"]
        else:
            with pytest.raises(CredentialError) as info:
                cr.open_credential(case["file"], case["pin"])
            assert info.value.code == case["error"], case["id"]


# --- per-election voting credentials -------------------------------------------------


def test_vector_voting_credentials() -> None:
    data = _load_vectors()
    section = data["voting_credentials"]
    fingerprint = bytes.fromhex(section["election_fingerprint"])
    code = bytes.fromhex(section["tracking_code"])
    assert len(section["cases"]) == 3
    for case in section["cases"]:
        pkcs8 = base64.b64decode(case["pkcs8"])
        secret = cr.credential_secret(pkcs8)
        assert secret.hex() == case["secret"], case["id"]
        cert = cr.certificates_from_pem(data["certificates"][case["certificate"]])[0]
        for item in case["elections"]:
            election_id = item["election_id"]
            assert cr.voting_credential_seed(secret, election_id).hex() == item["seed"]
            voting = cr.VotingCredential.derive(secret, election_id)
            assert voting.hex == item["credential"]
            message = cr.registration_message(election_id, voting.public_bytes)
            assert message.hex() == item["registration_message"]
            cr.verify_registration(
                cert, bytes.fromhex(item["registration_signature"]),
                election_id=election_id, credential_pub=voting.public_bytes,
            )
            cr.verify_credential_signature(
                voting.public_bytes, bytes.fromhex(item["ballot_signature"]),
                election_fingerprint=fingerprint, tracking_code=code,
            )


def test_voting_credential_from_file_matches_the_key() -> None:
    """The secret of an opened credential file (the sealed PKCS#8 bytes) equals
    the one computed from the key, so the CLI and the page derive the same credential."""
    data = _load_vectors()
    for case in data["credential_files"][:3]:
        opened = cr.open_credential(case["file"], case["pin"])
        assert opened.pkcs8 is not None
        assert opened.secret == cr.credential_secret(cr.pkcs8_of(opened.private_key))
        assert opened.voting_credential("x").hex == cr.VotingCredential.derive(opened.secret, "x").hex


def test_voting_credentials_are_deterministic_and_unlinked() -> None:
    secret = hashlib.sha256(b"a").digest()
    a1 = cr.VotingCredential.derive(secret, "election-1")
    assert a1.hex == cr.VotingCredential.derive(secret, "election-1").hex
    a2 = cr.VotingCredential.derive(secret, "election-2")
    b1 = cr.VotingCredential.derive(hashlib.sha256(b"b").digest(), "election-1")
    assert len({a1.hex, a2.hex, b1.hex}) == 3
    assert len(a1.hex) == 64 and a1.hex == a1.hex.lower()
    assert cr.parse_voting_credential(a1.hex) == a1.public_bytes
    for bad in (a1.hex.upper(), a1.hex[:-2], "", None, 5, "zz" * 32):
        with pytest.raises(CredentialError) as info:
            cr.parse_voting_credential(bad)
        assert info.value.code == "voting_credential_invalid"


def test_registration_by_another_certificate_fails() -> None:
    data = _load_vectors()
    es = cr.certificates_from_pem(data["certificates"]["es256"])[0]
    ed = cr.certificates_from_pem(data["certificates"]["eddsa"])[0]
    key = vectors.fixed_key("es256")
    voting = cr.VotingCredential.derive(hashlib.sha256(b"s").digest(), "e1")
    signature = cr.sign_registration(key, election_id="e1", credential_pub=voting.public_bytes)
    cr.verify_registration(es, signature, election_id="e1", credential_pub=voting.public_bytes)
    other = cr.VotingCredential.derive(hashlib.sha256(b"s").digest(), "e2")
    for cert, election_id, pub in (
        (ed, "e1", voting.public_bytes),  # another certificate
        (es, "e2", voting.public_bytes),  # another election
        (es, "e1", other.public_bytes),  # another credential
    ):
        with pytest.raises(CredentialError) as info:
            cr.verify_registration(cert, signature, election_id=election_id, credential_pub=pub)
        assert info.value.code == "registration_invalid"


def test_credential_ballot_signature_is_bound() -> None:
    voting = cr.VotingCredential.derive(hashlib.sha256(b"s").digest(), "e1")
    fp, code = hashlib.sha256(b"fp").digest(), hashlib.sha256(b"code").digest()
    signature = voting.sign_ballot(election_fingerprint=fp, tracking_code=code)
    assert len(signature) == 64
    cr.verify_credential_signature(voting.public_bytes, signature, election_fingerprint=fp, tracking_code=code)
    other = cr.VotingCredential.derive(hashlib.sha256(b"s").digest(), "e2")
    for pub, f, c, sig in (
        (other.public_bytes, fp, code, signature),
        (voting.public_bytes, code, code, signature),
        (voting.public_bytes, fp, fp, signature),
        (voting.public_bytes, fp, code, signature[:-1]),
        (voting.public_bytes, fp, code, bytes(64)),
    ):
        with pytest.raises(CredentialError) as info:
            cr.verify_credential_signature(pub, sig, election_fingerprint=f, tracking_code=c)
        assert info.value.code == "ballot_signature_invalid"


@pytest.mark.parametrize(
    "encoding",
    [
        "01" + "00" * 31,  # the identity: R = identity, s = 0 verifies for any message
        "ee" + "ff" * 30 + "7f",  # the identity again, y = p + 1 (not canonical)
        "ec" + "ff" * 30 + "7f",  # order 2
        "00" * 32,  # order 4
        "00" * 31 + "80",  # order 4, the other x
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8, the other x
    ],
)
def test_a_small_order_or_non_canonical_voting_credential_is_refused(encoding):
    from crypto.credentials import parse_voting_credential
    from crypto.errors import VotingCredentialError

    with pytest.raises(VotingCredentialError):
        parse_voting_credential(encoding)


def test_a_derived_voting_credential_is_accepted():
    from crypto.credentials import VotingCredential, parse_voting_credential

    for election_id in ("survey-2026", "survey-2027", "x"):
        credential = VotingCredential.derive(bytes(range(32)), election_id)
        assert parse_voting_credential(credential.hex) == credential.public_bytes


def test_a_crl_remembered_as_checked_still_binds_to_the_key_that_signed_it(pki: Pki, es: cr.Credential) -> None:
    """``check_revocation`` remembers each CRL's signature verdict per CA key: a
    CA of the same name with another key never inherits it."""
    crl = pki.crl(pki.issuing, [])
    chain = [es.chain[0], pki.issuing.certificate]
    cr.check_revocation(chain, [crl], now=NOW)
    other_key = ec.generate_private_key(ec.SECP256R1())
    impostor = (
        x509.CertificateBuilder()
        .subject_name(pki.issuing.certificate.subject)
        .issuer_name(pki.issuing.certificate.subject)
        .public_key(other_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(other_key, hashes.SHA256())
    )
    for _ in range(2):
        with pytest.raises(CrlError, match="not signed"):
            cr.check_revocation([es.chain[0], impostor], [crl], now=NOW)
        cr.check_revocation(chain, [crl], now=NOW)


def test_a_crl_naming_its_ca_in_other_string_types_still_revokes(pki: Pki, es: cr.Credential) -> None:
    """Names match as RFC 5280 compares them, not byte for byte: a CA whose CRLs
    spell its name as PrintableString, where its certificate has UTF8String,
    still revokes (compared byte for byte, the CRL would not be found, and
    every login under that CA refused for want of a CRL)."""
    from cryptography.x509.name import _ASN1Type

    respelled = x509.Name(
        [x509.NameAttribute(a.oid, a.value, _ASN1Type.PrintableString) for a in pki.issuing.certificate.subject]
    )
    assert respelled == pki.issuing.certificate.subject
    assert respelled.public_bytes() != pki.issuing.certificate.subject.public_bytes()
    entry = ca.revoke(pki.issuing, es.certificate, now=NOW - timedelta(hours=2))
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(respelled)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
        .add_revoked_certificate(entry)
        .sign(pki.issuing.key, hashes.SHA256())
    )
    with pytest.raises(CertificateRevoked):
        verify(login(es, cr.MemoryNonceRegistry()), pki, crls=[pki.root_crl, crl])
