"""Validating a manifest the administrator submits: the crypto core's rules
(ids, limits) plus the texts a city hall needs in Japanese and English."""

from __future__ import annotations

from datetime import datetime

from crypto.ballots import DEFAULT_MIN_TALLY_BALLOTS, Manifest
from crypto.errors import ManifestError
from voting.errors import Invalid

REVOTE_POLICIES = ("single", "last")
LANGUAGES = ("ja", "en")
MAX_TEXT = 500


def _text(value: object, where: str, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, dict) or set(value) != set(LANGUAGES):
        raise Invalid(f"{where} must give both Japanese and English: {{\"ja\": …, \"en\": …}}", code="invalid_manifest")
    for lang in LANGUAGES:
        text = value[lang]
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise Invalid(f"{where}.{lang} must be non-empty text of at most {MAX_TEXT} characters", code="invalid_manifest")


def validate_manifest(doc: object) -> Manifest:
    """The manifest as it will be stored and signed. ``min_tally_ballots`` is
    always written out (the default when absent), so the signed manifest, which
    trustees and the verifier read, states the minimum itself."""
    try:
        manifest = Manifest.from_json(doc)
    except ManifestError as exc:
        raise Invalid(str(exc), code="invalid_manifest") from None
    allowed = {
        "election_id", "title", "description", "questions", "revote_policy", "schedule", "version", "min_tally_ballots",
        "witnesses",  # checked by Manifest.from_json (crypto/witness.py)
    }
    document = manifest.document  # the validated copy of doc
    extra = set(document) - allowed
    if extra:
        raise Invalid(f"unknown manifest fields: {sorted(extra)}", code="invalid_manifest")
    _text(document.get("title"), "title")
    _text(document.get("description"), "description", required=False)
    if document.get("revote_policy") not in REVOTE_POLICIES:
        raise Invalid("revote_policy must be 'single' (one ballot) or 'last' (the last ballot counts)", code="invalid_manifest")
    schedule = document.get("schedule")
    if schedule is not None:
        _schedule(schedule)
    for qn, q in enumerate(document["questions"], start=1):
        if set(q) - {"id", "text", "options", "min_selections", "max_selections"}:
            raise Invalid(f"question {qn}: unknown fields", code="invalid_manifest")
        _text(q.get("text"), f"question {qn} text")
        for on, option in enumerate(q["options"], start=1):
            if set(option) - {"id", "label"}:
                raise Invalid(f"question {qn}, option {on}: unknown fields", code="invalid_manifest")
            _text(option.get("label"), f"question {qn}, option {on} label")
    if "min_tally_ballots" not in manifest.document:
        # From the completed document: Manifest.from_json keeps its own copy,
        # and the fingerprints hash that copy.
        manifest = Manifest.from_json({**manifest.document, "min_tally_ballots": DEFAULT_MIN_TALLY_BALLOTS})
    return manifest


def _schedule(schedule: object) -> None:
    if not isinstance(schedule, dict) or set(schedule) - {"opens_at", "closes_at"}:
        raise Invalid("schedule is {opens_at, closes_at} as ISO 8601 times", code="invalid_manifest")
    times = {}
    for key, value in schedule.items():
        try:
            times[key] = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise Invalid(f"schedule.{key} is not an ISO 8601 time", code="invalid_manifest") from None
        if times[key].tzinfo is None:
            raise Invalid(f"schedule.{key} needs a time zone, e.g. +09:00", code="invalid_manifest")
    if len(times) == 2 and times["opens_at"] >= times["closes_at"]:
        raise Invalid("the schedule closes before it opens", code="invalid_manifest")
