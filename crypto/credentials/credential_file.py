"""The PIN-protected credential file: an employee's key and certificate chain,
sealed with AES-GCM under a PBKDF2 key from the PIN."""

from __future__ import annotations

import base64
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from cryptography import x509
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto.credentials.certificates import MAX_NAME_LENGTH, employee_id_of, is_valid_employee_id
from crypto.credentials.keys import PrivateKey, _same_public_key, algorithm_for_key
from crypto.credentials.tokens import ALGORITHMS, MAX_CHAIN_LENGTH, _b64_decode, _load_der_certificate
from crypto.credentials.voting_credentials import VotingCredential, credential_secret, pkcs8_of
from crypto.encoding import Part, encode_parts
from crypto.errors import (
    CredentialError,
)

CREDENTIAL_FILE_TAG = "votingpilot/v1/credential-file"


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
    return {
        "format": CREDENTIAL_FORMAT,
        "version": CREDENTIAL_VERSION,
        "alg": alg,
        "employee_id": employee_id,
        "name": name,
        "chain": [_b64(der) for der in chain_der],
        "kdf": {"name": "PBKDF2-HMAC-SHA256", "iterations": iterations, "salt": _b64(salt)},
        "cipher": {"name": "AES-256-GCM", "nonce": _b64(nonce)},
        "key": _b64(ciphertext),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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
    name = _check_name(name)
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
    key = cast(PrivateKey, private_key)  # algorithm_for_key refused every other type
    if not _same_public_key(key.public_key(), chain[0].public_key()):
        raise CredentialError("the credential file's key does not belong to its certificate")
    if employee_id_of(chain[0]) != employee_id:
        raise CredentialError("the credential file's employee id differs from its certificate")
    return Credential(private_key=key, chain=chain, employee_id=employee_id, name=name, pkcs8=pkcs8)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        raise CredentialError(f"the name must be 1 to {MAX_NAME_LENGTH} characters")
    return name


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
    alg: str, employee_id: str, name: str, chain_der: Sequence[bytes], iterations: int, salt: bytes
) -> bytes:
    """AES-GCM associated data: the file's cleartext fields, so none can be edited."""
    return encode_parts(
        CREDENTIAL_FILE_TAG, CREDENTIAL_VERSION, alg, employee_id, name, list[Part](chain_der), iterations, salt
    )
