"""The enrollment token: a card whose certificate names no employee signs, once,
the link between the card and an employee (with the enrollment code the city
handed that employee)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from crypto.credentials.certificates import certificate_fingerprint, check_card_usage, is_valid_employee_id
from crypto.credentials.keys import (
    SigningKey,
    _same_public_key,
    _short,
    _sign,
    _signature_valid,
    _utc,
    algorithm_for_key,
)
from crypto.credentials.tokens import (
    _HEADER_MEMBERS,
    CLOCK_SKEW_S,
    DEFAULT_TOKEN_LIFETIME_S,
    MAX_AUDIENCE_LENGTH,
    MAX_CHAIN_LENGTH,
    MAX_TOKEN_LENGTH,
    MAX_TOKEN_LIFETIME_S,
    NONCE_PATTERN,
    _b64_decode,
    _b64url_decode,
    _b64url_encode,
    _json_object,
    _load_der_certificate,
    _read_jws,
)
from crypto.credentials.trust import TrustStore, check_revocation
from crypto.encoding import canonical_json
from crypto.errors import (
    AudienceError,
    CredentialError,
    NonceError,
    TokenExpired,
    TokenFormatError,
    TokenSignatureError,
    WeakKeyError,
)

_ENROLLMENT_MEMBERS = frozenset({"aud", "employee_id", "enrollment_code", "exp", "iat", "nonce"})


MAX_ENROLLMENT_CODE_LENGTH = 64


@dataclass(frozen=True)
class EnrollmentClaim:
    """What a card signed to enroll: "link me to ``employee_id``, with this
    one-time code, at this service". Whether the code is good is the service's
    check; whether the card is trusted, ``verify_enrollment_token``'s."""

    employee_id: str
    enrollment_code: str
    audience: str
    nonce: str
    iat: int
    exp: int
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    """as sent (x5c), leaf first; from ``verify_enrollment_token``: as built, root last"""

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)


def make_enrollment_token(
    private_key: SigningKey,
    chain: Sequence[x509.Certificate],
    *,
    nonce: str,
    audience: str,
    now: datetime,
    employee_id: str,
    enrollment_code: str,
    lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S,
) -> str:
    """A compact JWS as the login token (header ``alg`` and ``x5c``), whose
    payload is exactly ``aud, employee_id, enrollment_code, exp, iat, nonce``:
    a login token never parses as one, nor one as a login token."""
    if not chain:
        raise ValueError("the chain needs at least the card's certificate")
    if not 0 < lifetime_s <= MAX_TOKEN_LIFETIME_S:
        raise ValueError(f"lifetime_s must be in 1..{MAX_TOKEN_LIFETIME_S}")
    if not isinstance(nonce, str) or not NONCE_PATTERN.fullmatch(nonce):
        raise ValueError("nonce must be 16 to 128 base64url characters")
    if not isinstance(audience, str) or not 0 < len(audience) <= MAX_AUDIENCE_LENGTH:
        raise ValueError("audience must be a non-empty string")
    if not is_valid_employee_id(employee_id):
        raise ValueError(f"employee id {_short(employee_id)} is not valid")
    if not isinstance(enrollment_code, str) or not 0 < len(enrollment_code) <= MAX_ENROLLMENT_CODE_LENGTH:
        raise ValueError("the enrollment code must be a non-empty string")
    if not _same_public_key(private_key.public_key(), chain[0].public_key()):
        raise CredentialError("the private key does not belong to the certificate")
    iat = int(_utc(now).timestamp())
    header = {
        "alg": algorithm_for_key(private_key),
        "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in chain],
    }
    payload = {
        "aud": audience,
        "employee_id": employee_id,
        "enrollment_code": enrollment_code,
        "exp": iat + lifetime_s,
        "iat": iat,
        "nonce": nonce,
    }
    signing_input = _b64url_encode(canonical_json(header)) + "." + _b64url_encode(canonical_json(payload))
    return signing_input + "." + _b64url_encode(_sign(private_key, signing_input.encode("ascii")))


def read_enrollment_token(token: object) -> EnrollmentClaim:
    """The token's structure, and that its leaf certificate's key signed it;
    nothing about trust, time or the nonce (the record's verifier checks a
    stored proof with this, and the chain at the enrollment's time itself)."""
    alg, chain, payload, signing_input, signature = _read_jws(token, "enrollment token", _ENROLLMENT_MEMBERS)
    aud, employee_id, code, iat, exp, nonce = (
        payload[k] for k in ("aud", "employee_id", "enrollment_code", "iat", "exp", "nonce")
    )
    if not is_valid_employee_id(employee_id):
        raise TokenFormatError("employee_id must be an employee id")
    if not isinstance(code, str) or not 0 < len(code) <= MAX_ENROLLMENT_CODE_LENGTH:
        raise TokenFormatError(f"enrollment_code must be 1 to {MAX_ENROLLMENT_CODE_LENGTH} characters")
    leaf = chain[0]
    try:
        public_key = leaf.public_key()
    except (UnsupportedAlgorithm, ValueError):
        raise WeakKeyError("the certificate's key type is not supported") from None
    key_alg = algorithm_for_key(public_key)
    if alg != key_alg:
        raise TokenFormatError(f"the token says alg {alg} but the certificate's key signs with {key_alg}")
    if not _signature_valid(public_key, signature, signing_input):
        raise TokenSignatureError("the enrollment token's signature does not verify with the card's certificate")
    return EnrollmentClaim(
        employee_id=employee_id, enrollment_code=code, audience=aud, nonce=nonce, iat=iat, exp=exp,
        certificate=leaf, chain=chain,
    )


def verify_enrollment_token(
    token: str,
    *,
    trust_store: TrustStore,
    crls: Iterable[x509.CertificateRevocationList],
    audience: str,
    now: datetime,
    consume_nonce: Callable[[str], bool],
) -> EnrollmentClaim:
    """Every check of a login under an anchor whose certificates name no
    employee (chain without a required SAN, ``check_card_usage``, revocation,
    signature, audience, time, nonce last); the claim's ``chain`` is the one
    built, root last. The code and the employee id are the caller's to check."""
    now = _utc(now)
    claim = read_enrollment_token(token)
    chain = trust_store.verify_chain(claim.certificate, claim.chain[1:], now, require_san=False)
    check_card_usage(claim.certificate)
    check_revocation(chain, crls, now=now)
    if claim.audience != audience:
        raise AudienceError(f"the token is for {_short(claim.audience)}, not for this service")
    now_s = int(now.timestamp())
    if now_s >= claim.exp + CLOCK_SKEW_S:
        raise TokenExpired("the enrollment token has expired; enroll again")
    if claim.iat > now_s + CLOCK_SKEW_S:
        raise TokenExpired("the enrollment token was issued in the future; check the device's clock")
    if not consume_nonce(claim.nonce):
        raise NonceError("the challenge is unknown, expired or already used; start the enrollment again")
    return EnrollmentClaim(**{**claim.__dict__, "chain": chain})


def token_chain(token: object) -> tuple[x509.Certificate, ...]:
    """The certificates (x5c, leaf first) of a login or enrollment token, read
    strictly but trusted for nothing: the service picks the trust anchor to
    check the token against with it."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenFormatError("the token must be three non-empty base64url parts separated by '.'")
    header = _json_object(_b64url_decode(token.split(".", 1)[0], "header"), "header")
    x5c = header.get("x5c")
    if set(header) != _HEADER_MEMBERS or not isinstance(x5c, list) or not 1 <= len(x5c) <= MAX_CHAIN_LENGTH:
        raise TokenFormatError(f"the header must be alg and x5c, a list of 1 to {MAX_CHAIN_LENGTH} certificates")
    return tuple(
        _load_der_certificate(_b64_decode(item, "an x5c certificate", TokenFormatError), TokenFormatError)
        for item in x5c
    )
