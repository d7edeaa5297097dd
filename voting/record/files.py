"""The election record as files (docs/election-record.md, "Files").

A record is a directory or a zip archive of JSON files. In memory it is a plain
mapping from each file's relative path to its bytes, so the verifier checks a
record it was handed without touching the disk, and tests mutate copies of one.
This module does only that reading and writing; it knows nothing of the
service, and the verifier may use it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

FORMAT = "votingpilot-election-record"
VERSION = 5

# -- the public part -------------------------------------------------------------------
RECORD = "record.json"
MANIFEST = "manifest.json"
PARAMETERS = "parameters.json"
TRUSTEES = "trustees.json"
BOARD = "board.jsonl"
TREE_HEADS = "tree_heads.json"
BALLOTS = "ballots.json"
AGGREGATE = "aggregate.json"
PARTIAL_DECRYPTIONS = "partial_decryptions.json"
RESULT = "result.json"
COSIGNATURES = "cosignatures.json"
PUBLIC_FILES = (
    RECORD, MANIFEST, PARAMETERS, TRUSTEES, BOARD, TREE_HEADS, BALLOTS, AGGREGATE, PARTIAL_DECRYPTIONS, RESULT,
    COSIGNATURES,
)

# -- the auditors-only part (reveals which employee registered which voting credential) -------
AUDITORS_DIR = "auditors"
ROLL = "auditors/roll.json"
TRUST = "auditors/trust.json"
#: The trust anchors whose certificates name no employee, and the card
#: enrollments of the employees on the roll (absent from records exported
#: before card enrollment existed: then no registration may rest on one).
ENROLLMENTS = "auditors/enrollments.json"
AUDITOR_FILES = (ROLL, TRUST, ENROLLMENTS)
#: The auditors' files every auditors' part has.
REQUIRED_AUDITOR_FILES = (ROLL, TRUST)

ALL_FILES = PUBLIC_FILES + AUDITOR_FILES

#: The JSON Schema of each file, in ``SCHEMA_DIR`` (board.jsonl's applies to
#: each line), generated from the file's Struct in voting/wire/record.py
#: (``python -m voting.wire.record_schemas``); each stands alone, and
#: ``common.schema.json`` names the definitions they share.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMAS = {
    RECORD: "record.schema.json",
    MANIFEST: "manifest.schema.json",
    PARAMETERS: "parameters.schema.json",
    TRUSTEES: "trustees.schema.json",
    BOARD: "board-entry.schema.json",
    TREE_HEADS: "tree_heads.schema.json",
    BALLOTS: "ballots.schema.json",
    AGGREGATE: "aggregate.schema.json",
    PARTIAL_DECRYPTIONS: "partial_decryptions.schema.json",
    RESULT: "result.schema.json",
    COSIGNATURES: "cosignatures.schema.json",
    ROLL: "auditors-roll.schema.json",
    TRUST: "auditors-trust.schema.json",
    ENROLLMENTS: "auditors-enrollments.schema.json",
}

#: No file of a record is larger (a board of a million ballots is about 3 GB);
#: a zip member claiming more is refused before it is inflated.
MAX_FILE_BYTES = 8 * 1024**3

Files = Mapping[str, bytes]


class RecordFileError(Exception):
    """The path is not a readable record (no such path, not a directory or a zip)."""

    code = "record_unreadable"


def has_auditors_part(files: Files) -> bool:
    return any(name in files for name in AUDITOR_FILES)


def read_record(path: str | Path) -> dict[str, bytes]:
    """The record's files (only the known names; anything else is ignored) from
    a directory or a ``.zip``. Missing files are simply absent: the verifier
    reports them under the check that needs them."""
    path = Path(path)
    if path.is_dir():
        files = {}
        for name in ALL_FILES:
            member = path / PurePosixPath(name)
            if member.is_file():
                files[name] = member.read_bytes()
        return files
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as archive:
                return _read_zip(archive)
        except zipfile.BadZipFile as exc:
            raise RecordFileError(f"{path} is neither a record directory nor a zip archive: {exc}") from None
    raise RecordFileError(f"{path} does not exist")


def read_record_zip(data: bytes) -> dict[str, bytes]:
    """The record's files from a zip archive held in memory (an HTTP download)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _read_zip(archive)
    except zipfile.BadZipFile as exc:
        raise RecordFileError(f"not a zip archive: {exc}") from None


def _read_zip(archive: zipfile.ZipFile) -> dict[str, bytes]:
    """Members are looked up by their exact known names, so a hostile archive's
    other members (``../x``, absolute paths, links) are never even opened."""
    names = set(archive.namelist())
    prefix = _common_prefix(names)
    files = {}
    for name in ALL_FILES:
        member = prefix + name
        if member not in names:
            continue
        info = archive.getinfo(member)
        if info.file_size > MAX_FILE_BYTES:
            raise RecordFileError(f"{name} is larger than {MAX_FILE_BYTES} bytes")
        with archive.open(info) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise RecordFileError(f"{name} is larger than {MAX_FILE_BYTES} bytes")
        files[name] = data
    return files


def _common_prefix(names: set[str]) -> str:
    """Archives made by hand often wrap everything in one top directory
    (``survey-2026-record/record.json``): accept that one level."""
    if RECORD in names:
        return ""
    tops = {name.split("/", 1)[0] + "/" for name in names if "/" in name}
    for top in sorted(tops):
        if top + RECORD in names:
            return top
    return ""


def write_record(files: Files, path: str | Path) -> Path:
    """Write to ``path``: a zip archive if it ends in ``.zip``, else a directory
    (created; existing record files in it are overwritten)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(record_zip(files))
        return path
    path.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        _check_name(name)
        target = path / PurePosixPath(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path


def record_zip(files: Files) -> bytes:
    """A zip archive of the record (deflated; the board's hex compresses about 2:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in ALL_FILES:
            if name in files:
                archive.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), files[name], zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _check_name(name: str) -> None:
    if name not in ALL_FILES:
        raise ValueError(f"{name!r} is not a file of the election record")
