"""Strict readers of the record's JSON: one text, one meaning. Each raises
``Bad`` with a message that says which item is wrong and why.

Every file is read in two steps: ``strict_json`` (no duplicate members, no
floats, no NaN), then ``conform`` to the file's Struct (voting/wire/record.py,
the one definition of the record's files its published schemas are generated
from). The checks keep reading the JSON documents (dicts and lists): the
Structs only say that a document is well-formed."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from crypto.encoding import canonical_json
from crypto.errors import CryptoError
from voting.verify.report import Findings
from voting.wire.record import FILES

_HEX = re.compile(r"[0-9a-f]*")


class Bad(Exception):
    """One item of the record fails a check; the message says which and why."""


class _Unusable:
    def __repr__(self) -> str:
        return "UNUSABLE"


#: What ``load`` gives for a file that is missing or not valid JSON (``null``
#: is a valid view: no aggregate yet).
UNUSABLE: Any = _Unusable()


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    doc = {}
    for key, value in pairs:
        if key in doc:
            raise Bad(f"duplicate member {key!r}")
        doc[key] = value
    return doc


def _no_float(text: str) -> object:
    raise Bad(f"a number with a fraction or exponent ({text}); the record has integers only")


def _no_constant(text: str) -> object:
    raise Bad(f"{text} is not JSON")


def strict_json(data: bytes, what: str) -> Any:
    """JSON with no duplicate members, no floats, no NaN: one text, one meaning."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad(f"{what} is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_constant)
    except Bad as exc:
        raise Bad(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise Bad(f"{what} is not valid JSON: {exc}") from None


def conform(doc: object, name: str, what: str | None = None) -> None:
    """``doc`` is what the record's file ``name`` holds (for board.jsonl: one
    line), as its Struct defines it; else ``Bad`` names the file (or ``what``)
    and where in the document it is wrong (msgspec's path, ``$.body.ballot…``)."""
    try:
        msgspec.convert(doc, FILES[name].type, strict=True)
    except msgspec.ValidationError as exc:
        raise Bad(f"{what or name}: {exc}") from None
    except UnicodeError:  # msgspec encodes a string to match it to a Literal: a lone surrogate ("\ud800") cannot be
        raise Bad(f"{what or name}: a string is not valid Unicode (a lone surrogate)") from None


def load_json(files: Mapping[str, bytes], name: str, c: Findings) -> Any:
    """A JSON file of the record, not yet checked against its Struct, or
    UNUSABLE after recording why in ``c``."""
    data = files.get(name)
    if data is None:
        c.fail(f"{name} is missing from the record")
        return UNUSABLE
    try:
        return strict_json(data, name)
    except Bad as exc:
        c.fail(str(exc))
        return UNUSABLE


def load(files: Mapping[str, bytes], name: str, c: Findings) -> Any:
    """A JSON file of the record, well-formed as its Struct defines it, or
    UNUSABLE after recording why in ``c``."""
    doc = load_json(files, name, c)
    if doc is UNUSABLE:
        return UNUSABLE
    try:
        conform(doc, name)
    except Bad as exc:
        c.fail(str(exc))
        return UNUSABLE
    return doc


def compare_view(files: Mapping[str, bytes], name: str, expected: object, c: Findings, source: str) -> None:
    """A view file must say exactly what the board says."""
    view = load(files, name, c)
    if view is not UNUSABLE and not same_json(view, expected):
        c.fail(f"{name} differs from {source}")


def same_json(a: object, b: object) -> bool:
    """Equal as JSON (``true`` is not ``1``, unlike Python's ``==``)."""
    try:
        return canonical_json(a) == canonical_json(b)
    except CryptoError:
        return False


def exact_object(value: object, keys: set[str], what: str) -> dict[str, Any]:
    """An object with exactly these members."""
    if not isinstance(value, dict):
        raise Bad(f"{what} must be an object")
    if set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise Bad(f"{what}: missing {missing}, unexpected {extra}")
    return value


def integer(value: object, what: str, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise Bad(f"{what} must be an integer >= {low}")
    return value


def hex_bytes(value: object, what: str, nbytes: int | None = None) -> bytes:
    if not isinstance(value, str) or len(value) % 2 or not _HEX.fullmatch(value):
        raise Bad(f"{what} must be lowercase hexadecimal")
    if nbytes is not None and len(value) != 2 * nbytes:
        raise Bad(f"{what} must be {nbytes} bytes ({2 * nbytes} hex characters)")
    return bytes.fromhex(value)


def iso_time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise Bad(f"{what} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Bad(f"{what} is not an ISO 8601 time: {value!r}") from None
    if moment.utcoffset() is None:
        raise Bad(f"{what} has no time zone: {value!r}")
    return moment


def base64_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise Bad(f"{what} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Bad(f"{what} is not base64") from None


def short(code: object) -> str:
    """A long hex code shortened for a message."""
    return code[:12] + "…" if isinstance(code, str) and len(code) > 12 else str(code)


def selection_alphas(ballot: object) -> set[str]:
    """The alphas (lowercase hex) of a ballot document's selection ciphertexts;
    what is malformed is left to the checks that parse the ballot."""
    alphas: set[str] = set()
    questions = ballot.get("questions") if isinstance(ballot, dict) else None
    for question in questions if isinstance(questions, list) else ():
        selections = question.get("selections") if isinstance(question, dict) else None
        for selection in selections if isinstance(selections, list) else ():
            alpha = selection.get("alpha") if isinstance(selection, dict) else None
            if isinstance(alpha, str):
                alphas.add(alpha.lower())  # a ristretto255 encoding is unique: lowercase hex is canonical
    return alphas
