"""What every body shares: the reply base, and the constrained scalars the API
and the election record (voting/wire/record.py) both use."""

from __future__ import annotations

from typing import Annotated

import msgspec

from crypto.log import MAX_SIZE

#: Sizes, indices and times beyond any board (2^53 - 1) are malformed, not
#: passed on to the database (whose integer columns would overflow).
MAX_POSITION = MAX_SIZE


def exact(regex: str) -> str:
    """``regex`` as a pattern the whole string must match, in Python's ``re``
    (what msgspec and the ``jsonschema`` package use) as in JSON Schema's
    ECMA-262: ``$`` alone also matches before a final newline in Python, so
    ``(?!\\n)`` refuses one."""
    return f"^{regex}$(?!\\n)"


Hex32 = Annotated[str, msgspec.Meta(pattern=exact("[0-9a-f]{64}"))]
Hex64 = Annotated[str, msgspec.Meta(pattern=exact("[0-9a-f]{128}"))]
Position = Annotated[int, msgspec.Meta(ge=0, le=MAX_POSITION)]


class Reply(msgspec.Struct, forbid_unknown_fields=True):
    """A reply body. The service still builds dictionaries; a handler converts
    one into its Reply, so an unknown member is an error and the published
    schema cannot drift from what is sent."""
