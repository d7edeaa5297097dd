"""Check 11: the published audits (Benaloh challenges). Every opened ballot
is a registered credential's, its proofs are valid, its opening re-encrypts
to it, and neither its tracking code nor any of its selection ciphertexts was
ever cast."""

from __future__ import annotations

from collections.abc import Mapping

from crypto.ballots import AuditOpening, EncryptedBallot, tracking_code, verify_audit_opening, verify_ballot
from crypto.entry_kinds import BALLOT, BALLOT_AUDITED
from crypto.errors import CryptoError
from voting.verify.board import Board
from voting.verify.parameters import Parameters
from voting.verify.parse import Bad, exact_object, hex_bytes, selection_alphas, short
from voting.verify.report import Findings


def check_audits(board: Board, parameters: Parameters, registrations: Mapping[str, int]) -> Findings:
    """Every published audit: a ballot of a registered credential (check 5's
    ``registrations``), proofs valid, the opening re-encrypts to it, and
    neither its tracking code nor any of its selection ciphertexts (compared
    by alpha) ever cast."""
    c = Findings()
    entries = board.of_kind(BALLOT_AUDITED)
    if not entries:
        c.note("no ballot was audited")
        return c
    manifest, joint_key, fingerprint = parameters.manifest, parameters.joint_key, parameters.fingerprint
    if manifest is None or joint_key is None or fingerprint is None:
        c.block("needs the manifest, the joint key and the election fingerprint (check 1)")
        return c
    open_at, close_at = board.open_and_close()
    cast: dict[object, int] = {}
    cast_alphas: dict[str, int] = {}  # every cast selection ciphertext's alpha, at its first ballot
    for entry in board.of_kind(BALLOT):
        code = entry["body"].get("tracking_code")
        if isinstance(code, str):
            cast.setdefault(code, entry["index"])
        for alpha in selection_alphas(entry["body"].get("ballot")):
            cast_alphas.setdefault(alpha, entry["index"])
    audited: dict[str, int] = {}
    for entry in entries:
        index = entry["index"]
        try:
            body = exact_object(entry["body"], {"tracking_code", "credential", "ballot", "opening"}, BALLOT_AUDITED)
            code, credential = body["tracking_code"], body["credential"]
            hex_bytes(code, "tracking_code", 32)
            hex_bytes(credential, "credential", 32)
            if open_at is None or index < open_at:
                raise Bad("it comes before the election opened")
            if close_at is not None and index > close_at:
                raise Bad(f"it comes after the election closed (entry {close_at})")
            registered = registrations.get(credential)
            if registered is None or registered > index:
                raise Bad(f"its credential {short(credential)} was not registered before it")
            if code in audited:
                raise Bad(f"tracking code {short(code)} was already audited at entry {audited[code]}")
            audited[code] = index
            if code in cast:
                raise Bad(f"its tracking code {short(code)} was also cast (ballot at entry {cast[code]}): an audited ballot must never be cast")
            reused = sorted({cast_alphas[a] for a in selection_alphas(body["ballot"]) if a in cast_alphas})
            if reused:
                raise Bad(
                    f"a selection ciphertext of it was also cast (ballot at entry {reused[0]}), under other "
                    "proofs: its opening makes that vote public; an audited ciphertext must never be cast"
                )
            ballot = EncryptedBallot.from_json(body["ballot"], manifest)
            if tracking_code(fingerprint, ballot).hex() != code:
                raise Bad(f"tracking code {short(code)} is not the hash of the ballot")
            verify_ballot(manifest, joint_key, fingerprint, credential, ballot)
            verify_audit_opening(manifest, joint_key, ballot, AuditOpening.from_json(body["opening"]))
        except (Bad, CryptoError) as exc:
            c.fail(f"audited ballot (entry {index}): {exc}")
        except Exception as exc:  # noqa: BLE001 - hostile input
            c.fail(f"audited ballot (entry {index}): {type(exc).__name__}: {exc}")
    c.items(len(entries))
    return c
