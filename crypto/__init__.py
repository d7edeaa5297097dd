"""Pure cryptographic core of the voting pilot.

No I/O, no web, no database: value types and pure functions only. Nothing here
imports ``voting``, Litestar or SQLAlchemy (``tests/test_layering.py`` checks).
The protocol these modules implement is specified in ``docs/protocol.md``.
"""
