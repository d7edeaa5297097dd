"""The login token an employee's key signs over a server challenge (a compact
JWS carrying the certificate chain, a single-use nonce and the audience), and
the nonces a server hands out."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from crypto.credentials.certificates import (
    _check_usage,
    card_name_of,
    certificate_fingerprint,
    check_card_usage,
    display_name_of,
    employee_id_of,
    is_valid_employee_id,
    login_subject,
)
from crypto.credentials.keys import (
    PublicKey,
    SigningKey,
    _same_public_key,
    _short,
    _sign,
    _signature_valid,
    _utc,
    accepted_key,
    algorithm_for_key,
)
from crypto.credentials.tokens import (
    CLOCK_SKEW_S,
    DEFAULT_TOKEN_LIFETIME_S,
    MAX_AUDIENCE_LENGTH,
    MAX_TOKEN_LIFETIME_S,
    NONCE_PATTERN,
    _b64url_encode,
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
    TokenSubjectError,
    WeakKeyError,
)

_PAYLOAD_MEMBERS = frozenset({"aud", "exp", "iat", "nonce", "sub"})


@dataclass(frozen=True)
class VerifiedLogin:
    """Who logged in, after every check passed. Roles come from the service's
    rosters, never from here."""

    employee_id: str | None
    """None when the login was verified with ``require_employee_id=False`` (the
    employee then comes from an enrollment, never from the certificate)."""
    name: str
    fingerprint: str
    """SHA-256 of the leaf certificate's DER, lowercase hex."""
    certificate: x509.Certificate
    issuer: str
    """The leaf's issuer, RFC 4514."""
    public_key: PublicKey
    chain: tuple[x509.Certificate, ...]
    """The chain as built by the verifier, leaf first and root last."""

    def to_json(self) -> dict[str, str | None]:
        return {
            "employee_id": self.employee_id,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "issuer": self.issuer,
        }


@dataclass(frozen=True)
class _Token:
    alg: str
    chain: tuple[x509.Certificate, ...]
    nonce: str
    aud: str
    iat: int
    exp: int
    sub: str
    signing_input: bytes
    signature: bytes


def make_login_token(
    private_key: SigningKey,
    chain: Sequence[x509.Certificate],
    *,
    nonce: str,
    audience: str,
    now: datetime,
    lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S,
) -> str:
    """A compact JWS signed by the employee's key, carrying their chain (leaf first).

    Header and payload are canonical JSON, so the same inputs give the same
    token (RS256 and EdDSA; ES256 too, being deterministic here).
    """
    if not chain:
        raise ValueError("the chain needs at least the employee's certificate")
    if not 0 < lifetime_s <= MAX_TOKEN_LIFETIME_S:
        raise ValueError(f"lifetime_s must be in 1..{MAX_TOKEN_LIFETIME_S}")
    if not isinstance(nonce, str) or not NONCE_PATTERN.fullmatch(nonce):
        raise ValueError("nonce must be 16 to 128 base64url characters")
    if not isinstance(audience, str) or not 0 < len(audience) <= MAX_AUDIENCE_LENGTH:
        raise ValueError("audience must be a non-empty string")
    leaf = chain[0]
    if not _same_public_key(private_key.public_key(), leaf.public_key()):
        raise CredentialError("the private key does not belong to the certificate")
    iat = int(_utc(now).timestamp())
    header = {
        "alg": algorithm_for_key(private_key),
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for c in chain
        ],
    }
    payload = {
        "aud": audience,
        "exp": iat + lifetime_s,
        "iat": iat,
        "nonce": nonce,
        "sub": login_subject(leaf),
    }
    signing_input = (
        _b64url_encode(canonical_json(header)) + "." + _b64url_encode(canonical_json(payload))
    )
    signature = _sign(private_key, signing_input.encode("ascii"))
    return signing_input + "." + _b64url_encode(signature)


def verify_login_token(
    token: str,
    *,
    trust_store: TrustStore,
    crls: Iterable[x509.CertificateRevocationList],
    audience: str,
    now: datetime,
    consume_nonce: Callable[[str], bool],
    require_employee_id: bool = True,
) -> VerifiedLogin:
    """Every check of docs/parts/credentials.md, in its order; the nonce is
    consumed last, so a token failing any other check does not burn it.

    ``require_employee_id=False``, for a trust anchor whose certificates name no
    employee (the service then takes the employee from an enrollment): the leaf
    needs no SAN, its employee id (even if it names one) is not taken
    (``employee_id`` is None), ``sub`` must be ``login_subject(leaf)``, and the
    usage check is ``check_card_usage``; every other check stays."""
    now = _utc(now)
    parsed = _parse_token(token)
    leaf = parsed.chain[0]
    chain = trust_store.verify_chain(leaf, parsed.chain[1:], now, require_san=require_employee_id)
    if require_employee_id:
        _check_usage(leaf)
        employee_id = employee_id_of(leaf)
        name = display_name_of(leaf)
    else:
        check_card_usage(leaf)
        employee_id = None
        name = card_name_of(leaf)
    try:
        public_key = leaf.public_key()
    except (UnsupportedAlgorithm, ValueError):
        raise WeakKeyError("the certificate's key type is not supported") from None
    alg = algorithm_for_key(public_key)
    if parsed.alg != alg:
        raise TokenFormatError(
            f"the token says alg {parsed.alg} but the certificate's key signs with {alg}"
        )
    check_revocation(chain, crls, now=now)
    if not _signature_valid(public_key, parsed.signature, parsed.signing_input):
        raise TokenSignatureError(
            "the token's signature does not verify with the certificate's key"
        )
    if parsed.aud != audience:
        raise AudienceError(f"the token is for {_short(parsed.aud)}, not for this service")
    now_s = int(now.timestamp())
    if now_s >= parsed.exp + CLOCK_SKEW_S:
        raise TokenExpired("the login token has expired; log in again")
    if parsed.iat > now_s + CLOCK_SKEW_S:
        raise TokenExpired("the login token was issued in the future; check the device's clock")
    if require_employee_id and parsed.sub != employee_id:
        raise TokenSubjectError(
            f"the token's subject {_short(parsed.sub)} is not "
            f"the certificate's employee id {employee_id}"
        )
    if not require_employee_id and parsed.sub != login_subject(leaf):
        raise TokenSubjectError(
            f"the token's subject {_short(parsed.sub)} is not the certificate's {login_subject(leaf)}"
        )
    if not consume_nonce(parsed.nonce):
        raise NonceError(
            "the login challenge is unknown, expired or already used; start the login again"
        )
    return VerifiedLogin(
        employee_id=employee_id,
        name=name,
        fingerprint=certificate_fingerprint(leaf),
        certificate=leaf,
        issuer=leaf.issuer.rfc4514_string(),
        public_key=accepted_key(public_key),
        chain=chain,
    )


def _parse_token(token: object) -> _Token:
    """Strict structure only: no certificate or signature is trusted yet."""
    alg, chain, payload, signing_input, signature = _read_jws(token, "token", _PAYLOAD_MEMBERS)
    sub = payload["sub"]
    if not is_valid_employee_id(sub):
        raise TokenFormatError("sub must be an employee id")
    return _Token(
        alg=alg,
        chain=chain,
        nonce=payload["nonce"],
        aud=payload["aud"],
        iat=payload["iat"],
        exp=payload["exp"],
        sub=sub,
        signing_input=signing_input,
        signature=signature,
    )


class MemoryNonceRegistry:
    """Single-use login nonces kept in memory, for tests and the Python client's
    tests; the service keeps its nonces in the database."""

    def __init__(self, ttl_s: int = MAX_TOKEN_LIFETIME_S) -> None:
        self._ttl = timedelta(seconds=ttl_s)
        self._expiry: dict[str, datetime] = {}

    def issue(self, now: datetime) -> str:
        now = _utc(now)
        self._expiry = {n: t for n, t in self._expiry.items() if t > now}
        nonce = secrets.token_urlsafe(32)
        self._expiry[nonce] = now + self._ttl
        return nonce

    def consume(self, nonce: str, now: datetime) -> bool:
        """True exactly once for an issued, unexpired nonce."""
        expiry = self._expiry.pop(nonce, None)
        return expiry is not None and _utc(now) < expiry

    def consumer(self, now: datetime) -> Callable[[str], bool]:
        """The ``consume_nonce`` argument of ``verify_login_token``."""
        return lambda nonce: self.consume(nonce, now)
