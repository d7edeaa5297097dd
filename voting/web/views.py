"""What the templates show, computed from the services' public data: the
ballot's questions, the result charts, board rows, pagination. No HTML here
and nothing secret: every value is already public on the board or the API.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.ballots import format_tracking_code
from crypto.entry_kinds import (
    ADMIN_ACTION,
    AGGREGATE,
    BALLOT,
    BALLOT_AUDITED,
    BALLOT_SUPERSEDED,
    CREDENTIAL_REGISTERED,
    ELECTION_CREATED,
    ELECTION_OPENED,
    JOINT_KEY,
    PARTIAL_DECRYPTION,
    RESULT,
    TRUSTEE_ANNOUNCEMENT,
)
from crypto.errors import EncodingError
from crypto.log import SignedTreeHead
from voting.db.models import BoardEntry
from voting.web.i18n import catalogue, localized, translate
from voting.wire.states import STATES

STEPS = STATES  # the progress bar: one step per state
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BASE32_16 = re.compile(r"[A-Z2-7]{16}")


# --- the ballot --------------------------------------------------------------------------


def ballot_questions(status: dict) -> list[dict]:
    """Each question with its inputs: radio buttons for "choose exactly one",
    checkboxes otherwise; limits always from the manifest."""
    out = []
    for number, q in enumerate(status["manifest"]["questions"]):
        low, high = q["min_selections"], q["max_selections"]
        out.append(
            {
                "number": number,
                "id": q["id"],
                "text": q.get("text"),
                "min": low,
                "max": high,
                "input": "radio" if low == high == 1 else "checkbox",
                "options": [{"id": o["id"], "label": o.get("label")} for o in q["options"]],
            }
        )
    return out


# --- results ---------------------------------------------------------------------------------

#: A bar's full length in its own SVG's units (the words beside it are HTML, so they do not scale).
BAR_MAX = 460


def result_charts(status: dict, lang: str) -> list[dict]:
    """Per question: rows with each option's label, count, share and bar length."""
    result = status.get("result")
    if not result:
        return []
    counted = result["ballots_counted"]
    manifest_questions = {q["id"]: q for q in status["manifest"]["questions"]}
    charts = []
    for number, q in enumerate(result["questions"]):
        manifest_q = manifest_questions.get(q["id"], {"options": []})
        labels = {o["id"]: localized(o.get("label"), lang) or o["id"] for o in manifest_q["options"]}
        top = max([o["count"] for o in q["options"]] + [1])
        rows = []
        for option in q["options"]:
            width = round(BAR_MAX * option["count"] / top)
            share = f"{100 * option['count'] / counted:.1f}" if counted else "0.0"
            rows.append(
                {
                    "label": labels.get(option["id"], option["id"]),
                    "count": option["count"],
                    "share": share,
                    "width": max(width, 1 if option["count"] else 0),
                }
            )
        charts.append(
            {
                "number": number,
                "text": localized(manifest_q.get("text"), lang) or q["id"],
                "rows": rows,
            }
        )
    return charts


def turnout(status: dict) -> dict:
    roll = status.get("roll_size") or 0
    counted = (status.get("result") or {}).get("ballots_counted", status.get("ballots_counted", 0))
    return {"counted": counted, "roll": roll, "percent": f"{100 * counted / roll:.1f}" if roll else "0.0"}


# --- the bulletin board -------------------------------------------------------------------------


def short_credential(hex_credential: object) -> str:
    """A voting credential (64 hex digits) in its short form: the first 16 digits."""
    text = str(hex_credential or "")
    return text[:16] if _HEX64.fullmatch(text) else (text[:16] or "—")


def short_code(hex_code: object) -> str:
    try:
        return format_tracking_code(bytes.fromhex(str(hex_code)))
    except (ValueError, EncodingError):  # a malformed code is shown as it is
        return str(hex_code)[:16]


#: City hall time: Japan has one zone and no daylight saving time.
JST = timezone(timedelta(hours=9), "JST")


def _time(value: object) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")
    except ValueError:
        return str(value)


def schedule(status: dict) -> dict | None:
    """The manifest's schedule in Japan time, for reading (the manifest keeps ISO 8601)."""
    doc = status["manifest"].get("schedule")
    if not doc:
        return None
    # Minutes when the seconds are zero (as the form sets them), else the seconds too; "JST" once.
    return {key: _time(doc[f"{key}_at"]).replace(":00 JST", " JST") if doc.get(f"{key}_at") else "—" for key in ("opens", "closes")}


def board_row(entry: dict, lang: str) -> dict:
    """A board entry for the explorer: its kind in words, a one-line summary and
    the whole entry as indented JSON."""
    kind, body = entry.get("kind", ""), entry.get("body") or {}
    t = lambda message, **p: translate(lang, message, **p)  # noqa: E731
    if kind == BALLOT:
        summary = t("board.sum_ballot", code=short_code(body.get("tracking_code")), credential=short_credential(body.get("credential")))
    elif kind == BALLOT_SUPERSEDED:
        summary = t(
            "board.sum_superseded",
            code=short_code(body.get("tracking_code")),
            new=short_code(body.get("superseded_by")),
            credential=short_credential(body.get("credential")),
        )
    elif kind == CREDENTIAL_REGISTERED:
        summary = t("board.sum_registered", credential=short_credential(body.get("credential")))
    elif kind == BALLOT_AUDITED:
        summary = t("board.sum_audited", code=short_code(body.get("tracking_code")), credential=short_credential(body.get("credential")))
    elif kind == ELECTION_OPENED and "roll_size" in body:
        summary = t("board.sum_opened", roll=body.get("roll_size"))
    elif kind == ELECTION_CREATED:
        summary = t("board.sum_created", n=body.get("trustees", "?"), t=body.get("threshold", "?"))
    elif kind in (TRUSTEE_ANNOUNCEMENT, PARTIAL_DECRYPTION):
        summary = t("board.sum_trustee", index=body.get("index", "?"))
    elif kind == JOINT_KEY:
        summary = t("board.sum_joint_key", key=str(body.get("joint_key", ""))[:16])
    elif kind in (AGGREGATE, RESULT):
        summary = t("board.sum_counted", count=body.get("ballots_counted", "?"))
    elif kind == ADMIN_ACTION:
        action = str(body.get("action", ""))
        known_action = f"board.action.{action}"
        # Never a raw action name: an unknown one is "another administrative action" (the JSON below has it).
        summary = t("board.sum_admin", action=t(known_action if known_action in catalogue() else "board.action.other"), by=body.get("by", ""))
    else:
        summary = t("board.sum_by", by=body.get("by", ""))
    known = f"board.kind.{kind}"
    return {
        "index": entry.get("index"),
        "kind": kind,
        "kind_label": t(known if known in catalogue() else "board.kind.other"),
        "time": _time(entry.get("time", "")),
        "summary": summary,
        "tracking_code": body.get("tracking_code") if kind in (BALLOT, BALLOT_AUDITED) else None,
        "json": json.dumps(entry, ensure_ascii=False, indent=1, sort_keys=True),
    }


def head_row(sth: SignedTreeHead) -> dict:
    doc = sth.to_json()
    return {
        **doc,
        "time": datetime.fromtimestamp(sth.head.timestamp_ms / 1000, JST).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " JST",
    }


@dataclass
class Page:
    start: int
    end: int
    total: int
    previous: int | None
    next: int | None
    numbers: list[int] = field(default_factory=list)


def page(start: int, size: int, total: int) -> Page:
    """Entries [start, end) of total, with the neighbouring pages' starts."""
    end = min(start + size, total)
    return Page(
        start=start,
        end=end,
        total=total,
        previous=max(start - size, 0) if start > 0 else None,
        next=start + size if start + size < total else None,
    )


@dataclass
class Search:
    query: str
    valid: bool
    indices: list[int]


async def search_tracking_code(db: AsyncSession, election_id: str, query: str) -> Search:
    """A tracking code in full (64 hex digits) or in its short form (16 base32
    letters in groups): the ballot entries whose code starts with it."""
    text = re.sub(r"[\s-]", "", query)
    if _HEX64.fullmatch(text.lower()):
        prefix = text.lower()
    elif _BASE32_16.fullmatch(text.upper()):
        try:
            prefix = base64.b32decode(text.upper()).hex()
        except binascii.Error:
            return Search(query, False, [])
    else:
        return Search(query, False, [])
    rows = await db.scalars(
        select(BoardEntry.leaf_index)
        .where(BoardEntry.election_id == election_id, BoardEntry.kind.in_((BALLOT, BALLOT_AUDITED)), BoardEntry.tracking_code.startswith(prefix, autoescape=True))
        .order_by(BoardEntry.leaf_index)
        .limit(10)
    )
    return Search(query, True, list(rows))
