// Every exception the browser's cryptography raises, mirroring crypto/errors.py:
// the same class names and the same stable codes, so the test vectors' expected
// errors ("InvalidPoint", "SelectionLimitError", ...) are checked on both sides.

export class CryptoError extends Error {
  static code = "crypto_error";
  constructor(message) {
    super(message);
    this.name = this.constructor.name;
  }
  get code() {
    return this.constructor.code;
  }
}

export class EncodingError extends CryptoError { static code = "bad_encoding"; }
export class InvalidPoint extends EncodingError { static code = "invalid_point"; }
export class IdentityPoint extends InvalidPoint { static code = "identity_point"; }
export class InvalidScalar extends EncodingError { static code = "invalid_scalar"; }

export class ProofError extends CryptoError { static code = "invalid_proof"; }

export class ManifestError extends CryptoError { static code = "invalid_manifest"; }
export class BallotError extends CryptoError { static code = "invalid_ballot"; }
export class BallotShapeError extends BallotError { static code = "ballot_shape"; }
export class SelectionProofError extends BallotError { static code = "selection_proof"; }
export class SelectionLimitError extends BallotError { static code = "selection_limit"; }
export class AuditOpeningError extends BallotError { static code = "audit_opening"; }

export class LogError extends CryptoError { static code = "log_invalid"; }
export class InclusionProofError extends LogError { static code = "inclusion_proof_invalid"; }
export class ConsistencyProofError extends LogError { static code = "consistency_proof_invalid"; }
export class TreeHeadSignatureError extends LogError { static code = "tree_head_signature_invalid"; }
export class ReceiptError extends LogError { static code = "receipt_invalid"; }
export class CosignatureError extends LogError { static code = "cosignature_invalid"; }
export class QuorumError extends LogError { static code = "witness_quorum_missing"; }

export class CredentialError extends CryptoError { static code = "credential_invalid"; }
export class WeakKeyError extends CredentialError { static code = "weak_key"; }
export class EndorsementError extends CredentialError { static code = "endorsement_invalid"; }
export class CertificateError extends CredentialError { static code = "certificate_invalid"; }
export class CertificateRevoked extends CredentialError { static code = "certificate_revoked"; }
export class CrlError extends CredentialError { static code = "crl_invalid"; }
