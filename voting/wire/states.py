"""An election's states: the ``status`` of every election document the API
sends, in the order an election goes through them (voting/elections/lifecycle.py
enforces the moves)."""

from __future__ import annotations

from typing import Literal

DRAFT, KEY_CEREMONY, OPEN, CLOSED, TALLIED, PUBLISHED = "draft", "key_ceremony", "open", "closed", "tallied", "published"
STATES = (DRAFT, KEY_CEREMONY, OPEN, CLOSED, TALLIED, PUBLISHED)

Status = Literal["draft", "key_ceremony", "open", "closed", "tallied", "published"]
