"""The published JSON Schemas of the election record (voting/record/schemas/),
generated from its Structs (voting/wire/record.py):

    python -m voting.wire.record_schemas          # writes them
    python -m voting.wire.record_schemas --check  # exit status 1 if a committed one differs

Each file's schema is self-contained (draft 2020-12): the Structs it uses are
under its own ``$defs``. ``common.schema.json`` names the definitions the files
share, under the names earlier versions of the schemas gave them, so that a
``$ref`` to ``urn:votingpilot:record:v1:common#/$defs/hex32`` still resolves.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from voting.record import files as F
from voting.wire import record
from voting.wire.board import Cosignature

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:votingpilot:record:v1:"
COMMON = "common.schema.json"
COMMON_TITLE = "Shared definitions of the election record (docs/election-record.md)"
REGENERATE = "python -m voting.wire.record_schemas"

#: common.schema.json's definitions: their names there, and their types.
COMMON_DEFINITIONS: dict[str, Any] = {
    "hex32": record.Hex32,
    "hex": record.Hex,
    "point": record.Point,
    "point_or_identity": record.PointOrIdentity,
    "scalar": record.Scalar,
    "ciphertext": record.Ciphertext,
    "challenge_response": record.ChallengeResponse,
    "disjunctive_proof": record.DisjunctiveProof,
    "id": record.Id,
    "text": record.Text,
    "time": record.Time,
    "index": record.Index,
    "trustee_index": record.TrusteeIndex,
    "employee_id": record.EmployeeId,
    "base64": record.Base64,
    "trustee_signature": record.TrusteeSignature,
    "witnesses": record.Witnesses,
    "signed_tree_head": record.SignedTreeHead,
    "cosignature": Cosignature,
}


def _extras() -> dict[str, dict[str, Any]]:
    """The JSON Schema some Structs add to their own (``json_schema_extra``), by component name."""
    found = {}
    for value in vars(record).values():
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            extra = getattr(value, "json_schema_extra", None)
            if extra:
                found[value.__name__] = extra
    return found


def _components(types: Sequence[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    roots, components = msgspec.json.schema_components(types, ref_template="#/$defs/{name}")
    extras = _extras()
    for name, component in components.items():
        component.update(extras.get(name, {}))
    return list(roots), components


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """The text of every schema file, by its name in ``F.SCHEMA_DIR``."""
    if set(record.FILES) != set(F.SCHEMAS):
        raise RuntimeError(f"voting/wire/record.py defines {sorted(record.FILES)}, the record has {sorted(F.SCHEMAS)}")
    out = {}
    for name, filename in F.SCHEMAS.items():
        shape = record.FILES[name]
        (root,), components = _components([shape.type])
        doc = {"$schema": DRAFT, "$id": ID_PREFIX + filename.removesuffix(".schema.json"), "title": shape.title, **root}
        if components:
            doc["$defs"] = components
        out[filename] = _text(doc)
    roots, components = _components(list(COMMON_DEFINITIONS.values()))
    definitions = {**components, **dict(zip(COMMON_DEFINITIONS, roots, strict=True))}
    common = {"$schema": DRAFT, "$id": ID_PREFIX + COMMON.removesuffix(".schema.json"), "title": COMMON_TITLE, "$defs": definitions}
    out[COMMON] = _text(common)
    return out


def differences(directory: Path = F.SCHEMA_DIR) -> list[str]:
    """The schema files in ``directory`` that are not the generated ones (or are missing), and any extra ones."""
    generated = generate()
    present = {path.name for path in directory.glob("*.schema.json")}
    wrong = [
        filename
        for filename, text in generated.items()
        if not (directory / filename).is_file() or (directory / filename).read_text(encoding="utf-8") != text
    ]
    return sorted(wrong + sorted(present - set(generated)))


def write(directory: Path = F.SCHEMA_DIR) -> list[str]:
    """Write every schema file into ``directory``; returns the names of the ones that changed."""
    changed = differences(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for filename, text in generate().items():
        (directory / filename).write_text(text, encoding="utf-8")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--check"]:
        wrong = differences()
        for filename in wrong:
            print(f"{F.SCHEMA_DIR.name}/{filename} is not what voting/wire/record.py generates", file=sys.stderr)
        if wrong:
            print(f"regenerate them: {REGENERATE}", file=sys.stderr)
        return 1 if wrong else 0
    if args:
        print(f"usage: {REGENERATE} [--check]", file=sys.stderr)
        return 2
    for filename in write():
        print(f"wrote {filename}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
