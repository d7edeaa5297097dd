"""Employee credentials: certificate profile, login token, revocation, ballot
signatures and the PIN-protected credential file (docs/parts/credentials.md).

Employees log in the way the My Number card's JPKI certificate signs a server
challenge: the employee's key signs a compact JWS (RFC 7515) that carries the
certificate chain (``x5c``), a single-use nonce and the audience. The service
trusts the city hall CA, never individual keys. ``cryptography.x509.verification``
builds and checks the chain; everything it leaves out is checked here: key usage
and clientAuth on the leaf, the leaf's own key type and size, and revocation
against CRLs (it does no revocation at all).

Nothing here does I/O or reads the clock: ``now`` is always passed in, and
must be timezone-aware.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from crypto.encoding import canonical_json, encode_parts
from crypto.errors import (
    AudienceError,
    BallotSignatureError,
    AnnouncementSignatureError,
    EndorsementError,
    CertificateError,
    CertificateRevoked,
    CredentialError,
    CrlError,
    NonceError,
    RegistrationError,
    TokenExpired,
    TokenFormatError,
    TokenSignatureError,
    TokenSubjectError,
    VotingCredentialError,
    WeakKeyError,
)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
_PRIVATE_KEY_TYPES = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)


@runtime_checkable
class TokenKey(Protocol):
    """A private key that never leaves its token (a smart card, an HSM): it
    signs on request. ``voting.card.CardKey`` is one; this module never talks to
    a token itself."""

    def public_key(self) -> PublicKey: ...

    def sign_jws(self, message: bytes) -> bytes:
        """The signature in the JWS form: ES256 raw r||s (64 bytes), RS256
        PKCS#1 v1.5 over SHA-256, EdDSA raw (64 bytes)."""
        ...


SigningKey = PrivateKey | TokenKey

# --- certificate profile --------------------------------------------------------

#: The subject alternative name that carries the employee id: a URI
#: ``urn:x-city-hall:employee:<id>``. The verifier's client policy requires a SAN
#: on the leaf; a URI is stable (unlike an e-mail address) and needs no escaping
#: because employee ids are restricted to ``EMPLOYEE_ID_PATTERN``.
EMPLOYEE_URI_PREFIX = "urn:x-city-hall:employee:"
EMPLOYEE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NAME_LENGTH = 64  # X.520 ub-common-name
MIN_RSA_BITS = 2048

# --- login token ------------------------------------------------------------------

ALGORITHMS = ("ES256", "RS256", "EdDSA")
MAX_TOKEN_LENGTH = 16_384
MAX_CHAIN_LENGTH = 4
MAX_TOKEN_LIFETIME_S = 300
DEFAULT_TOKEN_LIFETIME_S = 120
CLOCK_SKEW_S = 60
MAX_AUDIENCE_LENGTH = 256
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_HEADER_MEMBERS = frozenset({"alg", "x5c"})
_PAYLOAD_MEMBERS = frozenset({"aud", "exp", "iat", "nonce", "sub"})
_MAX_NUMERIC_DATE = 2**53 - 1  # exact in JavaScript too

# --- ballot signatures and the credential file ----------------------------------

BALLOT_SIGNATURE_TAG = "votingpilot/v1/ballot-signature"
ENDORSEMENT_TAG = "votingpilot/v1/joint-key-endorsement"
ANNOUNCEMENT_SIGNATURE_TAG = "votingpilot/v1/announcement-signature"
CREDENTIAL_FILE_TAG = "votingpilot/v1/credential-file"
CREDENTIAL_SECRET_TAG = "votingpilot/v1/credential-secret"
VOTING_CREDENTIAL_TAG = "votingpilot/v1/voting-credential"
REGISTRATION_TAG = "votingpilot/v1/credential-registration"
VOTING_CREDENTIAL_PATTERN = re.compile(r"[0-9a-f]{64}")
CREDENTIAL_FORMAT = "votingpilot-credential"
CREDENTIAL_VERSION = 1
DEFAULT_PBKDF2_ITERATIONS = 600_000
MAX_PBKDF2_ITERATIONS = 10_000_000
MIN_PIN_LENGTH = 6
MAX_PIN_LENGTH = 128
_SALT_BYTES = 16
_GCM_NONCE_BYTES = 12
_GCM_TAG_BYTES = 16
_CREDENTIAL_MEMBERS = frozenset(
    {"format", "version", "alg", "employee_id", "name", "chain", "kdf", "cipher", "key"}
)


def _utc(now: datetime) -> datetime:
    """Naive datetimes are a programming error: their zone is a guess."""
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(timezone.utc)


def _short(value: object) -> str:
    """A value from outside, cut short enough to put into an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- keys and algorithms ------------------------------------------------------------


def check_key(public_key: object) -> None:
    """Refuse leaf keys the service does not accept: the chain verifier checks
    only the keys that sign certificates, not the leaf's own key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise WeakKeyError(
                f"RSA key of {public_key.key_size} bits is too short; "
                f"at least {MIN_RSA_BITS} bits are required"
            )
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise WeakKeyError(f"only P-256 EC keys are accepted, not {public_key.curve.name}")
    elif not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise WeakKeyError(f"unsupported key type {type(public_key).__name__}")


def _is_private(key: object) -> bool:
    return isinstance(key, _PRIVATE_KEY_TYPES) or isinstance(key, TokenKey)


def algorithm_for_key(key: SigningKey | PublicKey) -> str:
    """The one JWS alg a key may sign with: ES256, RS256 or EdDSA."""
    public_key = key.public_key() if _is_private(key) else key
    check_key(public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    return "EdDSA"


def _sign(private_key: SigningKey, message: bytes) -> bytes:
    """Sign in the JWS form: ES256 as raw r||s (RFC 7518 3.4, as WebCrypto), not DER.

    ECDSA is deterministic (RFC 6979) so that test vectors are reproducible and
    a weak random generator cannot leak the key.

    A key on a token signs there; its signature is checked with the public key
    before it leaves this function, so a faulty token (a wrong RSA-CRT half
    would reveal the key) or a wrong key never yields a published signature.
    """
    if not isinstance(private_key, _PRIVATE_KEY_TYPES) and isinstance(private_key, TokenKey):
        algorithm_for_key(private_key)  # refuses a weak key before the token signs
        signature = private_key.sign_jws(message)
        if not isinstance(signature, bytes) or not _signature_valid(
            private_key.public_key(), signature, message
        ):
            raise CredentialError(
                "the token's signature does not verify with its public key; "
                "the token or its key is faulty"
            )
        return signature
    alg = algorithm_for_key(private_key)
    if alg == "ES256":
        der = private_key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == "RS256":
        return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return private_key.sign(message)


def _signature_valid(public_key: PublicKey, signature: bytes, message: bytes) -> bool:
    """Exact lengths first: a DER ECDSA signature or a short RSA one is refused."""
    alg = algorithm_for_key(public_key)
    try:
        if alg == "ES256":
            if len(signature) != 64:
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        elif alg == "RS256":
            if len(signature) != (public_key.key_size + 7) // 8:
                return False
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            if len(signature) != 64:
                return False
            public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _same_public_key(a: PublicKey, b: PublicKey) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(*spki) == b.public_bytes(*spki)


# --- the employee certificate -------------------------------------------------------


def is_valid_employee_id(employee_id: object) -> bool:
    return isinstance(employee_id, str) and EMPLOYEE_ID_PATTERN.fullmatch(employee_id) is not None


def employee_uri(employee_id: str) -> str:
    """The SAN URI that names the employee in their certificate."""
    if not is_valid_employee_id(employee_id):
        raise ValueError(
            f"employee id {_short(employee_id)} does not match {EMPLOYEE_ID_PATTERN.pattern}"
        )
    return EMPLOYEE_URI_PREFIX + employee_id


def employee_id_of(certificate: x509.Certificate) -> str:
    """The employee id of a certificate: its one ``urn:x-city-hall:employee:`` SAN URI.

    The subject's serialNumber attribute, if present, must say the same, so a
    person reading the certificate sees the id the service uses.
    """
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        serial_attrs = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    except x509.ExtensionNotFound:
        raise CertificateError("the certificate has no subject alternative name") from None
    except ValueError as exc:
        raise CertificateError(f"the certificate cannot be parsed: {exc}") from None
    ids = [
        uri[len(EMPLOYEE_URI_PREFIX) :]
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(EMPLOYEE_URI_PREFIX)
    ]
    if len(ids) != 1:
        raise CertificateError(
            f"the certificate must name exactly one employee "
            f"({EMPLOYEE_URI_PREFIX}<id>), found {len(ids)}"
        )
    employee_id = ids[0]
    if not is_valid_employee_id(employee_id):
        raise CertificateError(f"the certificate's employee id {_short(employee_id)} is not valid")
    if any(attr.value != employee_id for attr in serial_attrs):
        raise CertificateError(
            "the certificate's subject serialNumber differs from its employee id"
        )
    return employee_id


def display_name_of(certificate: x509.Certificate) -> str:
    """The employee's name, from the subject's one common name."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not isinstance(names[0].value, str) or not names[0].value:
        raise CertificateError("the certificate's subject must have exactly one common name")
    return names[0].value


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _check_usage(leaf: x509.Certificate) -> None:
    """Key usage and clientAuth: the verifier's client policy checks neither on the
    leaf (a leaf with no EKU, or with keyEncipherment only, passes it)."""
    try:
        key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as exc:
        missing = "key usage" if exc.oid == ExtensionOID.KEY_USAGE else "extended key usage"
        raise CertificateError(f"the certificate has no {missing} extension") from None
    except ValueError as exc:
        raise CertificateError(f"the certificate cannot be parsed: {exc}") from None
    if not key_usage.digital_signature:
        raise CertificateError("the certificate's key usage does not allow digital signatures")
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise CertificateError(
            "the certificate is not for client authentication (no clientAuth EKU)"
        )


# --- trust store and revocation -------------------------------------------------------


@dataclass(frozen=True)
class TrustStore:
    """The root certificates the service trusts (configuration, so the real JPKI
    CA can replace the pilot's CA)."""

    roots: tuple[x509.Certificate, ...]
    _store: verification.Store = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        roots = tuple(self.roots)
        if not roots:
            raise CertificateError("a trust store needs at least one root certificate")
        for root in roots:
            if not isinstance(root, x509.Certificate):
                raise TypeError("trust store roots must be x509.Certificate objects")
            try:
                constraints = root.extensions.get_extension_for_class(x509.BasicConstraints).value
            except (x509.ExtensionNotFound, ValueError):
                constraints = None
            if constraints is None or not constraints.ca:
                raise CertificateError(f"{root.subject.rfc4514_string()} is not a CA certificate")
        object.__setattr__(self, "roots", roots)
        object.__setattr__(self, "_store", verification.Store(list(roots)))

    @classmethod
    def from_pem(cls, data: str | bytes) -> TrustStore:
        return cls(tuple(certificates_from_pem(data)))

    @classmethod
    def from_der(cls, items: Iterable[bytes]) -> TrustStore:
        return cls(tuple(_load_der_certificate(item, CertificateError) for item in items))

    def verify_chain(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        now: datetime,
        *,
        require_san: bool = True,
    ) -> tuple[x509.Certificate, ...]:
        """The built chain, leaf first and root last; the client policy requires a
        SAN and AKI on the leaf and RSA >= 2048 with SHA-256+ on every CA.
        ``require_san=False`` (an anchor whose certificates name no employee, such
        as JPKI's user-authentication certificate) lets the leaf have no SAN;
        every other check of the policy stays."""
        builder = verification.PolicyBuilder().store(self._store).time(_utc(now))
        if not require_san:
            builder = builder.extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
                    x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
                ),
            )
        verifier = builder.build_client_verifier()
        try:
            verified = verifier.verify(leaf, list(intermediates))
        except verification.VerificationError as exc:
            detail = str(exc)
            if "not valid at validation time" in detail:
                raise CertificateError(
                    "a certificate in the chain is expired or not yet valid"
                ) from None
            raise CertificateError(f"the certificate chain is not trusted: {detail}") from None
        except ValueError as exc:
            raise CertificateError(f"the certificate chain cannot be parsed: {exc}") from None
        return tuple(verified.chain)


_UNSUPPORTED_CRL_EXTENSIONS = (
    ExtensionOID.ISSUING_DISTRIBUTION_POINT,
    ExtensionOID.DELTA_CRL_INDICATOR,
)


def check_revocation(
    chain: Sequence[x509.Certificate],
    crls: Iterable[x509.CertificateRevocationList],
    *,
    now: datetime,
) -> None:
    """Check every non-root certificate of a built chain (leaf first, root last)
    against its issuer's CRL. Fails closed: an issuer without a current CRL
    signed by its own key is an error, not a pass."""
    now = _utc(now)
    crls = list(crls)
    for certificate, issuer in zip(chain[:-1], chain[1:], strict=True):
        issuer_name = issuer.subject.rfc4514_string()
        same_name = [crl for crl in crls if crl.issuer == issuer.subject]
        signed = [crl for crl in same_name if crl.is_signature_valid(issuer.public_key())]
        if not signed:
            if same_name:
                raise CrlError(f"the CRL for {issuer_name} is not signed by that CA's key")
            raise CrlError(f"no CRL from {issuer_name}; revocation cannot be checked")
        try:
            _check_crls(certificate, signed, issuer_name, now)
        except ValueError as exc:
            raise CrlError(f"the CRL from {issuer_name} cannot be parsed: {exc}") from None


def _check_crls(
    certificate: x509.Certificate,
    signed: list[x509.CertificateRevocationList],
    issuer_name: str,
    now: datetime,
) -> None:
    """The newest CRL must be current; an entry in any of them revokes."""
    for crl in signed:
        _check_crl_kind(crl, issuer_name)
    latest = max(signed, key=lambda crl: crl.last_update_utc)
    if latest.last_update_utc > now + timedelta(seconds=CLOCK_SKEW_S):
        raise CrlError(
            f"the CRL from {issuer_name} is not valid yet (thisUpdate {latest.last_update_utc})"
        )
    if latest.next_update_utc is None:
        raise CrlError(f"the CRL from {issuer_name} has no nextUpdate")
    if now >= latest.next_update_utc:
        raise CrlError(
            f"the CRL from {issuer_name} is out of date (nextUpdate {latest.next_update_utc}); "
            "publish a new CRL"
        )
    for crl in signed:
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if entry is not None:
            raise CertificateRevoked(
                f"the certificate {certificate.subject.rfc4514_string()} "
                f"(serial {certificate.serial_number:x}) was revoked on {entry.revocation_date_utc}"
            )


def _check_crl_kind(crl: x509.CertificateRevocationList, issuer_name: str) -> None:
    """Only complete CRLs: a partitioned (IDP) or delta CRL might not list a
    revoked certificate, so reading it as complete would fail open."""
    for extension in crl.extensions:
        if extension.oid in _UNSUPPORTED_CRL_EXTENSIONS or (
            extension.critical and isinstance(extension.value, x509.UnrecognizedExtension)
        ):
            raise CrlError(
                f"the CRL from {issuer_name} has an unsupported extension "
                f"{extension.oid.dotted_string}"
            )


# --- login token ------------------------------------------------------------------


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

    def to_json(self) -> dict[str, str]:
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
        public_key=public_key,
        chain=chain,
    )


def _read_jws(token: object, what: str, members: frozenset[str]) -> tuple[str, tuple[x509.Certificate, ...], dict, bytes, bytes]:
    """The strict shape the login and enrollment tokens share: compact JWS,
    header exactly {alg, x5c}, a payload of exactly ``members`` whose nonce,
    aud, iat and exp are well-formed. No certificate or signature is trusted
    yet. Returns (alg, chain, payload, signing input, signature)."""
    if not isinstance(token, str):
        raise TokenFormatError(f"the {what} must be text")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenFormatError(f"the {what} is longer than {MAX_TOKEN_LENGTH} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenFormatError(f"the {what} must be three non-empty base64url parts separated by '.'")
    header = _json_object(_b64url_decode(parts[0], "header"), "header")
    payload = _json_object(_b64url_decode(parts[1], "payload"), "payload")
    signature = _b64url_decode(parts[2], "signature")
    if set(header) != _HEADER_MEMBERS:
        raise TokenFormatError(f"the header must have exactly the members alg and x5c, not {sorted(header)}")
    alg, x5c = header["alg"], header["x5c"]
    if alg not in ALGORITHMS:
        raise TokenFormatError(f"alg {_short(alg)} is not allowed; use one of {', '.join(ALGORITHMS)}")
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= MAX_CHAIN_LENGTH:
        raise TokenFormatError(f"x5c must be a list of 1 to {MAX_CHAIN_LENGTH} certificates")
    chain = tuple(
        _load_der_certificate(_b64_decode(item, "an x5c certificate", TokenFormatError), TokenFormatError)
        for item in x5c
    )
    if set(payload) != members:
        raise TokenFormatError(f"the {what}'s payload must have exactly the members {sorted(members)}")
    nonce, aud, iat, exp = (payload[k] for k in ("nonce", "aud", "iat", "exp"))
    if not isinstance(nonce, str) or not NONCE_PATTERN.fullmatch(nonce):
        raise TokenFormatError("nonce must be 16 to 128 base64url characters")
    if not isinstance(aud, str) or not 0 < len(aud) <= MAX_AUDIENCE_LENGTH:
        raise TokenFormatError("aud must be one non-empty string")
    for label, value in (("iat", iat), ("exp", exp)):
        if type(value) is not int or not 0 <= value <= _MAX_NUMERIC_DATE:
            raise TokenFormatError(f"{label} must be an integer number of seconds since 1970")
    if not 0 < exp - iat <= MAX_TOKEN_LIFETIME_S:
        raise TokenFormatError(f"exp must be 1 to {MAX_TOKEN_LIFETIME_S} seconds after iat")
    return alg, chain, payload, (parts[0] + "." + parts[1]).encode("ascii"), signature


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


_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str, what: str) -> bytes:
    """RFC 7515 base64url: no padding, no other characters, canonical trailing bits."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise TokenFormatError(f"the {what} is not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64url_encode(data) != text:
        raise TokenFormatError(f"the {what} is not canonical base64url")
    return data


def _b64_decode(text: object, what: str, error: type[CredentialError]) -> bytes:
    """Standard padded base64 (x5c, RFC 7515 4.1.6; the credential file), canonical."""
    if not isinstance(text, str) or not _B64.fullmatch(text) or len(text) % 4:
        raise error(f"{what} is not base64")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise error(f"{what} is not base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise error(f"{what} is not canonical base64")
    return data


def _json_object(data: bytes, what: str) -> dict:
    """UTF-8 JSON object without duplicate members, floats or NaN."""

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise TokenFormatError(f"the {what} has a duplicate member")
        return result

    def no_floats(text: str) -> object:
        raise TokenFormatError(f"the {what} has a non-integer number")

    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=no_duplicates,
            parse_float=no_floats,
            parse_constant=no_floats,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise TokenFormatError(f"the {what} is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise TokenFormatError(f"the {what} must be a JSON object")
    return value


def _load_der_certificate(data: bytes, error: type[CredentialError]) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise error("not a DER X.509 certificate") from None


# --- cards whose certificates name no employee: login subject, enrollment token ------------


def login_subject(leaf: x509.Certificate) -> str:
    """The login token's ``sub``: the employee id the certificate names; for one
    that names none (JPKI's user-authentication certificate), its SHA-256
    fingerprint (64 hex digits), which claims nothing: the service takes the
    employee from the card's enrollment."""
    try:
        return employee_id_of(leaf)
    except CertificateError:
        return certificate_fingerprint(leaf)


def card_name_of(certificate: x509.Certificate) -> str:
    """The subject's one common name if it has one, else "" (a JPKI
    user-authentication certificate's CN is no person's name either)."""
    try:
        return display_name_of(certificate)
    except (CertificateError, ValueError):
        return ""


def check_card_usage(leaf: x509.Certificate) -> None:
    """The usage check for a certificate that names no employee: a key usage
    extension that allows digital signatures. An extended key usage, if
    present, must include clientAuth (the chain verifier checks that)."""
    try:
        key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateError("the certificate has no key usage extension") from None
    except ValueError as exc:
        raise CertificateError(f"the certificate cannot be parsed: {exc}") from None
    if not key_usage.digital_signature:
        raise CertificateError("the certificate's key usage does not allow digital signatures")


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
    private_key: PrivateKey,
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


# --- login nonces --------------------------------------------------------------------


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


# --- ballot signatures ---------------------------------------------------------------


def ballot_signature_message(*, election_fingerprint: bytes, tracking_code: bytes) -> bytes:
    """The signed bytes: the domain tag, the election and the tracking code, so a
    signature cannot be moved to another election or ballot."""
    for label, value in (
        ("election_fingerprint", election_fingerprint),
        ("tracking_code", tracking_code),
    ):
        if not isinstance(value, bytes) or not value:
            raise ValueError(f"{label} must be non-empty bytes")
    return encode_parts(BALLOT_SIGNATURE_TAG, election_fingerprint, tracking_code)


def sign_ballot(
    private_key: SigningKey, *, election_fingerprint: bytes, tracking_code: bytes
) -> bytes:
    """The voter's certificate key signs the tracking code of the ballot they cast."""
    message = ballot_signature_message(
        election_fingerprint=election_fingerprint, tracking_code=tracking_code
    )
    return _sign(private_key, message)


def verify_ballot_signature(
    certificate: x509.Certificate,
    signature: bytes,
    *,
    election_fingerprint: bytes,
    tracking_code: bytes,
) -> None:
    """Eligibility verifiability: the ballot was signed by this certificate's key.
    Whether the certificate was valid and on the roll is checked elsewhere."""
    message = ballot_signature_message(
        election_fingerprint=election_fingerprint, tracking_code=tracking_code
    )
    if not isinstance(signature, bytes):
        raise BallotSignatureError("a ballot signature must be bytes")
    if not _signature_valid(certificate.public_key(), signature, message):
        raise BallotSignatureError(
            "the ballot signature does not verify with the voter's certificate"
        )


# --- per-election voting credentials ---------------------------------------------------
#
# An employee's certificate key never signs a ballot. For each election the
# employee derives a voting credential, an Ed25519 key whose seed comes from a
# secret of the credential file and the election id, registers its public key
# once (signed by the certificate: the auditors' part of the record keeps that
# registration), and signs ballots with it. The board shows only the credential:
# nothing public verifies against a certificate, and two elections give
# unrelated credentials. The derivation is deterministic, so the same employee
# gets the same credential on every device.


def credential_secret(pkcs8: bytes) -> bytes:
    """The employee credential's secret: SHA-256 over the PKCS#8 DER of its
    private key, exactly as sealed in the credential file."""
    if not isinstance(pkcs8, bytes) or not pkcs8:
        raise ValueError("pkcs8 must be non-empty bytes")
    return hashlib.sha256(encode_parts(CREDENTIAL_SECRET_TAG, pkcs8)).digest()


def pkcs8_of(private_key: PrivateKey) -> bytes:
    """The PKCS#8 DER the credential file seals (and the browser decrypts)."""
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# --- the card secret ---------------------------------------------------------------------
#
# A key on a card cannot be read, so ``credential_secret`` (a hash of the key's
# PKCS#8) is out of reach. The card computes a value only its key can compute,
# the same every time: an RSA key signs a fixed message (PKCS#1 v1.5 is
# deterministic), an EC key does ECDH with a fixed point nobody knows the
# discrete logarithm of. The secret is a hash of that value; the voting
# credentials derive from it as from a file's secret.

CARD_SECRET_TAG = "votingpilot/v1/card-secret"
CARD_SECRET_MESSAGE_TAG = "votingpilot/v1/card-secret-message"
CARD_SECRET_POINT_TAG = "votingpilot/v1/card-secret-point"
CARD_SECRET_KINDS = ("rsa-signature", "ecdh", "eddsa-signature")


def card_secret_message(certificate: x509.Certificate) -> bytes:
    """What an RSA (or Ed25519) card signs to make its secret: the domain tag
    and the SHA-256 of its key's SubjectPublicKeyInfo DER (the key, not the
    certificate: a certificate renewed for the same key keeps the secret)."""
    if not isinstance(certificate, x509.Certificate):
        raise TypeError("certificate must be an x509.Certificate")
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(spki).digest()
    return encode_parts(CARD_SECRET_MESSAGE_TAG, digest)


@functools.lru_cache(maxsize=1)
def card_secret_point() -> bytes:
    """The P-256 point an EC card does ECDH with, as 65 bytes uncompressed
    (04 || x || y). Nothing-up-my-sleeve: x is the first SHA-256 of
    (tag, counter as 4 bytes big-endian), counter = 0, 1, ..., that is the
    x-coordinate of a curve point; of the two points with that x, the one
    with even y (SEC 1 compressed prefix 02)."""
    for counter in range(2**32):
        x = hashlib.sha256(encode_parts(CARD_SECRET_POINT_TAG, counter.to_bytes(4, "big"))).digest()
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x02" + x)
        except ValueError:
            continue
        return point.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    raise AssertionError("unreachable: about half of all x are on the curve")  # pragma: no cover


def card_secret(kind: str, value: bytes) -> bytes:
    """The 32-byte secret of a card, the source of its voting credentials.

    ``kind`` "rsa-signature": ``value`` is the RS256 signature of
    ``card_secret_message``; "ecdh": the 32-byte x-coordinate of d times
    ``card_secret_point()``; "eddsa-signature": the Ed25519 signature of
    ``card_secret_message`` (deterministic, RFC 8032).
    """
    if kind not in CARD_SECRET_KINDS:
        raise ValueError(f"kind must be one of {', '.join(CARD_SECRET_KINDS)}")
    if not isinstance(value, bytes) or not value:
        raise ValueError("value must be non-empty bytes")
    if kind == "ecdh" and len(value) != 32:
        raise ValueError("an ECDH value is the 32-byte x-coordinate")
    return hashlib.sha256(encode_parts(CARD_SECRET_TAG, kind, value)).digest()


def voting_credential_seed(secret: bytes, election_id: str) -> bytes:
    """The 32-byte Ed25519 seed of the voting credential for one election."""
    if not isinstance(secret, bytes) or len(secret) != 32:
        raise ValueError("the credential secret must be 32 bytes")
    if not isinstance(election_id, str) or not election_id:
        raise ValueError("election_id must be a non-empty string")
    return hashlib.sha256(encode_parts(VOTING_CREDENTIAL_TAG, secret, election_id)).digest()


@dataclass(frozen=True)
class VotingCredential:
    """A voter's Ed25519 key for one election; ``hex`` is the ballots' voter_id."""

    private_key: ed25519.Ed25519PrivateKey
    election_id: str

    @classmethod
    def derive(cls, secret: bytes, election_id: str) -> VotingCredential:
        seed = voting_credential_seed(secret, election_id)
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(seed), election_id)

    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def hex(self) -> str:
        return self.public_bytes.hex()

    def sign_ballot(self, *, election_fingerprint: bytes, tracking_code: bytes) -> bytes:
        return sign_ballot_with(
            self, election_fingerprint=election_fingerprint, tracking_code=tracking_code
        )


def voting_credential(secret: bytes, election_id: str) -> VotingCredential:
    return VotingCredential.derive(secret, election_id)


def parse_voting_credential(value: object) -> bytes:
    """A voting credential as sent and shown: 64 lowercase hex digits of an
    Ed25519 public key. Returns the 32 bytes."""
    if not isinstance(value, str) or VOTING_CREDENTIAL_PATTERN.fullmatch(value) is None:
        raise VotingCredentialError("a voting credential is 64 lowercase hex digits")
    raw = bytes.fromhex(value)
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= _ED25519_P:
        raise VotingCredentialError("the voting credential is not a canonical Ed25519 encoding")
    if y in _SMALL_ORDER_Y:
        # A key of small order verifies forged signatures (R = identity, s = 0):
        # anyone could cast for that credential. The same list as libsodium's.
        raise VotingCredentialError("the voting credential is a small-order point, not a key")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise VotingCredentialError("the voting credential is not an Ed25519 public key") from None
    return raw


_ED25519_P = 2**255 - 19
#: The y coordinates of the eight points of small order on edwards25519
#: (RFC 8032's curve): 1 (identity), p-1 (order 2), 0 (order 4), and the two of
#: order 8; either sign of x. A canonical encoding with one of them is refused.
_SMALL_ORDER_Y = frozenset(
    {0, 1, _ED25519_P - 1}
    | {
        int.from_bytes(bytes.fromhex(h), "little")
        for h in (
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        )
    }
)


def registration_message(election_id: str, credential_pub: bytes) -> bytes:
    """What the certificate key signs to register a voting credential."""
    if not isinstance(election_id, str) or not election_id:
        raise ValueError("election_id must be a non-empty string")
    if not isinstance(credential_pub, bytes) or len(credential_pub) != 32:
        raise ValueError("the voting credential must be 32 bytes")
    return encode_parts(REGISTRATION_TAG, election_id, credential_pub)


def sign_registration(private_key: SigningKey, *, election_id: str, credential_pub: bytes) -> bytes:
    """The certificate key's signature (JWS form) registering the credential."""
    return _sign(private_key, registration_message(election_id, credential_pub))


def verify_registration(
    certificate: x509.Certificate, signature: bytes, *, election_id: str, credential_pub: bytes
) -> None:
    """The registration was signed by this certificate's key. Whether the
    certificate is trusted, unrevoked and on the roll is checked elsewhere."""
    if not isinstance(signature, bytes):
        raise RegistrationError("a registration signature must be bytes")
    message = registration_message(election_id, credential_pub)
    try:
        valid = _signature_valid(certificate.public_key(), signature, message)
    except WeakKeyError as exc:
        raise RegistrationError(f"the registering certificate's key is not accepted: {exc}") from None
    if not valid:
        raise RegistrationError(
            "the registration of the voting credential does not verify with the voter's certificate"
        )


def sign_ballot_with(
    credential: VotingCredential, *, election_fingerprint: bytes, tracking_code: bytes
) -> bytes:
    """The voting credential signs the tracking code of the ballot (Ed25519, 64 bytes)."""
    message = ballot_signature_message(
        election_fingerprint=election_fingerprint, tracking_code=tracking_code
    )
    return credential.private_key.sign(message)


def verify_credential_signature(
    credential_pub: bytes,
    signature: bytes,
    *,
    election_fingerprint: bytes,
    tracking_code: bytes,
) -> None:
    """The ballot was signed by this voting credential (Ed25519)."""
    message = ballot_signature_message(
        election_fingerprint=election_fingerprint, tracking_code=tracking_code
    )
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise BallotSignatureError("a ballot signature is 64 bytes (Ed25519)")
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(credential_pub)
        key.verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        raise BallotSignatureError(
            "the ballot signature does not verify with the voter's credential"
        ) from None


# --- trustees' endorsements of the joint key -------------------------------------------


def endorsement_message(*, election_id: str, joint_key: bytes, fingerprint: bytes) -> bytes:
    """What a trustee signs once the ceremony is over: the election, its joint key
    and its fingerprint (which covers the manifest). Voters accept a joint key only
    with every trustee's endorsement, so a server cannot hand out a key of its own."""
    if not isinstance(election_id, str) or not election_id:
        raise ValueError("election_id must be a non-empty string")
    for label, value in (("joint_key", joint_key), ("fingerprint", fingerprint)):
        if not isinstance(value, bytes) or len(value) != 32:
            raise ValueError(f"{label} must be 32 bytes")
    return encode_parts(ENDORSEMENT_TAG, election_id, joint_key, fingerprint)


def announcement_message(*, election_id: str, announcement: Mapping[str, object]) -> bytes:
    """What a trustee signs with its announcement: the election and the whole
    announcement (index, commitments, proofs, share key), so co-trustees encrypt
    their shares only to announcements the named trustees made, never to one the
    server made up."""
    if not isinstance(election_id, str) or not election_id:
        raise ValueError("election_id must be a non-empty string")
    return encode_parts(ANNOUNCEMENT_SIGNATURE_TAG, election_id, canonical_json(dict(announcement)))


def sign_endorsement(
    credential: Credential, *, election_id: str, joint_key: bytes, fingerprint: bytes
) -> dict[str, object]:
    """The endorsement as it goes on the board: the signature (hex, JWS form)
    and the trustee's certificate chain (base64 DER, leaf first, no root)."""
    return _signed(credential, endorsement_message(election_id=election_id, joint_key=joint_key, fingerprint=fingerprint))


def sign_announcement(credential: Credential, *, election_id: str, announcement: Mapping[str, object]) -> dict[str, object]:
    """The trustee's signature over its announcement, in the endorsement's form."""
    return _signed(credential, announcement_message(election_id=election_id, announcement=announcement))


def _signed(credential: Credential, message: bytes) -> dict[str, object]:
    return {
        "chain": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for c in credential.chain
            if c.issuer != c.subject
        ],
        "signature": _sign(credential.private_key, message).hex(),
    }


@dataclass(frozen=True)
class Endorsement:
    """A trustee's signature (over the joint key, or over its announcement) that
    verified with its leaf certificate."""

    employee_id: str
    name: str
    chain: tuple[x509.Certificate, ...]


def verify_endorsement(
    doc: object,
    *,
    election_id: str,
    joint_key: bytes,
    fingerprint: bytes,
    employee_id: str,
    trust_store: TrustStore | None = None,
    now: datetime | None = None,
) -> Endorsement:
    """The endorsement's signature verifies with its leaf, which names
    ``employee_id``; with a trust store, the chain verifies to one of its roots
    at ``now`` (revocation is the caller's: see ``check_revocation``)."""
    message = endorsement_message(election_id=election_id, joint_key=joint_key, fingerprint=fingerprint)
    return _verify_signed(doc, message, employee_id, trust_store, now, "endorsement of the joint key", EndorsementError)


def verify_announcement_signature(
    doc: object,
    *,
    election_id: str,
    announcement: Mapping[str, object],
    employee_id: str,
    trust_store: TrustStore | None = None,
    now: datetime | None = None,
) -> Endorsement:
    """Trustee ``employee_id`` signed this announcement (as ``verify_endorsement``)."""
    message = announcement_message(election_id=election_id, announcement=announcement)
    return _verify_signed(doc, message, employee_id, trust_store, now, "announcement signature", AnnouncementSignatureError)


def _verify_signed(
    doc: object,
    message: bytes,
    employee_id: str,
    trust_store: TrustStore | None,
    now: datetime | None,
    what: str,
    error: type[CredentialError],
) -> Endorsement:
    if not isinstance(doc, Mapping) or set(doc) != {"chain", "signature"}:
        raise error(f"the {what} must be {{chain, signature}}")
    chain_b64, signature_hex = doc["chain"], doc["signature"]
    if not isinstance(chain_b64, list) or not 1 <= len(chain_b64) <= MAX_CHAIN_LENGTH:
        raise error(f"the {what}'s chain must hold 1 to {MAX_CHAIN_LENGTH} certificates")
    chain = tuple(_load_der_certificate(_b64_decode(item, f"a certificate of the {what}", error), error) for item in chain_b64)
    if not isinstance(signature_hex, str) or not re.fullmatch(r"(?:[0-9a-f]{2}){64,512}", signature_hex):
        raise error(f"the {what}'s signature must be lowercase hex")
    leaf = chain[0]
    try:
        check_key(leaf.public_key())
        signer = employee_id_of(leaf)
    except (CredentialError, ValueError) as exc:
        raise error(f"the {what}'s certificate is not an employee certificate: {exc}") from None
    if signer != employee_id:
        raise error(f"the {what} is signed by {signer}, not by trustee {employee_id}")
    if not _signature_valid(leaf.public_key(), bytes.fromhex(signature_hex), message):
        raise error(f"trustee {employee_id}'s {what} does not verify")
    if trust_store is not None:
        try:
            chain = trust_store.verify_chain(leaf, chain[1:], now if now is not None else datetime.now(timezone.utc))
        except CertificateError as exc:
            raise error(f"trustee {employee_id}'s certificate is not trusted: {exc}") from None
    return Endorsement(signer, display_name_of(leaf), chain)


# --- credential file -------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """An employee's key and certificate chain (leaf first), as opened from a
    credential file or issued by the CA tooling."""

    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    employee_id: str
    name: str
    #: The PKCS#8 DER exactly as sealed in the credential file (None: computed from the key).
    pkcs8: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def secret(self) -> bytes:
        """The secret the per-election voting credentials derive from."""
        return credential_secret(self.pkcs8 if self.pkcs8 is not None else pkcs8_of(self.private_key))

    def voting_credential(self, election_id: str) -> VotingCredential:
        return VotingCredential.derive(self.secret, election_id)


def seal_credential(
    private_key: PrivateKey,
    chain: Sequence[x509.Certificate],
    pin: str,
    *,
    employee_id: str,
    name: str,
    iterations: int = DEFAULT_PBKDF2_ITERATIONS,
) -> dict[str, object]:
    """The credential file: the PKCS#8 key under AES-256-GCM with a key from
    PBKDF2-HMAC-SHA256(PIN); WebCrypto opens it with the same three primitives."""
    return _seal(
        private_key,
        chain,
        pin,
        employee_id=employee_id,
        name=name,
        iterations=iterations,
        salt=secrets.token_bytes(_SALT_BYTES),
        nonce=secrets.token_bytes(_GCM_NONCE_BYTES),
    )


def _seal(
    private_key: PrivateKey,
    chain: Sequence[x509.Certificate],
    pin: str,
    *,
    employee_id: str,
    name: str,
    iterations: int,
    salt: bytes,
    nonce: bytes,
) -> dict[str, object]:
    """``seal_credential`` with the salt and nonce given (reproducible test vectors only)."""
    chain = tuple(chain)
    if not 1 <= len(chain) <= MAX_CHAIN_LENGTH:
        raise ValueError(f"the chain must hold 1 to {MAX_CHAIN_LENGTH} certificates")
    if type(iterations) is not int or not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
        raise ValueError(f"iterations must be in 1..{MAX_PBKDF2_ITERATIONS}")
    pin_bytes = _normalize_pin(pin)
    if len(pin_bytes.decode("utf-8")) < MIN_PIN_LENGTH:
        raise CredentialError(f"the PIN must have at least {MIN_PIN_LENGTH} characters")
    _check_name(name)
    alg = algorithm_for_key(private_key)
    if not _same_public_key(private_key.public_key(), chain[0].public_key()):
        raise CredentialError("the private key does not belong to the certificate")
    if employee_id_of(chain[0]) != employee_id:
        raise CredentialError("the employee id differs from the one in the certificate")
    chain_der = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    aad = _credential_aad(alg, employee_id, name, chain_der, iterations, salt)
    ciphertext = AESGCM(_pin_key(pin_bytes, salt, iterations)).encrypt(nonce, pkcs8, aad)
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    return {
        "format": CREDENTIAL_FORMAT,
        "version": CREDENTIAL_VERSION,
        "alg": alg,
        "employee_id": employee_id,
        "name": name,
        "chain": [b64(der) for der in chain_der],
        "kdf": {"name": "PBKDF2-HMAC-SHA256", "iterations": iterations, "salt": b64(salt)},
        "cipher": {"name": "AES-256-GCM", "nonce": b64(nonce)},
        "key": b64(ciphertext),
    }


def open_credential(doc: Mapping[str, object], pin: str) -> Credential:
    """Check every field, decrypt the key with the PIN, and check that the key,
    the certificate and the employee id belong together."""
    if not isinstance(doc, Mapping):
        raise CredentialError("the credential file must be a JSON object")
    if set(doc) != _CREDENTIAL_MEMBERS:
        raise CredentialError("the credential file's members are not those of a credential file")
    if doc["format"] != CREDENTIAL_FORMAT or type(doc["version"]) is not int:
        raise CredentialError("this is not a voting pilot credential file")
    if doc["version"] != CREDENTIAL_VERSION:
        raise CredentialError(f"credential file version {doc['version']} is not supported")
    alg, employee_id, name = doc["alg"], doc["employee_id"], doc["name"]
    if alg not in ALGORITHMS:
        raise CredentialError("the credential file's alg is not supported")
    if not is_valid_employee_id(employee_id):
        raise CredentialError("the credential file's employee id is not valid")
    _check_name(name)
    chain_b64 = doc["chain"]
    if not isinstance(chain_b64, list) or not 1 <= len(chain_b64) <= MAX_CHAIN_LENGTH:
        raise CredentialError(
            f"the credential file's chain must hold 1 to {MAX_CHAIN_LENGTH} certificates"
        )
    chain_der = [
        _b64_decode(item, "a certificate in the credential file", CredentialError)
        for item in chain_b64
    ]
    chain = tuple(_load_der_certificate(der, CredentialError) for der in chain_der)
    kdf, cipher = doc["kdf"], doc["cipher"]
    if (
        not isinstance(kdf, dict)
        or set(kdf) != {"name", "iterations", "salt"}
        or kdf["name"] != "PBKDF2-HMAC-SHA256"
    ):
        raise CredentialError(
            "the credential file's kdf must be PBKDF2-HMAC-SHA256 with iterations and salt"
        )
    iterations = kdf["iterations"]
    if type(iterations) is not int or not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
        raise CredentialError(
            f"the credential file's iteration count must be in 1..{MAX_PBKDF2_ITERATIONS}"
        )
    salt = _b64_decode(kdf["salt"], "the credential file's salt", CredentialError)
    if len(salt) != _SALT_BYTES:
        raise CredentialError(f"the credential file's salt must be {_SALT_BYTES} bytes")
    if (
        not isinstance(cipher, dict)
        or set(cipher) != {"name", "nonce"}
        or cipher["name"] != "AES-256-GCM"
    ):
        raise CredentialError("the credential file's cipher must be AES-256-GCM with a nonce")
    nonce = _b64_decode(cipher["nonce"], "the credential file's nonce", CredentialError)
    if len(nonce) != _GCM_NONCE_BYTES:
        raise CredentialError(f"the credential file's nonce must be {_GCM_NONCE_BYTES} bytes")
    ciphertext = _b64_decode(doc["key"], "the credential file's key", CredentialError)
    if len(ciphertext) <= _GCM_TAG_BYTES:
        raise CredentialError("the credential file's key is too short")
    if not isinstance(pin, str) or not pin:
        raise CredentialError("enter the PIN of the credential file")

    aad = _credential_aad(alg, employee_id, name, chain_der, iterations, salt)
    try:
        pkcs8 = AESGCM(_pin_key(_normalize_pin(pin), salt, iterations)).decrypt(
            nonce, ciphertext, aad
        )
    except InvalidTag:
        raise CredentialError("wrong PIN, or the credential file is damaged") from None
    try:
        private_key = serialization.load_der_private_key(pkcs8, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CredentialError("the credential file holds no readable private key") from None
    if algorithm_for_key(private_key) != alg:
        raise CredentialError("the credential file's alg does not match its key")
    if not _same_public_key(private_key.public_key(), chain[0].public_key()):
        raise CredentialError("the credential file's key does not belong to its certificate")
    if employee_id_of(chain[0]) != employee_id:
        raise CredentialError("the credential file's employee id differs from its certificate")
    return Credential(private_key=private_key, chain=chain, employee_id=employee_id, name=name, pkcs8=pkcs8)


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        raise CredentialError(f"the name must be 1 to {MAX_NAME_LENGTH} characters")


def _normalize_pin(pin: object) -> bytes:
    """NFKC, so a PIN typed with full-width digits (a Japanese IME) is the same PIN."""
    if not isinstance(pin, str) or not pin:
        raise CredentialError("enter the PIN of the credential file")
    normalized = unicodedata.normalize("NFKC", pin)
    if len(normalized) > MAX_PIN_LENGTH:
        raise CredentialError(f"the PIN must have at most {MAX_PIN_LENGTH} characters")
    return normalized.encode("utf-8")


def _pin_key(pin: bytes, salt: bytes, iterations: int) -> bytes:
    return PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations
    ).derive(pin)


def _credential_aad(
    alg: str, employee_id: str, name: str, chain_der: list[bytes], iterations: int, salt: bytes
) -> bytes:
    """AES-GCM associated data: the file's cleartext fields, so none can be edited."""
    return encode_parts(
        CREDENTIAL_FILE_TAG, CREDENTIAL_VERSION, alg, employee_id, name, chain_der, iterations, salt
    )


# --- PEM -----------------------------------------------------------------------------


def certificate_to_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificates_from_pem(data: str | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (at least one)."""
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        return x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise CertificateError("no readable PEM certificate") from None


def private_key_to_pem(private_key: PrivateKey, password: str | None = None) -> str:
    """PKCS#8 PEM, encrypted when a password is given."""
    encryption = (
        serialization.BestAvailableEncryption(password.encode("utf-8"))
        if password
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode("ascii")


def private_key_from_pem(data: str | bytes, password: str | None = None) -> PrivateKey:
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        key = serialization.load_pem_private_key(
            raw, password.encode("utf-8") if password else None
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CredentialError("no readable PEM private key (or a wrong password)") from None
    if not isinstance(key, _PRIVATE_KEY_TYPES):
        raise WeakKeyError(f"unsupported key type {type(key).__name__}")
    return key


def crl_to_pem(crl: x509.CertificateRevocationList) -> str:
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


def crl_from_pem(data: str | bytes) -> x509.CertificateRevocationList:
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        return x509.load_pem_x509_crl(raw)
    except ValueError:
        raise CrlError("no readable PEM CRL") from None


def crl_from_der(data: bytes) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise CrlError("no readable DER CRL") from None
