"""What every body shares."""

from __future__ import annotations

import msgspec


class Reply(msgspec.Struct, forbid_unknown_fields=True):
    """A reply body. The service still builds dictionaries; a handler converts
    one into its Reply, so an unknown member is an error and the published
    schema cannot drift from what is sent."""
