"""Trustee key ceremony and threshold decryption (crypto/threshold.py)."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import threshold as th
from crypto.elgamal import ZERO, Ciphertext, add_all, encrypt
from crypto.errors import (
    CeremonyError,
    CryptoError,
    DecryptionError,
    EncodingError,
    IdentityPoint,
    PartialDecryptionError,
    ShareError,
    ThresholdError,
)
from crypto.group import IDENTITY, G, Scalar, g_mul, small_scalar
from crypto.proofs import SchnorrProof
from tests.vectors import gen_threshold

SHAPES = [(1, 1), (2, 2), (3, 2), (5, 3)]
FINGERPRINT = b"election fingerprint for tests.."
BOUND = 1000


@dataclasses.dataclass(frozen=True)
class Ceremony:
    params: th.CeremonyParameters
    secrets: list[th.TrusteeSecrets]
    announcements: list[th.Announcement]
    shares: list[th.EncryptedShare]
    keys: list[th.TrusteeKey]

    def shares_for(self, index: int) -> list[th.EncryptedShare]:
        return [s for s in self.shares if s.recipient == index]


def run_ceremony(n: int, t: int) -> Ceremony:
    params = th.CeremonyParameters(n, t, f"ceremony {t}-of-{n} fingerprint".encode())
    started = [th.start_ceremony(params, i) for i in range(1, n + 1)]
    secrets = [s for s, _ in started]
    announcements = [a for _, a in started]
    shares = [sh for s in secrets for sh in th.make_shares(params, s, announcements)]
    keys = [
        th.finish_ceremony(params, s, announcements, [sh for sh in shares if sh.recipient == s.index])
        for s in secrets
    ]
    return Ceremony(params, secrets, announcements, shares, keys)


ceremony = functools.lru_cache(maxsize=None)(run_ceremony)


def encrypt_tally(c: Ceremony, counts: list[int]) -> list[Ciphertext]:
    key = th.joint_public_key(c.announcements)
    return [encrypt(key, m, Scalar.random()) for m in counts]


# --- the ceremony ---------------------------------------------------------------------


@pytest.mark.parametrize(("n", "t"), SHAPES)
def test_full_ceremony(n: int, t: int) -> None:
    c = run_ceremony(n, t)
    joint = th.joint_public_key(c.announcements)
    secret = Scalar(0)
    for s in c.secrets:
        secret = secret + s.coefficients[0]
    assert joint == g_mul(secret)
    assert len(c.shares) == n * (n - 1)
    for key in c.keys:
        assert key.joint_public_key == joint
        assert key.public_share == th.public_share(c.announcements, key.index)
    # the key shares are points on one polynomial of degree t-1 whose value at 0 is the secret
    first = c.keys[:t]
    indices = [k.index for k in first]
    combined = Scalar(0)
    for k in first:
        combined = combined + th.lagrange_coefficient(k.index, indices) * k.secret_share
    assert combined == secret


@pytest.mark.parametrize(("n", "t"), SHAPES)
def test_decrypt_an_encrypted_tally(n: int, t: int) -> None:
    c = ceremony(n, t)
    key = th.joint_public_key(c.announcements)
    votes = [[1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 1]]
    ballots = [[encrypt(key, v, Scalar.random()) for v in ballot] for ballot in votes]
    tally = [add_all(column) for column in zip(*ballots)]
    partials = [th.partial_decrypt(k, tally, fingerprint=FINGERPRINT) for k in c.keys]
    for p in partials:
        th.verify_partial_decryption(c.announcements, tally, p, fingerprint=FINGERPRINT)
    assert th.combine(tally, partials[-t:], threshold=t, bound=BOUND) == [2, 2, 4]
    assert th.combine(tally, partials, threshold=t, bound=BOUND) == [2, 2, 4]


def test_aggregate_of_no_ballots_decrypts_to_zero() -> None:
    c = ceremony(3, 2)
    # ZERO is the sum of no ballots; (1, g^3) has alpha = identity but a message.
    tally = [ZERO, Ciphertext(IDENTITY, g_mul(small_scalar(3)))]
    partials = [th.partial_decrypt(k, tally, fingerprint=FINGERPRINT) for k in c.keys]
    for p in partials:
        assert all(m.is_identity() for m in p.shares)
        th.verify_partial_decryption(c.announcements, tally, p, fingerprint=FINGERPRINT)
    assert th.combine(tally, partials[:2], threshold=2, bound=BOUND) == [0, 3]


def test_identity_alpha_requires_identity_share() -> None:
    c = ceremony(3, 2)
    tally = [ZERO]
    p = th.partial_decrypt(c.keys[0], tally, fingerprint=FINGERPRINT)
    forged = dataclasses.replace(p, shares=(G,))
    with pytest.raises(PartialDecryptionError):
        th.verify_partial_decryption(c.announcements, tally, forged, fingerprint=FINGERPRINT)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_t_trustees_decrypt_and_fewer_cannot(data: st.DataObject) -> None:
    n, t = data.draw(st.sampled_from(SHAPES))
    c = ceremony(n, t)
    counts = data.draw(st.lists(st.integers(0, BOUND), min_size=1, max_size=3))
    chosen = data.draw(st.permutations(range(n)))[:t]
    tally = encrypt_tally(c, counts)
    partials = [th.partial_decrypt(c.keys[i], tally, fingerprint=FINGERPRINT) for i in chosen]
    assert th.combine(tally, partials, threshold=t, bound=BOUND) == counts
    if t == 1:
        return
    with pytest.raises(ThresholdError):
        th.combine(tally, partials[:-1], threshold=t, bound=BOUND)
    # Treating t-1 partial decryptions as enough interpolates the wrong polynomial.
    try:
        wrong = th.combine(tally, partials[:-1], threshold=t - 1, bound=BOUND)
    except DecryptionError:
        return
    assert wrong != counts


def test_duplicate_trustee_is_not_a_second_trustee() -> None:
    c = ceremony(3, 2)
    tally = encrypt_tally(c, [7])
    p = th.partial_decrypt(c.keys[0], tally, fingerprint=FINGERPRINT)
    with pytest.raises(ThresholdError):
        th.combine(tally, [p, p], threshold=2, bound=BOUND)


def test_lagrange_coefficients() -> None:
    assert th.lagrange_coefficient(1, [1, 2]) == Scalar(2)
    assert th.lagrange_coefficient(2, [1, 2]) == -Scalar(1)
    indices = [2, 3, 5]
    total = Scalar(0)
    for i in indices:
        total = total + th.lagrange_coefficient(i, indices)
    assert total == Scalar(1)  # interpolating the constant polynomial 1
    with pytest.raises(ThresholdError):
        th.lagrange_coefficient(1, [1, 1, 2])
    with pytest.raises(ThresholdError):
        th.lagrange_coefficient(4, [1, 2])
    with pytest.raises(ThresholdError):
        th.lagrange_coefficient(0, [0, 1])


# --- shares ---------------------------------------------------------------------------


def _share(c: Ceremony, sender: int, recipient: int) -> th.EncryptedShare:
    return next(s for s in c.shares if s.sender == sender and s.recipient == recipient)


def _open(c: Ceremony, share: th.EncryptedShare) -> Scalar:
    return th.open_share(
        c.params, c.secrets[share.recipient - 1], c.announcements[share.sender - 1], share
    )


def test_share_opens_to_the_senders_polynomial() -> None:
    c = ceremony(3, 2)
    a = c.secrets[0].coefficients
    assert _open(c, _share(c, 1, 3)) == a[0] + a[1] * Scalar(3)


@pytest.mark.parametrize("field", ["ciphertext", "ephemeral_public_key"])
def test_tampered_share_names_the_sender(field: str) -> None:
    c = ceremony(3, 2)
    share = _share(c, 2, 1)
    raw = bytearray(getattr(share, field))
    raw[5] ^= 0x40
    with pytest.raises(ShareError) as caught:
        _open(c, dataclasses.replace(share, **{field: bytes(raw)}))
    assert caught.value.sender == 2
    assert "trustee 2" in str(caught.value)


def test_wrong_but_well_encrypted_share_is_caught() -> None:
    c = ceremony(3, 2)
    bad = th.encrypt_share(c.params, c.secrets[1], c.announcements[0], value=Scalar(42))
    with pytest.raises(ShareError, match="commitments") as caught:
        _open(c, bad)
    assert caught.value.sender == 2
    shares = [bad if s.sender == 2 else s for s in c.shares_for(1)]
    with pytest.raises(ShareError):
        th.finish_ceremony(c.params, c.secrets[0], c.announcements, shares)


def test_relabelled_share_fails() -> None:
    c = ceremony(3, 2)
    with pytest.raises(ShareError):
        _open(c, dataclasses.replace(_share(c, 1, 2), sender=3))
    with pytest.raises(ShareError):
        th.open_share(c.params, c.secrets[2], c.announcements[0], _share(c, 1, 2))


def test_missing_or_duplicate_share_fails() -> None:
    c = ceremony(3, 2)
    mine = c.shares_for(1)
    with pytest.raises(ShareError, match="missing") as caught:
        th.finish_ceremony(c.params, c.secrets[0], c.announcements, mine[:1])
    assert caught.value.sender == mine[1].sender
    with pytest.raises(ShareError, match="twice"):
        th.finish_ceremony(c.params, c.secrets[0], c.announcements, [*mine, mine[0]])


def test_secrets_of_another_ceremony_are_refused() -> None:
    c, other = ceremony(3, 2), ceremony(2, 2)
    with pytest.raises(CeremonyError):
        th.make_shares(c.params, other.secrets[0], c.announcements)


def test_trustee_notices_a_substituted_own_announcement() -> None:
    c = ceremony(3, 2)
    _, impostor = th.start_ceremony(c.params, 1)
    with pytest.raises(CeremonyError, match="not this trustee"):
        th.make_shares(c.params, c.secrets[0], [impostor, *c.announcements[1:]])


# --- announcements --------------------------------------------------------------------


def _reject(c: Ceremony, announcement: th.Announcement) -> None:
    with pytest.raises(CeremonyError):
        th.verify_announcement(c.params, announcement)


def test_tampered_commitment_is_rejected() -> None:
    c = ceremony(3, 2)
    a = c.announcements[0]
    _reject(c, dataclasses.replace(a, commitments=(a.commitments[0] + G, a.commitments[1])))
    _reject(c, dataclasses.replace(a, commitments=(a.commitments[0], IDENTITY)))


@pytest.mark.parametrize("field", ["challenge", "response"])
def test_tampered_proof_is_rejected(field: str) -> None:
    c = ceremony(3, 2)
    a = c.announcements[0]
    proof = a.proofs[1]
    bumped = dataclasses.replace(proof, **{field: getattr(proof, field) + Scalar(1)})
    _reject(c, dataclasses.replace(a, proofs=(a.proofs[0], bumped)))


def test_announcement_cannot_be_relabelled_or_rekeyed() -> None:
    c = ceremony(3, 2)
    a, b = c.announcements[0], c.announcements[1]
    _reject(c, dataclasses.replace(a, index=2))
    _reject(c, dataclasses.replace(a, share_public_key=b.share_public_key))
    _reject(c, dataclasses.replace(a, share_public_key=bytes(32)))  # low order
    _reject(c, dataclasses.replace(a, index=4))
    other = th.CeremonyParameters(3, 2, b"some other ceremony fingerprint!")
    with pytest.raises(CeremonyError):
        th.verify_announcement(other, a)


def test_wrong_number_of_commitments_is_rejected() -> None:
    c, wide = ceremony(3, 2), ceremony(5, 3)
    a = c.announcements[0]
    _reject(c, dataclasses.replace(a, commitments=a.commitments[:1], proofs=a.proofs[:1]))
    _reject(c, wide.announcements[0])
    with pytest.raises(CeremonyError):
        th.Announcement(1, a.commitments, a.proofs[:1], a.share_public_key)


def test_ceremony_needs_every_trustee_once() -> None:
    c = ceremony(3, 2)
    anns = c.announcements
    for bad in (anns[:2], [anns[0], anns[1], anns[1]], [*anns, anns[2]]):
        with pytest.raises(CeremonyError):
            th.verify_announcements(c.params, bad)
    assert th.verify_announcements(c.params, reversed(anns)) == tuple(anns)


# --- partial decryptions --------------------------------------------------------------


def _partial_case(n: int = 3, t: int = 2) -> tuple[Ceremony, list[Ciphertext], th.PartialDecryption]:
    c = ceremony(n, t)
    tally = encrypt_tally(c, [3, 0, 9])
    return c, tally, th.partial_decrypt(c.keys[1], tally, fingerprint=FINGERPRINT)


def _mutations(p: th.PartialDecryption) -> dict[str, th.PartialDecryption]:
    proof = p.proofs[1]
    return {
        "index": dataclasses.replace(p, index=3),
        "unknown index": dataclasses.replace(p, index=9),
        "share": dataclasses.replace(p, shares=(p.shares[0] + G, *p.shares[1:])),
        "challenge": dataclasses.replace(
            p, proofs=(p.proofs[0], dataclasses.replace(proof, challenge=proof.challenge + Scalar(1)), p.proofs[2])
        ),
        "response": dataclasses.replace(
            p, proofs=(p.proofs[0], dataclasses.replace(proof, response=proof.response + Scalar(1)), p.proofs[2])
        ),
        "swapped": dataclasses.replace(
            p, shares=(p.shares[1], p.shares[0], p.shares[2]), proofs=(p.proofs[1], p.proofs[0], p.proofs[2])
        ),
        "short": dataclasses.replace(p, shares=p.shares[:2], proofs=p.proofs[:2]),
    }


@pytest.mark.parametrize(
    "change", ["index", "unknown index", "share", "challenge", "response", "swapped", "short"]
)
def test_changed_partial_decryption_is_rejected(change: str) -> None:
    c, tally, p = _partial_case()
    th.verify_partial_decryption(c.announcements, tally, p, fingerprint=FINGERPRINT)
    with pytest.raises(PartialDecryptionError):
        th.verify_partial_decryption(c.announcements, tally, _mutations(p)[change], fingerprint=FINGERPRINT)


def test_partial_decryption_for_another_fingerprint_fails() -> None:
    c, tally, _ = _partial_case()
    p = th.partial_decrypt(c.keys[0], tally, fingerprint=b"another election's fingerprint!!")
    with pytest.raises(PartialDecryptionError):
        th.verify_partial_decryption(c.announcements, tally, p, fingerprint=FINGERPRINT)


def test_partial_decryption_of_other_ciphertexts_fails() -> None:
    c, _tally, p = _partial_case()
    other = encrypt_tally(c, [3, 0, 9])
    with pytest.raises(PartialDecryptionError):
        th.verify_partial_decryption(c.announcements, other, p, fingerprint=FINGERPRINT)


def test_combine_checks_lengths() -> None:
    c, tally, p = _partial_case()
    q = th.partial_decrypt(c.keys[0], tally[:2], fingerprint=FINGERPRINT)
    with pytest.raises(PartialDecryptionError):
        th.combine(tally, [p, q], threshold=2, bound=BOUND)


# --- JSON -----------------------------------------------------------------------------


def _values(c: Ceremony) -> list[tuple[type, object]]:
    tally = encrypt_tally(c, [1, 2])
    values: list[tuple[type, object]] = [
        (th.CeremonyParameters, c.params),
        (th.Announcement, c.announcements[0]),
        (th.TrusteeSecrets, c.secrets[0]),
        (th.TrusteeKey, c.keys[0]),
        (th.PartialDecryption, th.partial_decrypt(c.keys[0], tally, fingerprint=FINGERPRINT)),
    ]
    return values + [(th.EncryptedShare, share) for share in c.shares[:1]]  # none if n = 1


@pytest.mark.parametrize(("n", "t"), SHAPES)
def test_json_roundtrips(n: int, t: int) -> None:
    for cls, value in _values(ceremony(n, t)):
        doc = json.loads(json.dumps(value.to_json()))
        assert cls.from_json(doc) == value


@pytest.mark.parametrize("index", range(6))
def test_json_with_extra_or_missing_keys_is_rejected(index: int) -> None:
    cls, value = _values(ceremony(3, 2))[index]
    doc = value.to_json()
    with pytest.raises(EncodingError):
        cls.from_json({**doc, "extra": 1})
    for key in doc:
        with pytest.raises(EncodingError):
            cls.from_json({k: v for k, v in doc.items() if k != key})
    with pytest.raises(EncodingError):
        cls.from_json([doc])


MALFORMED = [
    (th.CeremonyParameters, {"n": 3, "t": 4}, CeremonyError),
    (th.CeremonyParameters, {"n": 0, "t": 0}, CeremonyError),
    (th.CeremonyParameters, {"n": 256, "t": 2}, CeremonyError),
    (th.CeremonyParameters, {"n": True}, EncodingError),
    (th.CeremonyParameters, {"t": "2"}, EncodingError),
    (th.CeremonyParameters, {"ceremony_fingerprint": "ab"}, CeremonyError),
    (th.CeremonyParameters, {"ceremony_fingerprint": "AB" * 32}, EncodingError),
    (th.CeremonyParameters, {"ceremony_fingerprint": "zz" * 32}, EncodingError),
    (th.Announcement, {"index": 0}, CeremonyError),
    (th.Announcement, {"index": 1.0}, EncodingError),
    (th.Announcement, {"commitments": "00"}, EncodingError),
    (th.Announcement, {"commitments": [bytes(32).hex(), bytes(32).hex()]}, IdentityPoint),
    (th.Announcement, {"share_public_key": "00" * 31}, EncodingError),
    (th.Announcement, {"proofs": [{"c": "00" * 32}, {"c": "00" * 32}]}, EncodingError),
    (th.EncryptedShare, {"sender": 0}, CeremonyError),
    (th.EncryptedShare, {"ciphertext": "00" * 47}, EncodingError),
    (th.EncryptedShare, {"ephemeral_public_key": None}, EncodingError),
    (th.EncryptedShare, {"ephemeral_public_key": "00 " + "00" * 30 + "0"}, EncodingError),
    (th.EncryptedShare, {"ephemeral_public_key": "0x" + "00" * 31}, EncodingError),
    (th.TrusteeSecrets, {"index": 4}, CeremonyError),
    (th.TrusteeSecrets, {"coefficients": ["01" + "00" * 31]}, CeremonyError),
    (th.TrusteeSecrets, {"coefficients": ["ff" * 32, "ff" * 32]}, EncodingError),
    (th.TrusteeSecrets, {"share_private_key": "00" * 33}, EncodingError),
    (th.TrusteeKey, {"public_share": G.hex()}, CeremonyError),
    (th.TrusteeKey, {"secret_share": "01" + "00" * 31}, CeremonyError),
    (th.TrusteeKey, {"joint_public_key": bytes(32).hex()}, IdentityPoint),
    (th.PartialDecryption, {"shares": []}, PartialDecryptionError),
    (th.PartialDecryption, {"index": -1}, PartialDecryptionError),
]


@pytest.mark.parametrize(("cls", "change", "error"), MALFORMED)
def test_malformed_json_is_rejected(cls: type, change: dict, error: type[Exception]) -> None:
    value = dict(_values(ceremony(3, 2)))[cls]
    with pytest.raises(error):
        cls.from_json({**value.to_json(), **change})


def test_proof_json_is_strict() -> None:
    with pytest.raises(EncodingError):
        SchnorrProof.from_json({"c": "00" * 32, "s": "00" * 32, "x": 1})


def test_secrets_do_not_leak_into_repr() -> None:
    c = ceremony(3, 2)
    for value in (c.secrets[0], c.keys[0]):
        text = repr(value)
        assert "coefficients" not in text and "secret_share" not in text
        assert "share_private_key" not in text


# --- test vectors ---------------------------------------------------------------------

VECTORS = Path(__file__).parent / "vectors" / "threshold.json"


def _vector() -> dict:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


def test_vector_file_is_current() -> None:
    assert gen_threshold.generate()["threshold.json"] == _vector()


def test_vector_data_is_consistent() -> None:
    v = _vector()
    params = th.CeremonyParameters.from_json(v["parameters"])
    announcements = th.verify_announcements(params, [th.Announcement.from_json(a) for a in v["announcements"]])
    assert th.joint_public_key(announcements).hex() == v["joint_public_key"]
    for i, key_doc in enumerate(v["trustee_keys"], start=1):
        key = th.TrusteeKey.from_json(key_doc)
        assert key.public_share.hex() == v["public_shares"][i - 1]
        assert th.public_share(announcements, i) == key.public_share


@pytest.mark.parametrize("case", _vector()["cases"], ids=lambda case: f"{case['kind']}: {case['description']}")
def test_vector_case(case: dict) -> None:
    v = _vector()
    if case["valid"]:
        result = gen_threshold.check_case(v, case)
        if "result" in case:
            assert result == case["result"]
        if "value" in case:
            assert result == case["value"]
        for index, weight in zip(case.get("combine", []), case.get("lagrange", [])):
            assert th.lagrange_coefficient(index, case["combine"]).hex() == weight
    else:
        with pytest.raises(CryptoError) as caught:
            gen_threshold.check_case(v, case)
        assert caught.value.code == case["error"]
