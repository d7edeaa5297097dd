"""Keys on a card: PKCS#11 tokens (the My Number card through OpenSC, staff IC
cards, SoftHSM2 in the tests) for every client that signs.

The private key never leaves the token: the token signs (and, for an EC key,
does the one ECDH that makes the card secret). What this module reads from the
token is public: labels, ids, public keys and certificates. See
docs/parts/credentials.md, "Keys on a token" and "Card secret".

Every failure an operator can cause or fix (no module, no card, several cards,
wrong PIN, no such key, no certificate) raises ``CardError`` with one line
that says what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import unicodedata
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from asn1crypto import core as asn1_core
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from crypto.credentials import (
    MAX_CHAIN_LENGTH,
    MAX_NAME_LENGTH,
    PublicKey,
    VotingCredential,
    _same_public_key,
    _sign,
    _signature_valid,
    algorithm_for_key,
    card_secret,
    card_secret_message,
    card_secret_point,
    certificate_fingerprint,
    certificates_from_pem,
    display_name_of,
    employee_id_of,
)
from crypto.errors import CredentialError

if TYPE_CHECKING:
    import pkcs11  # imported at run time only when a card is used

#: The PKCS#11 module to load when none is given (env VOTING_PKCS11_MODULE), e.g.
#: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so, or None.
DEFAULT_MODULE: str | None = os.environ.get("VOTING_PKCS11_MODULE") or None

#: DigestInfo of SHA-256 (RFC 8017 9.2, note 1): CKM_RSA_PKCS signs it with the digest appended.
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")

_ED25519_OID = "1.3.101.112"
_P256_OID = "1.2.840.10045.3.1.7"


class CardError(Exception):
    """One line for the operator: what went wrong with the card and what to do."""


class CardPinError(CardError):
    """The card refused the PIN or cannot take one (wrong, locked, wrong length,
    expired, none given). Running the command again with the same PIN spends
    another of the card's few tries: nothing may retry it on its own."""


class CardAbsentError(CardError):
    """No card (of that label) is in the reader, or it was pulled out: trying
    again once it is inserted may work, and spends no PIN try."""


@dataclass(frozen=True)
class CardChoice:
    """Which module, token and key: ``token`` is a token label (None: the only
    token present); ``key`` a key label or ``id:HEX`` (None: the only key)."""

    module: str
    token: str | None = None
    key: str | None = None


# --- the module ---------------------------------------------------------------------------

_lock = threading.Lock()
_open_sessions: dict[str, int] = {}


def _pkcs11():  # noqa: ANN202 - the python-pkcs11 package
    try:
        import pkcs11
    except ImportError:  # pragma: no cover - a dependency of the project
        raise CardError("python-pkcs11 is not installed; install the project again (pip install -e .)") from None
    return pkcs11


def _library(module: str):  # noqa: ANN202 - pkcs11.lib
    """Load the module; while none of our sessions is open, start it afresh so
    it sees tokens inserted (or created) since it was last used."""
    pkcs11 = _pkcs11()
    if not isinstance(module, str) or not module:
        raise CardError("no PKCS#11 module given; pass --pkcs11-module PATH (or set VOTING_PKCS11_MODULE)")
    if not Path(module).is_file():
        raise CardError(
            f"no PKCS#11 module at {module}; install OpenSC (or the card maker's module) and pass its path with --pkcs11-module"
        )
    with _lock:
        try:
            lib = pkcs11.lib(module)
            if _open_sessions.get(module, 0) == 0:
                lib.reinitialize()
        except pkcs11.PKCS11Error as exc:
            raise CardError(f"the PKCS#11 module {module} cannot be loaded ({_describe(exc)}); check that it is a PKCS#11 module") from None
    return lib


def _session_opened(module: str) -> None:
    with _lock:
        _open_sessions[module] = _open_sessions.get(module, 0) + 1


def _session_closed(module: str, session: object) -> None:
    with _lock:
        with contextlib.suppress(Exception):  # the token may be gone already; nothing to recover
            session.close()  # type: ignore[attr-defined]
        _open_sessions[module] = max(0, _open_sessions.get(module, 0) - 1)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tokens(lib) -> list:  # noqa: ANN001
    """The initialized tokens present (an empty SoftHSM slot has an uninitialized one)."""
    pkcs11 = _pkcs11()
    tokens = []
    for slot in lib.get_slots(token_present=True):
        try:
            token = slot.get_token()
        except (pkcs11.TokenNotPresent, pkcs11.TokenNotRecognised):
            continue
        if token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
            tokens.append(token)
    return tokens


def _choose_token(lib, module: str, label: str | None):  # noqa: ANN001, ANN202
    tokens = _tokens(lib)
    if label is not None:
        found = [t for t in tokens if t.label == label]
        if not found:
            present = ", ".join(sorted(repr(t.label) for t in tokens)) or "none"
            busy = _open_sessions.get(module, 0) > 0
            hint = "; a card inserted while this program uses another is seen when it starts again" if busy else ""
            raise CardAbsentError(f"no card {label!r} in {module} (present: {present}); insert it or check --card-token{hint}")
        if len(found) > 1:
            raise CardError(
                f"several cards are labelled {label!r} (serial numbers {', '.join(_serial(t) for t in found)}); "
                "keep only one of them in the readers (no PIN was sent to any)"
            )
        return found[0]
    if not tokens:
        raise CardAbsentError(f"no card found through {module}; insert the card into the reader")
    if len(tokens) > 1:
        labels = ", ".join(sorted(repr(t.label) for t in tokens))
        raise CardError(f"several cards are present ({labels}); choose one with --card-token LABEL")
    return tokens[0]


def _serial(token) -> str:  # noqa: ANN001
    serial = token.serial
    text = serial.decode("ascii", "replace") if isinstance(serial, bytes) else str(serial)
    return text.strip() or "?"


def _fresh_flags(token):  # noqa: ANN001, ANN202
    """The token's flags now (they change after a wrong PIN)."""
    try:
        return token.slot.get_token().flags
    except Exception:  # noqa: BLE001 - the card was pulled; the caller reports the PIN error
        return token.flags


def _normalize_pin(pin: str) -> str:
    """NFKC, as for credential files: full-width digits from a Japanese IME are the same PIN."""
    return unicodedata.normalize("NFKC", pin)


def _login(token, pin: str | None, ask_pin: Callable[[str], str] | None, *, rw: bool = False):  # noqa: ANN001, ANN202
    """A session logged in as the user: through the reader's PIN pad when the
    token has a protected authentication path, else with ``pin`` or ``ask_pin``."""
    pkcs11 = _pkcs11()
    flags = token.flags
    if flags & pkcs11.TokenFlag.USER_PIN_LOCKED:
        raise CardPinError(f"the PIN of card {token.label!r} is locked after too many wrong PINs; have it unblocked (the card issuer's PIN reset)")
    if not flags & pkcs11.TokenFlag.LOGIN_REQUIRED:
        user_pin = None
    elif flags & pkcs11.TokenFlag.PROTECTED_AUTHENTICATION_PATH:
        user_pin = pkcs11.PROTECTED_AUTH
    else:
        if pin is None and ask_pin is not None:
            pin = ask_pin(token.label)
        if not pin:
            raise CardPinError(f"enter the PIN of card {token.label!r} (--pin or VOTING_PIN)")
        user_pin = _normalize_pin(pin)
    try:
        return token.open(user_pin=user_pin, rw=rw)
    except pkcs11.PinIncorrect:
        raise CardPinError(_wrong_pin(token)) from None
    except pkcs11.PinLocked:
        raise CardPinError(f"the PIN of card {token.label!r} is locked after too many wrong PINs; have it unblocked (the card issuer's PIN reset)") from None
    except pkcs11.PinLenRange:
        raise CardPinError(f"the PIN of card {token.label!r} has the wrong length; enter the card's PIN") from None
    except pkcs11.PinExpired:
        raise CardPinError(f"the PIN of card {token.label!r} has expired; change it with the card's own tool first") from None
    except pkcs11.UserAlreadyLoggedIn:
        # Another session of this program is logged in to the card already: the
        # login state is shared, so this session may use the key too.
        return token.open(rw=rw)
    except (pkcs11.TokenNotPresent, pkcs11.DeviceRemoved):
        raise CardAbsentError(f"card {token.label!r} was removed; insert it and try again") from None
    except pkcs11.PKCS11Error as exc:
        raise CardError(f"card {token.label!r} refused the login ({_describe(exc)})") from None


def _wrong_pin(token) -> str:  # noqa: ANN001
    pkcs11 = _pkcs11()
    flags = _fresh_flags(token)
    base = f"wrong PIN for card {token.label!r}"
    if flags & pkcs11.TokenFlag.USER_PIN_LOCKED:
        return f"{base}; the PIN is now locked: have it unblocked (the card issuer's PIN reset)"
    if flags & pkcs11.TokenFlag.USER_PIN_FINAL_TRY:
        return f"{base}; one try is left before the card locks: check the PIN before trying again"
    if flags & pkcs11.TokenFlag.USER_PIN_COUNT_LOW:
        return f"{base}; few tries are left before the card locks: check the PIN before trying again"
    return f"{base}; check the PIN and try again"


# --- keys -----------------------------------------------------------------------------------


def _parse_key_choice(key: str | None) -> tuple[str | None, bytes | None]:
    if key is None:
        return None, None
    if key.startswith("id:"):
        try:
            key_id = bytes.fromhex(key[3:])
        except ValueError:
            raise CardError(f"--card-key {key!r}: after 'id:' come hex digits (e.g. id:01)") from None
        if not key_id:
            raise CardError(f"--card-key {key!r}: after 'id:' come hex digits (e.g. id:01)")
        return None, key_id
    return key, None


def _key_name(label: str | None, key_id: bytes) -> str:
    return f"{label!r} (id:{key_id.hex()})" if label else f"id:{key_id.hex()}"


def _find_private_key(session, token_label: str, key: str | None):  # noqa: ANN001, ANN202
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute, ObjectClass

    label, key_id = _parse_key_choice(key)
    template: dict[Attribute, object] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
    if label is not None:
        template[Attribute.LABEL] = label
    if key_id is not None:
        template[Attribute.ID] = key_id
    try:
        found = list(session.get_objects(template))
        everything = found if key is None else list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
    except pkcs11.PKCS11Error as exc:
        raise CardError(f"card {token_label!r} cannot list its keys ({_describe(exc)})") from None
    listing = ", ".join(_key_name(k.label, k[Attribute.ID]) for k in everything) or "none"
    if not found:
        if key is None:
            raise CardError(f"card {token_label!r} holds no private key (after login); use the card's authentication key")
        raise CardError(f"no key {key} on card {token_label!r} (keys: {listing}); check --card-key")
    if len(found) > 1:
        raise CardError(f"card {token_label!r} holds several keys{'' if key is None else f' matching {key}'} ({listing}); choose one with --card-key LABEL or id:HEX")
    return found[0]


def _public_key_of(session, private_key) -> PublicKey | None:  # noqa: ANN001
    """The key's public half from its public key object (same CKA_ID), or an
    RSA private key's own public attributes; None when the token shows neither."""
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute, KeyType, ObjectClass

    key_id = private_key[Attribute.ID]
    try:
        publics = list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id})) if key_id else []
    except pkcs11.PKCS11Error:
        publics = []
    for public in publics:
        parsed = _public_key_from_object(public)
        if parsed is not None:
            return parsed
    if private_key.key_type == KeyType.RSA:
        try:
            n = int.from_bytes(private_key[Attribute.MODULUS], "big")
            e = int.from_bytes(private_key[Attribute.PUBLIC_EXPONENT], "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
        except (pkcs11.PKCS11Error, ValueError):
            return None
    return None


def _public_key_from_object(public) -> PublicKey | None:  # noqa: ANN001
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute, KeyType

    try:
        if public.key_type == KeyType.RSA:
            n = int.from_bytes(public[Attribute.MODULUS], "big")
            e = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if public.key_type in (KeyType.EC, KeyType.EC_EDWARDS):
            curve = _curve_of(public[Attribute.EC_PARAMS])
            if curve == "ed25519":
                return ed25519.Ed25519PublicKey.from_public_bytes(_unwrap_point(public[Attribute.EC_POINT], 32))
            if curve == "p256":
                return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unwrap_point(public[Attribute.EC_POINT], 65))
    except (pkcs11.PKCS11Error, ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return None


def _curve_of(params: bytes) -> str | None:
    """CKA_EC_PARAMS: a named-curve OID, or (PKCS#11 3.0, as SoftHSM and
    pkcs11-tool write it) the PrintableString "edwards25519"."""
    try:
        value = asn1_core.load(params)
    except ValueError:
        return None
    if isinstance(value, asn1_core.ObjectIdentifier):
        return {_P256_OID: "p256", _ED25519_OID: "ed25519"}.get(value.dotted)
    if isinstance(value, asn1_core.PrintableString) and value.native == "edwards25519":
        return "ed25519"
    return None


def _unwrap_point(value: bytes, raw_length: int) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING holding the point (PKCS#11 2.40+);
    some modules give the bare point, which has its own fixed length."""
    if len(value) == raw_length:
        return value
    try:
        parsed = asn1_core.OctetString.load(value)
        if parsed.dump() == value and isinstance(parsed.native, bytes):
            return parsed.native
    except ValueError:
        pass
    return value


def _key_type_name(public_key: PublicKey | None, fallback: str = "unknown") -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "P-256" if isinstance(public_key.curve, ec.SECP256R1) else f"EC {public_key.curve.name}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return fallback


class CardKey:
    """A private key on a token (a ``crypto.credentials.TokenKey``): RSA-2048+
    (CKM_RSA_PKCS over a SHA-256 DigestInfo), P-256 (CKM_ECDSA over the SHA-256
    digest) or Ed25519 (CKM_EDDSA). It signs on the token; nothing of the
    private key is ever read."""

    def __init__(self, session, handle, public_key: PublicKey, *, token_label: str, label: str, key_id: bytes) -> None:  # noqa: ANN001
        self._session = session
        self._handle = handle
        self._public_key = public_key
        self.token_label = token_label
        self.label = label
        self.key_id = key_id
        #: CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL as the token reports them.
        self.protection: dict[str, bool | None] = {}
        try:
            self.algorithm = algorithm_for_key(public_key)
        except CredentialError as exc:
            raise CardError(f"key {_key_name(label, key_id)} on card {token_label!r} cannot be used: {exc}") from None

    def __repr__(self) -> str:
        return f"<CardKey {self.algorithm} {_key_name(self.label, self.key_id)} on {self.token_label!r}>"

    @property
    def key_type(self) -> str:
        """"RSA-2048", "P-256" or "Ed25519"."""
        return _key_type_name(self._public_key)

    def public_key(self) -> PublicKey:
        return self._public_key

    def _token_sign(self, data: bytes, mechanism) -> bytes:  # noqa: ANN001
        pkcs11 = _pkcs11()
        try:
            return bytes(self._handle.sign(data, mechanism=mechanism))
        except pkcs11.UserNotLoggedIn:
            raise CardError(f"card {self.token_label!r} is no longer logged in; enter the PIN again") from None
        except (pkcs11.TokenNotPresent, pkcs11.DeviceRemoved, pkcs11.SessionClosed, pkcs11.SessionHandleInvalid):
            raise CardAbsentError(f"card {self.token_label!r} was removed or its session closed; insert it and run the command again") from None
        except pkcs11.PKCS11Error as exc:
            raise CardError(f"card {self.token_label!r} refused to sign with key {_key_name(self.label, self.key_id)} ({_describe(exc)})") from None

    def sign_jws(self, message: bytes) -> bytes:
        """The JWS form: RS256 (PKCS#1 v1.5), ES256 raw r||s, EdDSA raw. The
        signature is checked with the public key before it is returned: a
        faulty token's output (an RSA-CRT fault would reveal the key) never
        leaves here."""
        from pkcs11 import Mechanism

        if not isinstance(message, bytes):
            raise TypeError("message must be bytes")
        if self.algorithm == "RS256":
            signature = self._token_sign(SHA256_DIGEST_INFO + hashlib.sha256(message).digest(), Mechanism.RSA_PKCS)
        elif self.algorithm == "ES256":
            signature = self._token_sign(hashlib.sha256(message).digest(), Mechanism.ECDSA)
        else:
            signature = self._token_sign(message, Mechanism.EDDSA)
        if not _signature_valid(self._public_key, signature, message):
            raise CardError(
                f"card {self.token_label!r} returned a signature that does not verify with key "
                f"{_key_name(self.label, self.key_id)}; the card or its key is faulty"
            )
        return signature

    def sign_der(self, message: bytes) -> bytes:
        """The X.509 form (certificates, CSRs): ECDSA as a DER SEQUENCE of r and s;
        RSA and Ed25519 as in ``sign_jws``."""
        signature = self.sign_jws(message)
        if self.algorithm == "ES256":
            return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        return signature

    def ecdh_x(self, peer_point: bytes) -> bytes:
        """The x-coordinate of d times ``peer_point`` (65-byte uncompressed P-256
        point), by CKM_ECDH1_DERIVE with no KDF on the token."""
        pkcs11 = _pkcs11()
        from pkcs11 import KDF, Attribute, KeyType, Mechanism

        if self.algorithm != "ES256":
            raise CardError("ECDH needs a P-256 key")
        try:
            derived = self._handle.derive_key(
                KeyType.GENERIC_SECRET,
                256,
                mechanism=Mechanism.ECDH1_DERIVE,
                mechanism_param=(KDF.NULL, None, peer_point),
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
            )
            try:
                value = bytes(derived[Attribute.VALUE])
            finally:
                derived.destroy()
        except pkcs11.PKCS11Error as exc:
            raise CardError(
                f"card {self.token_label!r} cannot do ECDH with key {_key_name(self.label, self.key_id)} "
                f"({_describe(exc)}); a P-256 key on a card needs CKA_DERIVE for the card secret"
            ) from None
        if len(value) != 32:
            raise CardError(f"card {self.token_label!r} returned an ECDH value of {len(value)} bytes, not 32")
        return value


def _card_key(session, token_label: str, key: str | None) -> CardKey:  # noqa: ANN001
    from pkcs11 import Attribute

    private = _find_private_key(session, token_label, key)
    label, key_id = private.label or "", private[Attribute.ID] or b""
    try:
        if private[Attribute.ALWAYS_AUTHENTICATE]:
            raise CardError(
                f"key {_key_name(label, key_id)} on card {token_label!r} asks for its PIN at every signature "
                "(a signing key); use the card's authentication key (利用者証明用)"
            )
    except _pkcs11().PKCS11Error:
        pass
    protection = _protection(private)
    _check_protection(protection, _key_name(label, key_id), token_label)
    public = _public_key_of(session, private)
    certificate = _certificate_for(session, key_id, public) if key_id else None
    if public is None and certificate is not None and isinstance(certified := certificate.public_key(), PublicKey):
        public = certified
    if public is None:
        raise CardError(f"card {token_label!r} shows no public key for key {_key_name(label, key_id)}; store its certificate on the card")
    card_key = CardKey(session, private, public, token_label=token_label, label=label, key_id=key_id)
    card_key.protection = protection
    return card_key


_PROTECTION = ("sensitive", "extractable", "always_sensitive", "never_extractable", "local")


def _check_protection(protection: dict[str, bool | None], key_name: str, token_label: str) -> None:
    """A key the token would let out now, or ever did (imported, or generated
    readable and locked later: a copy may exist outside the card), is refused.
    A token that does not report an attribute is refused too."""
    if protection.get("sensitive") is not True or protection.get("extractable") is not False:
        raise CardError(
            f"key {key_name} on card {token_label!r} can be read out of the card "
            "(CKA_SENSITIVE false or CKA_EXTRACTABLE true); use a key made on the card that never leaves it"
        )
    if protection.get("always_sensitive") is not True or protection.get("never_extractable") is not True:
        raise CardError(
            f"key {key_name} on card {token_label!r} was not made on the card or could once be read out of it "
            "(CKA_ALWAYS_SENSITIVE or CKA_NEVER_EXTRACTABLE not true: imported, or locked after it was made), "
            "so a copy may exist elsewhere; use a key made on the card that never leaves it"
        )


def _protection(private) -> dict[str, bool | None]:  # noqa: ANN001
    """The private key's protection attributes as the token reports them (None: not reported)."""
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute

    out: dict[str, bool | None] = {}
    for name in _PROTECTION:
        try:
            out[name] = bool(private[getattr(Attribute, name.upper())])
        except pkcs11.PKCS11Error:
            out[name] = None
    return out


@dataclass(frozen=True)
class _CertificateObject:
    """A certificate object on the token: ``certificate`` None when it cannot be
    read (``problem`` says why); ``value`` its DER as stored (b"" if unreadable)."""

    key_id: bytes
    label: str
    certificate: x509.Certificate | None
    problem: str | None
    value: bytes
    handle: pkcs11.Object


#: What parsing a certificate's names and extensions may raise.
_UNREADABLE = (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def _readable(certificate: x509.Certificate) -> None:
    """Parse everything the card code reads of a certificate now (cryptography
    parses names and extensions lazily): a ValueError here, not later."""
    certificate.subject.rfc4514_string()
    certificate.issuer.rfc4514_string()
    certificate.not_valid_before_utc  # noqa: B018
    certificate.not_valid_after_utc  # noqa: B018
    list(certificate.extensions)


def _certificate_objects(session) -> list[_CertificateObject]:  # noqa: ANN001
    """Every X.509 certificate object on the token, readable or not (anyone who
    may write public objects can put one there)."""
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute, CertificateType, ObjectClass

    out: list[_CertificateObject] = []
    try:
        objects = list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509}))
    except pkcs11.PKCS11Error:
        return out
    for obj in objects:
        try:
            key_id = bytes(obj[Attribute.ID] or b"")
        except pkcs11.PKCS11Error:
            key_id = b""
        try:
            label = obj[Attribute.LABEL] or ""
        except pkcs11.PKCS11Error:
            label = ""
        value = b""
        try:
            value = bytes(obj[Attribute.VALUE])
            certificate = x509.load_der_x509_certificate(value)
            _readable(certificate)
        except pkcs11.PKCS11Error as exc:
            out.append(_CertificateObject(key_id, label, None, f"the card does not give its value ({_describe(exc)})", value, obj))
            continue
        except _UNREADABLE as exc:
            out.append(_CertificateObject(key_id, label, None, f"not a readable X.509 certificate ({exc})", value, obj))
            continue
        out.append(_CertificateObject(key_id, label, certificate, None, value, obj))
    return out


def _certificates(session) -> list[tuple[bytes, str, x509.Certificate]]:  # noqa: ANN001
    """Every readable X.509 certificate on the token: (CKA_ID, label, certificate).
    Objects that do not parse are skipped."""
    return [(o.key_id, o.label, o.certificate) for o in _certificate_objects(session) if o.certificate is not None]


def _self_issued(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _issued_by_one_of(certificate: x509.Certificate, issuers: Sequence[x509.Certificate]) -> bool:
    return any(i != certificate and i.subject == certificate.issuer and _signed_by(certificate, i) for i in issuers)


def _certificate_for(
    session, key_id: bytes, public: PublicKey | None, *, chain: Sequence[x509.Certificate] = ()  # noqa: ANN001
) -> x509.Certificate | None:
    """The key's certificate among the token's objects with its CKA_ID (and its
    public key). Anyone may write a public certificate object on some tokens
    without the PIN, so when there are several the choice prefers, in order: one
    issued by a CA of ``chain`` (--card-chain), one issued by a CA certificate on
    the token, one that is not self-issued, one that names an employee, then the
    latest notAfter (a renewed certificate beside the old one)."""
    objects = _certificates(session)
    candidates = [c for i, _, c in objects if i == key_id]
    if public is not None:
        candidates = [c for c in candidates if _matches(c, public)]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    on_token = [c for _, _, c in objects if c not in candidates]

    def rank(certificate: x509.Certificate) -> tuple:
        return (
            _issued_by_one_of(certificate, chain),
            _issued_by_one_of(certificate, on_token),
            not _self_issued(certificate),
            _employee_id_or_none(certificate) is not None,
            certificate.not_valid_after_utc,
        )

    return max(candidates, key=rank)


def _matches(certificate: x509.Certificate, public: PublicKey) -> bool:
    try:
        return _same_public_key(certificate.public_key(), public)
    except (ValueError, UnsupportedAlgorithm):
        return False


def _chain(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """Leaf first, then each issuer found in ``pool`` by subject and signature,
    up to (not including) a self-signed root: the trust store has the roots."""
    chain = [leaf]
    while len(chain) < MAX_CHAIN_LENGTH:
        current = chain[-1]
        if current.issuer == current.subject:
            break
        issuers = [c for c in pool if c.subject == current.issuer and c not in chain and _signed_by(current, c)]
        if not issuers:
            break
        issuer = max(issuers, key=lambda c: c.not_valid_after_utc)
        if issuer.issuer == issuer.subject:
            break  # the root
        chain.append(issuer)
    return tuple(chain)


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except Exception:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm
        return False
    return True


# --- the credential -------------------------------------------------------------------------


class CardCredential:
    """A card's key and certificate chain, in the shape of
    ``crypto.credentials.Credential``: the clients log in, register and sign
    with it unchanged. Keep it open for the command's life, then ``close()``."""

    def __init__(self, choice: CardChoice, session, key: CardKey, chain: tuple[x509.Certificate, ...]) -> None:  # noqa: ANN001
        self.choice = choice
        self.private_key = key
        self.chain = chain
        self.token_label = key.token_label
        try:
            self.employee_id: str | None = employee_id_of(chain[0])
        except CredentialError:
            self.employee_id = None
        try:
            self.name = display_name_of(chain[0])
        except CredentialError:
            self.name = ""
        self._secret: bytes | None = None
        self._session = session
        self._closer = weakref.finalize(self, _session_closed, choice.module, session)

    def __repr__(self) -> str:
        return f"<CardCredential {self.private_key!r} {self.certificate.subject.rfc4514_string()}>"

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)

    @property
    def secret(self) -> bytes:
        """The card secret (docs/parts/credentials.md, "Card secret"), computed on
        the card once and kept for this credential's life. A property, as
        ``Credential.secret`` is."""
        if self._secret is None:
            self._secret = _compute_secret(self.private_key, self.certificate)
        return self._secret

    def voting_credential(self, election_id: str) -> VotingCredential:
        return VotingCredential.derive(self.secret, election_id)

    def close(self) -> None:
        """Log out and close the session (once; later calls do nothing)."""
        self._closer()

    @property
    def closed(self) -> bool:
        return not self._closer.alive

    def __enter__(self) -> CardCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _compute_secret(key: CardKey, certificate: x509.Certificate) -> bytes:
    if key.algorithm == "ES256":
        return card_secret("ecdh", key.ecdh_x(card_secret_point()))
    message = card_secret_message(certificate)
    try:
        first, second = _sign(key, message), _sign(key, message)  # each checked against the public key
    except CredentialError as exc:
        raise CardError(f"card {key.token_label!r}: {exc}") from None
    if first != second:
        raise CardError(f"card {key.token_label!r} signs the same message differently each time; it cannot hold a voting credential")
    return card_secret("rsa-signature" if key.algorithm == "RS256" else "eddsa-signature", first)


def open_card(
    choice: CardChoice,
    pin: str | None,
    *,
    chain_file: Path | None = None,
    ask_pin: Callable[[str], str] | None = None,
) -> CardCredential:
    """Log in to the card and find its key, certificate and chain (the issuing
    CA from ``chain_file``, PEM, or from the certificates on the card)."""
    extra = _chain_file(chain_file) if chain_file is not None else []
    session = _open_session(choice, pin, ask_pin)
    try:
        key = _card_key(session, session.token.label, choice.key)
        certificate = _certificate_for(session, key.key_id, key.public_key(), chain=extra) if key.key_id else None
        if certificate is None:
            raise CardError(
                f"card {key.token_label!r} holds no certificate for key {_key_name(key.label, key.key_id)}; "
                "store it with 'voting card store-certificate FILE'"
            )
        pool = extra + [c for _, _, c in _certificates(session) if c != certificate]
        chain = _chain(certificate, pool)
    except BaseException:
        _session_closed(choice.module, session)
        raise
    return CardCredential(choice, session, key, chain)


def _chain_file(chain_file: Path) -> list[x509.Certificate]:
    """The certificates of --card-chain, each readable, or one CardError line."""
    try:
        certificates = certificates_from_pem(Path(chain_file).read_bytes())
    except OSError as exc:
        raise CardError(f"cannot read the chain file {chain_file}: {exc.strerror or exc}") from None
    except CredentialError:
        raise CardError(f"{chain_file} holds no PEM certificate; pass the issuing CA's certificate with --card-chain") from None
    for number, certificate in enumerate(certificates, 1):
        try:
            _readable(certificate)
        except _UNREADABLE as exc:
            raise CardError(
                f"certificate {number} of {chain_file} cannot be read ({exc}); pass the issuing CA's certificate (PEM) with --card-chain"
            ) from None
    return certificates


def open_key(choice: CardChoice, pin: str | None, *, ask_pin: Callable[[str], str] | None = None) -> CardKey:
    """Only the key (for a CSR, before the card has a certificate); close it with
    ``close_key``."""
    session = _open_session(choice, pin, ask_pin)
    try:
        key = _card_key(session, session.token.label, choice.key)
    except BaseException:
        _session_closed(choice.module, session)
        raise
    key._closer = weakref.finalize(key, _session_closed, choice.module, session)  # type: ignore[attr-defined]
    return key


def close_key(key: CardKey) -> None:
    closer = getattr(key, "_closer", None)
    if closer is not None:
        closer()


def _open_session(choice: CardChoice, pin: str | None, ask_pin: Callable[[str], str] | None, *, rw: bool = False):  # noqa: ANN202
    if not isinstance(choice, CardChoice):
        raise TypeError("choice must be a CardChoice")
    _parse_key_choice(choice.key)  # a malformed id:HEX fails before the PIN is asked
    pkcs11 = _pkcs11()
    lib = _library(choice.module)
    try:
        token = _choose_token(lib, choice.module, choice.token)
    except pkcs11.PKCS11Error as exc:
        raise CardError(f"the PKCS#11 module {choice.module} cannot list its cards ({_describe(exc)})") from None
    session = _login(token, pin, ask_pin, rw=rw)
    _session_opened(choice.module)
    return session


# --- listing, CSR, storing the certificate -------------------------------------------------


def list_cards(
    module: str, *, pin: str | None = None, token: str | None = None, ask_pin: Callable[[str], str] | None = None
) -> list[dict]:
    """Every card the module sees: its label, maker, state, keys and
    certificates (one that cannot be read is listed with ``unreadable`` saying
    why). Without a PIN only public objects show (public keys and
    certificates); with one (``pin`` or ``ask_pin``) and ``token``, the private
    keys too: the PIN goes to that one card only, and several cards with that
    label are refused before any login, as ``open_card`` does."""
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute, ObjectClass, TokenFlag

    lib = _library(module)
    log_in = token is not None and (pin is not None or ask_pin is not None)
    try:
        tokens = [_choose_token(lib, module, token)] if log_in else _tokens(lib)
    except pkcs11.PKCS11Error as exc:
        raise CardError(f"the PKCS#11 module {module} cannot list its cards ({_describe(exc)})") from None
    cards = []
    for item in tokens:
        if token is not None and item.label != token:
            continue
        flags = item.flags
        card: dict = {
            "token": item.label,
            "manufacturer": item.manufacturer_id,
            "model": item.model,
            "serial": item.serial.decode("ascii", "replace") if isinstance(item.serial, bytes) else str(item.serial),
            "login_required": bool(flags & TokenFlag.LOGIN_REQUIRED),
            "pin_pad": bool(flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH),
            "pin_count_low": bool(flags & TokenFlag.USER_PIN_COUNT_LOW),
            "pin_final_try": bool(flags & TokenFlag.USER_PIN_FINAL_TRY),
            "pin_locked": bool(flags & TokenFlag.USER_PIN_LOCKED),
            "keys": [],
            "certificates": [],
        }
        logged_in = log_in
        if logged_in:
            session = _login(item, pin, ask_pin)
            _session_opened(module)
        else:
            try:
                session = item.open()
            except pkcs11.PKCS11Error as exc:
                card["error"] = _describe(exc)
                cards.append(card)
                continue
            _session_opened(module)
        try:
            keys: dict[bytes, dict] = {}
            for public in list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY})):
                key_id = public[Attribute.ID] or b""
                keys.setdefault(key_id, {"label": public.label or "", "id": key_id.hex(), "type": _key_type_name(_public_key_from_object(public))})
            if logged_in:
                for private in list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})):
                    key_id = private[Attribute.ID] or b""
                    keys.setdefault(key_id, {"label": private.label or "", "id": key_id.hex(), "type": _key_type_name(_public_key_of(session, private))})
            for obj in _certificate_objects(session):
                certificate = obj.certificate
                if certificate is None:  # shown, never parsed further
                    card["certificates"].append(
                        {
                            "label": obj.label,
                            "id": obj.key_id.hex(),
                            "subject": None,
                            "issuer": None,
                            "not_after": None,
                            "fingerprint": hashlib.sha256(obj.value).hexdigest() if obj.value else None,
                            "employee_id": None,
                            "unreadable": obj.problem,
                        }
                    )
                    continue
                keys.get(obj.key_id, {}).setdefault("certificate", certificate_fingerprint(certificate))
                card["certificates"].append(
                    {
                        "label": obj.label,
                        "id": obj.key_id.hex(),
                        "subject": certificate.subject.rfc4514_string(),
                        "issuer": certificate.issuer.rfc4514_string(),
                        "not_after": certificate.not_valid_after_utc.isoformat(),
                        "fingerprint": certificate_fingerprint(certificate),
                        "employee_id": _employee_id_or_none(certificate),
                        "unreadable": None,
                    }
                )
            card["keys"] = sorted(keys.values(), key=lambda k: (k["id"], k["label"]))
        finally:
            _session_closed(module, session)
        cards.append(card)
    if token is not None and not cards:
        present = ", ".join(sorted(repr(t.label) for t in tokens)) or "none"
        raise CardAbsentError(f"no card {token!r} in {module} (present: {present}); insert it or check --card-token")
    return cards


def _employee_id_or_none(certificate: x509.Certificate) -> str | None:
    try:
        return employee_id_of(certificate)
    except CredentialError:
        return None


def make_csr(key: CardKey, *, common_name: str) -> bytes:
    """A PKCS#10 certificate request (PEM) for the key, signed on the token;
    the subject is only the common name (the CA adds the employee id)."""
    if not isinstance(common_name, str) or not 0 < len(common_name) <= MAX_NAME_LENGTH:
        raise CardError(f"the common name must be 1 to {MAX_NAME_LENGTH} characters")
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.build({"common_name": common_name}),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
            "attributes": [],
        }
    )
    algorithm = {"RS256": "sha256_rsa", "ES256": "sha256_ecdsa", "EdDSA": "ed25519"}[key.algorithm]
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": algorithm},
            "signature": key.sign_der(info.dump()),
        }
    )
    return asn1_pem.armor("CERTIFICATE REQUEST", request.dump())


@dataclass(frozen=True)
class StoredCertificate:
    """What ``store_certificate`` did with the certificates already there for the key."""

    replaced: int
    """older certificates of the same issuer (name and key), removed"""
    kept: tuple[str, ...]
    """the issuers of other certificates for the key, left on the card (without ``replace``)"""
    removed_foreign: tuple[str, ...]
    """the issuers of other certificates for the key, removed because ``replace`` was given"""


def _same_issuer(old: x509.Certificate, new: x509.Certificate, cas: Sequence[x509.Certificate]) -> bool:
    """Whether ``old`` comes from the CA that issued ``new``: the same issuer
    name, and the same issuer key (the authority key identifiers when both
    carry one, else ``old`` verifies under the issuing CA's certificate given)."""
    if old.issuer != new.issuer:
        return False
    old_aki, new_aki = _authority_key_id(old), _authority_key_id(new)
    if old_aki is not None and new_aki is not None:
        return old_aki == new_aki
    issuers = [c for c in cas if c.subject == new.issuer and _signed_by(new, c)]
    if issuers:
        return any(_signed_by(old, c) for c in issuers)
    return False  # the same name, but nothing shows it is the same key


def _authority_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except (x509.ExtensionNotFound, *_UNREADABLE):
        return None


def _issuer_text(item: _CertificateObject) -> str:
    return item.certificate.issuer.rfc4514_string() if item.certificate is not None else f"an unreadable object {item.label!r}"


def store_certificate(
    choice: CardChoice,
    pin: str | None,
    certificate: x509.Certificate | Sequence[x509.Certificate],
    *,
    ask_pin: Callable[[str], str] | None = None,
    replace: bool = False,
) -> StoredCertificate:
    """Write the issued certificate on the card under its key's CKA_ID. An older
    certificate for that key from the same CA (issuer name and key) is replaced;
    a certificate from another issuer (a card's own certificate from the city's
    other CA, say) is left beside it unless ``replace`` is given. Given a chain
    (leaf first), the CA certificates are stored too, so ``open_card`` finds the
    issuer on the card."""
    pkcs11 = _pkcs11()

    chain = [certificate] if isinstance(certificate, x509.Certificate) else list(certificate)
    if not chain or not all(isinstance(c, x509.Certificate) for c in chain):
        raise CardError("nothing to store: give the certificate (PEM)")
    for number, item in enumerate(chain, 1):
        try:
            _readable(item)
        except _UNREADABLE as exc:
            raise CardError(f"certificate {number} of the file cannot be read ({exc}); nothing was stored") from None
    leaf = chain[0]
    session = _open_session(choice, pin, ask_pin, rw=True)
    try:
        key = _card_key(session, session.token.label, choice.key)
        if not _matches(leaf, key.public_key()):
            raise CardError(
                f"the certificate {leaf.subject.rfc4514_string()} is not for key {_key_name(key.label, key.key_id)} "
                f"on card {key.token_label!r}; check --card-key"
            )
        if not key.key_id:
            raise CardError(f"key {key.label!r} on card {key.token_label!r} has no CKA_ID to store its certificate under")
        existing = _certificate_objects(session)
        ours: list[_CertificateObject] = []
        foreign: list[_CertificateObject] = []
        for stored_object in existing:
            if stored_object.key_id != key.key_id:
                continue
            same = stored_object.certificate is not None and _same_issuer(stored_object.certificate, leaf, chain[1:])
            (ours if same else foreign).append(stored_object)
        for stored_object in ours + (foreign if replace else []):
            stored_object.handle.destroy()
        _create_certificate(session, leaf, key.key_id, key.label or leaf.subject.rfc4514_string()[:64])
        stored = {o.certificate for o in existing if o.certificate is not None}
        for ca_certificate in chain[1:]:
            if ca_certificate not in stored:
                ca_id = hashlib.sha256(ca_certificate.public_bytes(serialization.Encoding.DER)).digest()[:8]
                _create_certificate(session, ca_certificate, ca_id, _label_of(ca_certificate))
    except pkcs11.PKCS11Error as exc:
        raise CardError(f"card {session.token.label!r} refused to store the certificate ({_describe(exc)}); the card may be read-only") from None
    finally:
        _session_closed(choice.module, session)
    issuers = tuple(_issuer_text(item) for item in foreign)
    return StoredCertificate(len(ours), () if replace else issuers, issuers if replace else ())


def _label_of(certificate: x509.Certificate) -> str:
    from cryptography.x509.oid import NameOID

    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value)[:64] if names else certificate.subject.rfc4514_string()[:64]


def _create_certificate(session, certificate: x509.Certificate, key_id: bytes, label: str) -> None:  # noqa: ANN001
    from pkcs11 import Attribute, CertificateType, ObjectClass

    serial = asn1_core.Integer(certificate.serial_number).dump()
    session.create_object(
        {
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,
            Attribute.MODIFIABLE: True,
            Attribute.ID: key_id,
            Attribute.LABEL: label,
            Attribute.SUBJECT: certificate.subject.public_bytes(),
            Attribute.ISSUER: certificate.issuer.public_bytes(),
            Attribute.SERIAL_NUMBER: serial,
            Attribute.VALUE: certificate.public_bytes(serialization.Encoding.DER),
        }
    )
