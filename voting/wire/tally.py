"""Bodies of the tally operations (/api/elections/{id}/partial-decryptions …)."""

from __future__ import annotations

from typing import Any

import msgspec

from voting.wire.common import Reply


class PartialDecryptionRequest(msgspec.Struct, forbid_unknown_fields=True):
    index: int
    shares: list[str]
    proofs: list[dict[str, Any]]


# -- replies -----------------------------------------------------------------------------


class Ciphertext(Reply):
    alpha: str
    beta: str


class Aggregate(Reply):
    """The encrypted sum of the counted ballots, which the trustees decrypt."""

    fingerprint: str
    ballots_counted: int
    ciphertexts: list[Ciphertext]


class PartialAccepted(Reply):
    index: int
    accepted: bool


class OptionCount(Reply):
    id: str
    count: int


class QuestionResult(Reply):
    id: str
    options: list[OptionCount]


class Result(Reply):
    ballots_counted: int
    questions: list[QuestionResult]
    trustees: list[int]
    """The indices of the trustees whose partial decryptions were combined."""
