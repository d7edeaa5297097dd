// The per-election voting credential, mirroring crypto/credentials
// ("voting credentials", docs/issue 11 design section 1):
//
// * credentialSecret(pkcs8) (credentials.js, computed when the file is opened)
//   = SHA-256(encode_parts("votingpilot/v1/credential-secret", pkcs8)), over the
//   PKCS#8 DER exactly as decrypted from the credential file;
// * votingCredentialSeed(secret, electionId) =
//   SHA-256(encode_parts("votingpilot/v1/voting-credential", secret, electionId)),
//   the 32-byte seed of an Ed25519 key (@noble/curves, as cryptography's
//   Ed25519PrivateKey.from_private_bytes);
// * registrationMessage(electionId, credentialPub) = encode_parts(
//   "votingpilot/v1/credential-registration", electionId, credentialPub), signed
//   by the certificate's key (credentials.js signRegistration);
// * signBallotWithCredential: Ed25519 by the voting credential over the
//   ballot signature message (fingerprint, tracking code).
//
// The same employee gets the same credential for an election on every device;
// another election gives an unrelated key. voter_id = the public key in hex.

import { ed25519, sha256 } from "../vendor/noble.js";
import { toHex } from "./bytes.js";
import { encodeParts } from "./encoding.js";
import { CredentialError } from "./errors.js";
import { ballotSignatureMessage } from "./credentials.js";

export { credentialSecret } from "./credentials.js";
export const VOTING_CREDENTIAL_TAG = "votingpilot/v1/voting-credential";
export const REGISTRATION_TAG = "votingpilot/v1/credential-registration";
const ELECTION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function bytes(value, what, length) {
  if (!(value instanceof Uint8Array) || !value.length || (length && value.length !== length)) {
    throw new CredentialError(`${what} must be ${length ? `${length} ` : "non-empty "}bytes`);
  }
  return value;
}

function electionIdOf(electionId) {
  if (typeof electionId !== "string" || !ELECTION_ID.test(electionId)) throw new CredentialError("not a valid election id");
  return electionId;
}

/** The 32-byte Ed25519 seed of the voting credential for one election. */
export function votingCredentialSeed(secret, electionId) {
  return sha256(encodeParts(VOTING_CREDENTIAL_TAG, bytes(secret, "the credential secret", 32), electionIdOf(electionId)));
}

/**
 * The voting credential for an election: {electionId, publicBytes (32), hex,
 * sign(message)}. The seed stays inside the closure.
 */
export function votingCredential(secret, electionId) {
  const seed = votingCredentialSeed(secret, electionId);
  const publicBytes = ed25519.getPublicKey(seed);
  return Object.freeze({
    electionId,
    publicBytes,
    hex: toHex(publicBytes),
    sign: (message) => ed25519.sign(message, seed),
  });
}

export function registrationMessage(electionId, credentialPub) {
  return encodeParts(REGISTRATION_TAG, electionIdOf(electionId), bytes(credentialPub, "the voting credential's public key", 32));
}

/** Ed25519 (64 bytes) by the voting credential over the ballot signature message. */
export function signBallotWithCredential(voting, electionFingerprint, trackingCode) {
  return voting.sign(ballotSignatureMessage(electionFingerprint, trackingCode));
}

/** Verify a voting credential's ballot signature (as the record's public check does). */
export function verifyCredentialSignature(credentialPub, signature, electionFingerprint, trackingCode) {
  try {
    return ed25519.verify(bytes(signature, "signature", 64), ballotSignatureMessage(electionFingerprint, trackingCode), bytes(credentialPub, "credential", 32), {
      zip215: false,
    });
  } catch (exc) {
    if (exc instanceof CredentialError) throw exc;
    return false;
  }
}
