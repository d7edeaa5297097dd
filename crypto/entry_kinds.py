"""The kinds of bulletin-board entries (docs/parts/service-protocol.md, "Board
entries"): every entry's ``kind``, named once for the service that appends
them, the receipts that prove them and the verifier that reads them."""

from __future__ import annotations

ELECTION_CREATED = "election-created"
TRUSTEE_ANNOUNCEMENT = "trustee-announcement"
JOINT_KEY = "joint-key"
ELECTION_OPENED = "election-opened"
CREDENTIAL_REGISTERED = "credential-registered"
BALLOT = "ballot"
BALLOT_SUPERSEDED = "ballot-superseded"
BALLOT_AUDITED = "ballot-audited"
ELECTION_CLOSED = "election-closed"
AGGREGATE = "aggregate"
PARTIAL_DECRYPTION = "partial-decryption"
RESULT = "result"
ELECTION_PUBLISHED = "election-published"
ADMIN_ACTION = "admin-action"

BOARD_ENTRY_KINDS = frozenset(
    {
        ELECTION_CREATED,
        TRUSTEE_ANNOUNCEMENT,
        JOINT_KEY,
        ELECTION_OPENED,
        CREDENTIAL_REGISTERED,
        BALLOT,
        BALLOT_SUPERSEDED,
        BALLOT_AUDITED,
        ELECTION_CLOSED,
        AGGREGATE,
        PARTIAL_DECRYPTION,
        RESULT,
        ELECTION_PUBLISHED,
        ADMIN_ACTION,
    }
)

#: The lifecycle as the board shows it (a record's ``stage``): the stage of the
#: last of these kinds present.
STAGES = (
    (ELECTION_PUBLISHED, "published"),
    (RESULT, "tallied"),
    (ELECTION_CLOSED, "closed"),
    (ELECTION_OPENED, "open"),
    (JOINT_KEY, "keys_ready"),
    (TRUSTEE_ANNOUNCEMENT, "key_ceremony"),
    (ELECTION_CREATED, "created"),
)


def board_stage(kinds: set[str] | frozenset[str]) -> str:
    """The stage of a board holding entries of these kinds ("empty" for none)."""
    return next((stage for kind, stage in STAGES if kind in kinds), "empty")
