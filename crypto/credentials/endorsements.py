"""The trustees' signatures with their certificate keys: the endorsement of the
joint key and the signature of each key-ceremony announcement."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto.credentials.certificates import display_name_of, employee_id_of
from crypto.credentials.credential_file import Credential
from crypto.credentials.keys import _sign, _signature_valid, check_key
from crypto.credentials.tokens import MAX_CHAIN_LENGTH, _b64_decode, _load_der_certificate
from crypto.credentials.trust import TrustStore
from crypto.encoding import canonical_json, encode_parts
from crypto.errors import (
    AnnouncementSignatureError,
    CertificateError,
    CredentialError,
    EndorsementError,
)

ENDORSEMENT_TAG = "votingpilot/v1/joint-key-endorsement"


ANNOUNCEMENT_SIGNATURE_TAG = "votingpilot/v1/announcement-signature"


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
            chain = trust_store.verify_chain(leaf, chain[1:], now if now is not None else datetime.now(UTC))
        except CertificateError as exc:
            raise error(f"trustee {employee_id}'s certificate is not trusted: {exc}") from None
    return Endorsement(signer, display_name_of(leaf), chain)
