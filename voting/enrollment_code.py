"""The enrollment code as an employee types it: its alphabet and shown form.

Shared by the service, which issues and checks codes (voting.auth.enrollment),
and by ``voting card enroll``, which runs in the base install without the server.
"""

from __future__ import annotations

import secrets
import unicodedata

#: The code alphabet: capital letters and digits without 0/O, 1/I/L and the
#: like, so a code read aloud or copied from a slip is typed right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
CODE_GROUP = 4


def new_code() -> str:
    """A fresh code, as shown: XXXX-XXXX-XXXX (about 59 bits)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return format_code(raw)


def format_code(raw: str) -> str:
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def normalize_code(typed: object) -> str | None:
    """The code as typed (full-width characters from a Japanese IME, lower
    case, spaces or dashes anywhere) in its shown form, or None if it cannot be
    a code."""
    if not isinstance(typed, str) or len(typed) > 64:
        return None
    raw = "".join(c for c in unicodedata.normalize("NFKC", typed).upper() if c not in " -\u2010\u2011\u2012\u2013\u2212\u30fc")
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        return None
    return format_code(raw)
