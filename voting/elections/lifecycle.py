"""The election lifecycle, enforced in this one place.

draft -> key_ceremony -> open -> closed -> tallied -> published (the state
names: voting/wire/states.py)
"""

from __future__ import annotations

from typing import Protocol

from voting.db.models import Election
from voting.errors import WrongState
from voting.wire.states import CLOSED, DRAFT, KEY_CEREMONY, OPEN, PUBLISHED, TALLIED

__all__ = ["CLOSED", "DRAFT", "KEY_CEREMONY", "OPEN", "PUBLISHED", "TALLIED", "advance", "require"]

NEXT = {DRAFT: KEY_CEREMONY, KEY_CEREMONY: OPEN, OPEN: CLOSED, CLOSED: TALLIED, TALLIED: PUBLISHED}


class HasStatus(Protocol):
    """An election, or a row of a query that selected its status."""

    @property
    def status(self) -> str: ...


def require(election: HasStatus, *states: str, action: str) -> None:
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
