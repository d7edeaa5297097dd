"""Ballot signatures and the per-election voting credentials: Ed25519 keys
derived from an employee's secret and the election id, registered once with
a signature of the employee's certificate key, signing the ballots."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from crypto.credentials.keys import PrivateKey, SigningKey, _sign, _signature_valid
from crypto.encoding import encode_parts
from crypto.errors import (
    BallotSignatureError,
    RegistrationError,
    VotingCredentialError,
    WeakKeyError,
)

BALLOT_SIGNATURE_TAG = "votingpilot/v1/ballot-signature"


CREDENTIAL_SECRET_TAG = "votingpilot/v1/credential-secret"


VOTING_CREDENTIAL_TAG = "votingpilot/v1/voting-credential"


REGISTRATION_TAG = "votingpilot/v1/credential-registration"


VOTING_CREDENTIAL_PATTERN = re.compile(r"[0-9a-f]{64}")


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
