"""The trustee file the trustee web page makes (docs/web.md, "The trustee file").

The CLI trustee's state (``voting.client``: the pinned server key, the newest
head seen, the polynomial or the finished key share, the announcements digest)
sealed under a PIN as the credential file is: PBKDF2-HMAC-SHA256 gives an
AES-256-GCM key; the cleartext header is the associated data. The page seals
and opens it with WebCrypto (``static/js/trustee_file.js``); here Python opens
it, so that ``voting trustee unseal`` turns it into the CLI's state file for
``voting trustee decrypt``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto.encoding import canonical_json, encode_parts

FORMAT = "votingpilot-trustee-file"
VERSION = 1
TAG = "votingpilot/v1/trustee-file"
DEFAULT_ITERATIONS = 600_000
MAX_ITERATIONS = 10_000_000
_MEMBERS = {"format", "version", "election_id", "employee_id", "kdf", "cipher", "state"}


class TrusteeFileError(ValueError):
    """Not a trustee file, a wrong PIN, or a damaged file."""


def _key(pin: str, salt: bytes, iterations: int) -> AESGCM:
    if not isinstance(pin, str):
        raise TrusteeFileError("enter the PIN")
    normalized = unicodedata.normalize("NFKC", pin)
    if not 6 <= len(normalized) <= 128:
        raise TrusteeFileError("the PIN must have 6 to 128 characters")
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return AESGCM(kdf.derive(normalized.encode("utf-8")))


def _aad(election_id: str, employee_id: str, iterations: int, salt: bytes) -> bytes:
    return encode_parts(TAG, VERSION, election_id, employee_id, iterations, salt)


def seal_trustee_file(
    state: dict, pin: str, *, election_id: str, employee_id: str, iterations: int = DEFAULT_ITERATIONS,
    salt: bytes | None = None, nonce: bytes | None = None,
) -> dict:
    """``salt`` and ``nonce`` are for reproducible test vectors only."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    nonce = nonce if nonce is not None else secrets.token_bytes(12)
    sealed = _key(pin, salt, iterations).encrypt(nonce, canonical_json(state), _aad(election_id, employee_id, iterations, salt))
    return {
        "format": FORMAT,
        "version": VERSION,
        "election_id": election_id,
        "employee_id": employee_id,
        "kdf": {"name": "PBKDF2-HMAC-SHA256", "iterations": iterations, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode()},
        "state": base64.b64encode(sealed).decode(),
    }


def open_trustee_file(doc: object, pin: str) -> dict:
    """The trustee's state (the CLI's state file's JSON object)."""
    if not isinstance(doc, dict) or set(doc) != _MEMBERS or doc.get("format") != FORMAT:
        raise TrusteeFileError("this is not a trustee file")
    if doc["version"] != VERSION:
        raise TrusteeFileError(f"trustee file version {doc['version']!r} is not supported")
    kdf, cipher = doc["kdf"], doc["cipher"]
    try:
        if kdf["name"] != "PBKDF2-HMAC-SHA256" or cipher["name"] != "AES-256-GCM" or set(kdf) != {"name", "iterations", "salt"}:
            raise TrusteeFileError("the trustee file's kdf or cipher is not supported")
        iterations = kdf["iterations"]
        if type(iterations) is not int or not 1 <= iterations <= MAX_ITERATIONS:
            raise TrusteeFileError("the trustee file's iteration count is out of range")
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        sealed = base64.b64decode(doc["state"], validate=True)
    except (TypeError, KeyError, binascii.Error):
        raise TrusteeFileError("the trustee file is malformed") from None
    if len(salt) != 16 or len(nonce) != 12 or not isinstance(doc["election_id"], str) or not isinstance(doc["employee_id"], str):
        raise TrusteeFileError("the trustee file is malformed")
    try:
        plain = _key(pin, salt, iterations).decrypt(nonce, sealed, _aad(doc["election_id"], doc["employee_id"], iterations, salt))
        state = json.loads(plain.decode("utf-8"))
    except (InvalidTag, ValueError):
        raise TrusteeFileError("wrong PIN, or the trustee file is damaged") from None
    if not isinstance(state, dict) or state.get("election_id", doc["election_id"]) != doc["election_id"]:
        raise TrusteeFileError("the trustee file's state does not belong to its election")
    return state
