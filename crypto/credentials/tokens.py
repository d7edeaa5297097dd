"""The compact JWS (RFC 7515) both signed tokens use, the login token and the
enrollment token: its limits, its base64url and JSON readers, and the
certificate chain it carries (``x5c``)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cryptography import x509

from crypto.credentials.keys import _short
from crypto.errors import (
    CredentialError,
    TokenFormatError,
)

ALGORITHMS = ("ES256", "RS256", "EdDSA")


MAX_TOKEN_LENGTH = 16_384


MAX_CHAIN_LENGTH = 4


MAX_TOKEN_LIFETIME_S = 300


DEFAULT_TOKEN_LIFETIME_S = 120


CLOCK_SKEW_S = 60


MAX_AUDIENCE_LENGTH = 256


NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")


_HEADER_MEMBERS = frozenset({"alg", "x5c"})


_MAX_NUMERIC_DATE = 2**53 - 1  # exact in JavaScript too


def _read_jws(token: object, what: str, members: frozenset[str]) -> tuple[str, tuple[x509.Certificate, ...], dict[str, Any], bytes, bytes]:
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


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    """UTF-8 JSON object without duplicate members, floats or NaN."""

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
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
