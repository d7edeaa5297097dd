"""Bodies of the election operations: creation, credential registration and
the key ceremony (/api/elections). Documents the crypto core parses itself
(manifest, announcement, shares, endorsement) travel as JSON objects here."""

from __future__ import annotations

from typing import Any

import msgspec

from voting.wire.common import Reply
from voting.wire.states import Status


class CreateElectionRequest(msgspec.Struct, forbid_unknown_fields=True):
    manifest: dict[str, Any]
    trustees: list[str]
    """Employee ids of the trustees, 2 or more, none an administrator or auditor."""
    threshold: int
    """How many trustees must take part in decrypting."""


class CredentialRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The voting credential, signed with the session's certificate key
    (``signature``), or attested by the server for a session that logged in
    with a TLS client certificate (``attested: "client-certificate"``)."""

    credential: str
    signature: str | msgspec.UnsetType = msgspec.UNSET
    attested: str | msgspec.UnsetType = msgspec.UNSET


class CertificateSignature(msgspec.Struct, forbid_unknown_fields=True):
    """A trustee's signature with its certificate key (crypto/credentials/endorsements.py)."""

    chain: list[str]
    """Base64 DER certificates, leaf first, without the self-signed root."""
    signature: str


class AnnouncementRequest(msgspec.Struct, forbid_unknown_fields=True):
    announcement: dict[str, Any]
    """The trustee's announcement (crypto/threshold.py): index, commitments, proofs, share key."""
    signature: CertificateSignature


class ConfirmRequest(msgspec.Struct, forbid_unknown_fields=True):
    public_share: str
    """Hex: the trustee's public share, as the announcements' commitments predict it."""
    endorsement: CertificateSignature
    """The trustee's signature over the joint key and the election fingerprint."""


class EncryptedShare(msgspec.Struct, forbid_unknown_fields=True):
    """A key share one trustee encrypted for another (crypto/threshold.py)."""

    sender: int
    recipient: int
    ephemeral_public_key: str
    ciphertext: str


# -- replies -----------------------------------------------------------------------------


class ElectionView(Reply):
    """An election's public data (what anyone on its roll or board may see)."""

    election_id: str
    status: Status
    manifest: dict[str, Any]
    trustee_count: int
    threshold: int
    ceremony_fingerprint: str
    joint_key: str | None
    """Hex; null until every trustee confirmed the key ceremony."""
    fingerprint: str | None
    """The election fingerprint every proof binds; null until the joint key exists."""


class ScheduleView(Reply):
    opens_at: str | None
    closes_at: str | None
    server_time: str
    accepting_ballots: bool


class TrusteeProgress(Reply):
    index: int
    employee_id: str
    announced: bool
    confirmed: bool
    decrypted: bool


class ElectionStatus(ElectionView):
    roll_size: int
    ballots_cast: int
    ballots_counted: int
    board_size: int
    schedule: ScheduleView
    trustees: list[TrusteeProgress]
    result: dict[str, Any] | None
    crl: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    """Administrators only: the state of the certificate revocation lists."""


class VoterBallot(Reply):
    tracking_code: str
    superseded: bool


class VoterInfo(Reply):
    name: str
    credential: str | None
    ballots: list[VoterBallot]


class CredentialRegistered(Reply):
    credential: str
    leaf_index: int | None
    """The ``credential-registered`` board entry."""


class RollImported(Reply):
    added: int
    total: int


class RollRow(Reply):
    line: int
    employee_id: str
    name: str
    department: str


class RollError(Reply):
    """A wrong line of a roll file (voting/roster_csv.py ``LineError``)."""

    line: int
    code: str
    params: dict[str, Any]
    error: str
    error_ja: str


class RollPreview(Reply):
    """``?dry_run=true``: the roll as read; nothing written."""

    dry_run: bool
    encoding: str | None
    count: int
    rows: list[RollRow]
    errors: list[RollError]
    total: int


class RollEntry(Reply):
    employee_id: str
    name: str
    department: str


class Roll(Reply):
    status: Status
    entries: list[RollEntry]


class RollRemoved(Reply):
    removed: str
    total: int


class CeremonyParameters(Reply):
    n: int
    t: int
    ceremony_fingerprint: str


class Ceremony(Reply):
    """The key ceremony as the logged-in trustee sees it."""

    status: Status
    parameters: CeremonyParameters
    index: int
    announcements: list[dict[str, Any]]
    """Each trustee's signed announcement (crypto/threshold.py), once made."""
    shares_for_me: list[EncryptedShare]
    shares_sent: int
    joint_key: str | None


class Announced(Reply):
    index: int


class SharesSent(Reply):
    sent: int


class Confirmed(Reply):
    confirmed: bool
    joint_key: str | None
