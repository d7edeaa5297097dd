"""Every exception the cryptographic core raises, in one place.

Each class has a stable ``code`` so the service can map it to an HTTP problem
detail without string matching. A caller never receives ``None`` for "invalid":
invalid input always raises one of these.
"""


class CryptoError(Exception):
    """Base class: something presented to the core is not valid."""

    code = "crypto_error"


# --- encodings and group elements -------------------------------------------------


class EncodingError(CryptoError):
    """Bytes, hex or JSON that do not have the exact canonical form."""

    code = "bad_encoding"


class InvalidPoint(EncodingError):
    """Not the canonical encoding of a ristretto255 element."""

    code = "invalid_point"


class IdentityPoint(InvalidPoint):
    """The identity element where a non-identity element is required."""

    code = "identity_point"


class InvalidScalar(EncodingError):
    """Not a canonical scalar (32 bytes, little-endian, below the group order)."""

    code = "invalid_scalar"


# --- proofs -------------------------------------------------------------------------


class ProofError(CryptoError):
    """A zero-knowledge proof does not verify."""

    code = "invalid_proof"


# --- ballots ------------------------------------------------------------------------


class ManifestError(CryptoError):
    """An election manifest is malformed or inconsistent."""

    code = "invalid_manifest"


class BallotError(CryptoError):
    """A ballot is not valid for this election and voter."""

    code = "invalid_ballot"


class BallotShapeError(BallotError):
    """Questions or options missing, extra, or out of order against the manifest."""

    code = "ballot_shape"


class SelectionProofError(BallotError):
    """An option's proof that it encrypts 0 or 1 does not verify."""

    code = "selection_proof"


class SelectionLimitError(BallotError):
    """A question's proof that its selection count lies in [min, max] does not verify."""

    code = "selection_limit"


class AuditOpeningError(BallotError):
    """A Benaloh audit opening does not reproduce the encrypted ballot."""

    code = "audit_opening"


# --- ElGamal / tally ----------------------------------------------------------------


class DecryptionError(CryptoError):
    """A plaintext could not be recovered (e.g. the count is out of range)."""

    code = "decryption_failed"


# --- trustees -----------------------------------------------------------------------


class CeremonyError(CryptoError):
    """A key-ceremony message (commitments, proofs, shares) is invalid."""

    code = "ceremony_invalid"


class ShareError(CeremonyError):
    """An encrypted key share cannot be opened or does not match the commitments."""

    code = "share_invalid"


class PartialDecryptionError(CryptoError):
    """A trustee's partial decryption or its proof is invalid."""

    code = "partial_decryption_invalid"


class ThresholdError(CryptoError):
    """Too few (or duplicate) trustees to combine a decryption."""

    code = "threshold_not_met"


# --- bulletin-board log ------------------------------------------------------------


class LogError(CryptoError):
    """A Merkle proof or a tree head does not verify."""

    code = "log_invalid"


class InclusionProofError(LogError):
    code = "inclusion_proof_invalid"


class ConsistencyProofError(LogError):
    code = "consistency_proof_invalid"


class TreeHeadSignatureError(LogError):
    code = "tree_head_signature_invalid"


class CosignatureError(LogError):
    """A witness's cosignature is malformed or does not verify."""

    code = "cosignature_invalid"


class QuorumError(LogError):
    """Fewer of the election's witnesses than its quorum cosigned a tree head."""

    code = "witness_quorum_missing"


# --- credentials ---------------------------------------------------------------------


class CredentialError(CryptoError):
    """A login token or certificate is not acceptable."""

    code = "credential_invalid"


class TokenFormatError(CredentialError):
    code = "token_malformed"


class TokenSignatureError(CredentialError):
    code = "token_signature_invalid"


class CertificateError(CredentialError):
    """The certificate chain does not verify against the trust store (includes
    expired, not-yet-valid, unknown CA and wrong key usage)."""

    code = "certificate_invalid"


class CertificateRevoked(CredentialError):
    code = "certificate_revoked"


class CrlError(CredentialError):
    """The CRL is missing, badly signed, or past its nextUpdate (fail closed)."""

    code = "crl_invalid"


class WeakKeyError(CredentialError):
    code = "weak_key"


class NonceError(CredentialError):
    """Unknown, expired or already used login nonce."""

    code = "nonce_invalid"


class AudienceError(CredentialError):
    code = "audience_invalid"


class TokenExpired(CredentialError):
    """The token is outside its validity window (expired, or issued in the future)."""

    code = "token_expired"


class TokenSubjectError(CredentialError):
    """The token's ``sub`` is not the employee id in its certificate."""

    code = "token_subject_mismatch"


class BallotSignatureError(CredentialError):
    """A voter's signature over a ballot's tracking code does not verify."""

    code = "ballot_signature_invalid"


class EndorsementError(CredentialError):
    """A trustee's endorsement of the joint key is missing, malformed, signed by
    someone else, or does not verify."""

    code = "endorsement_invalid"


class AnnouncementSignatureError(EndorsementError):
    """A trustee's announcement is not signed by the trustee the election names."""

    code = "announcement_signature_invalid"


class RegistrationError(CredentialError):
    """A voting credential's registration is not signed by the voter's
    certificate, or is not a registration at all."""

    code = "registration_invalid"


class VotingCredentialError(CredentialError):
    """A voting credential (an Ed25519 public key) is not well formed."""

    code = "voting_credential_invalid"
