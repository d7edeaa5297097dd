"""The election lifecycle, enforced in this one place.

draft -> key_ceremony -> open -> closed -> tallied -> published
"""

from __future__ import annotations

from voting.db.models import Election
from voting.errors import WrongState

DRAFT, KEY_CEREMONY, OPEN, CLOSED, TALLIED, PUBLISHED = (
    "draft",
    "key_ceremony",
    "open",
    "closed",
    "tallied",
    "published",
)
STATES = (DRAFT, KEY_CEREMONY, OPEN, CLOSED, TALLIED, PUBLISHED)
NEXT = {DRAFT: KEY_CEREMONY, KEY_CEREMONY: OPEN, OPEN: CLOSED, CLOSED: TALLIED, TALLIED: PUBLISHED}


def require(election: Election, *states: str, action: str) -> None:
    if election.status not in states:
        raise WrongState(
            f"cannot {action} while the election is {election.status} (needs {' or '.join(states)})",
            extra={"election_status": election.status},
        )


def advance(election: Election, to: str) -> None:
    if NEXT.get(election.status) != to:
        raise WrongState(
            f"the election is {election.status}; it cannot move to {to}", extra={"election_status": election.status}
        )
    election.status = to
