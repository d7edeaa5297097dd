"""The manifest's schedule (``opens_at``/``closes_at``), enforced by the server.

Ballots (and published audits, which are part of casting: a ballot is either
cast or audited) are accepted only from ``opens_at`` to before ``closes_at``,
by the server's clock at the moment the cast is written; the election can be
closed only at or after ``closes_at``. Opening the election before
``opens_at`` is allowed (voters can register their voting credentials early),
but no ballot is accepted until then. An election without a schedule, or
without one of its times, is not limited on that side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from voting.errors import Conflict

#: Times are shown in Japan time (the city hall's), with the ISO 8601 time in the problem's members.
JST = timezone(timedelta(hours=9), "JST")


@dataclass(frozen=True)
class Schedule:
    opens_at: datetime | None
    closes_at: datetime | None

    @classmethod
    def of(cls, manifest: dict) -> Schedule:
        """The schedule of a manifest document (validated when the election was created)."""
        doc = manifest.get("schedule") or {}
        times = {key: datetime.fromisoformat(doc[key]) if doc.get(key) else None for key in ("opens_at", "closes_at")}
        return cls(**times)

    def __bool__(self) -> bool:
        return self.opens_at is not None or self.closes_at is not None

    def describe(self) -> str:
        """``from … until …`` in Japan time, for messages."""
        opens = shown(self.opens_at) if self.opens_at else "the opening"
        closes = shown(self.closes_at) if self.closes_at else "the closing"
        return f"from {opens} until {closes}"

    def members(self) -> dict:
        """The times as ISO 8601, added to a problem detail."""
        return {
            "opens_at": self.opens_at.isoformat() if self.opens_at else None,
            "closes_at": self.closes_at.isoformat() if self.closes_at else None,
        }

    def view(self, status: str, at: datetime) -> dict:
        """The schedule as an election's status shows it: its times, the
        server's clock, and whether a ballot would be accepted now."""
        try:
            self.require_casting(at)
        except Conflict:
            accepting = False
        else:
            accepting = status == "open"
        return {**self.members(), "server_time": at.isoformat(), "accepting_ballots": accepting}

    def require_casting(self, now: datetime, *, action: str = "cast a ballot") -> None:
        """Refuses (409 ``outside_schedule``) outside [opens_at, closes_at)."""
        if self.opens_at is not None and now < self.opens_at:
            problem = f"voting has not started: it opens at {shown(self.opens_at)}"
        elif self.closes_at is not None and now >= self.closes_at:
            problem = f"voting has ended: it closed at {shown(self.closes_at)}"
        else:
            return
        raise Conflict(
            f"cannot {action}: {problem} (the schedule is {self.describe()}; it is now {shown(now)})",
            code="outside_schedule",
            extra={**self.members(), "now": now.isoformat()},
        )

    def require_registering(self, now: datetime) -> None:
        """Refuses (409 ``outside_schedule``) a voting credential at or after
        closes_at, as a cast (before opens_at is fine: voters get ready)."""
        if self.closes_at is not None and now >= self.closes_at:
            self.require_casting(now, action="register a voting credential")

    def require_closable(self, now: datetime) -> None:
        """Refuses (409 ``outside_schedule``) to close before closes_at: voters may still be voting."""
        if self.closes_at is not None and now < self.closes_at:
            raise Conflict(
                f"cannot close before the scheduled end, {shown(self.closes_at)} (it is now {shown(now)}): "
                "voters may still cast ballots until then",
                code="outside_schedule",
                extra={**self.members(), "now": now.isoformat()},
            )


def shown(moment: datetime) -> str:
    """A time for people: Japan time, to the second."""
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")


def now() -> datetime:
    """The server's clock (a function, so tests can move it)."""
    return datetime.now(UTC)


def describe_status(view: dict | None) -> str | None:
    """One bilingual line for the CLI from an election status's ``schedule``
    (None when the manifest has no schedule)."""
    if not view or not (view.get("opens_at") or view.get("closes_at")):
        return None
    opens, closes = (shown(datetime.fromisoformat(view[k])) if view.get(k) else "—" for k in ("opens_at", "closes_at"))
    state = "accepting ballots now / 受付中" if view.get("accepting_ballots") else "not accepting ballots now / 受付時間外"
    return f"{opens} – {closes} ({state})"
