"""Generate the golden election record: ``python tests/data/gen_golden_record.py``.

Run once; the record (``golden-record/``) and its verification report
(``golden-record-report.json``) are committed, and ``tests/test_record_golden.py``
verifies the committed files on every run. A change to the record format or to
the verifier that no longer reads this record as it did fails that test: the
fix is to keep reading old records, not to regenerate them.

The election: 3 of 4 employees on the roll vote on one question (one voter
votes again; the last ballot counts), one voter first publishes an audited
ballot, 3 trustees with a threshold of 2, 2 witnesses who both cosign the
final board, and the auditors' part. It is made with ``crypto/`` alone
(``voting.record.bench.synthesize``), the same board format the service exports.
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import log as merkle
from crypto.witness import CosignedHead, cosign
from voting.record import files as F
from voting.record.bench import synthesize
from voting.record.build import AuditorsPart, build_record
from voting.verify import verify_record

HERE = Path(__file__).resolve().parent
RECORD_DIR = HERE / "golden-record"
REPORT = HERE / "golden-record-report.json"
WITNESSES = ("監査事務局", "市民オンブズマン")


def expected_report(report: dict) -> dict:
    """The report without what varies from run to run (times, worker count)."""
    out = {k: v for k, v in report.items() if k not in ("seconds", "workers")}
    out["checks"] = [{k: v for k, v in c.items() if k not in ("seconds", "worker_seconds")} for c in report["checks"]]
    return out


def manifest(witness_keys: list[Ed25519PrivateKey]) -> dict:
    return {
        "election_id": "golden-2026",
        "title": {"ja": "黄金記録の職員アンケート", "en": "Staff survey of the golden record"},
        "revote_policy": "last",
        "min_tally_ballots": 3,
        "witnesses": {
            "quorum": 2,
            "members": [
                {"name": name, "public_key": key.public_key().public_bytes_raw().hex()}
                for name, key in zip(WITNESSES, witness_keys, strict=True)
            ],
        },
        "questions": [
            {
                "id": "q1",
                "text": {"ja": "一つ選んでください", "en": "Choose one"},
                "min_selections": 1,
                "max_selections": 1,
                "options": [{"id": f"o{i}", "label": {"ja": f"選択肢{i}", "en": f"option {i}"}} for i in range(3)],
            }
        ],
    }


def generate() -> dict[str, bytes]:
    witness_keys = [Ed25519PrivateKey.generate() for _ in WITNESSES]
    election = synthesize(3, manifest_doc=manifest(witness_keys), revoters=1, abstainers=1, audits=1, workers=1)
    files = election.files
    board = files[F.BOARD].split(b"\n")[:-1]
    heads = json.loads(files[F.TREE_HEADS])
    # The witnesses cosign a head in the middle of voting and the final board.
    cosigned = []
    for doc in (heads[len(heads) // 2], heads[-1]):
        head = merkle.SignedTreeHead.from_json(doc)
        time_ms = int(datetime.now(UTC).timestamp() * 1000)
        cosignatures = tuple(cosign(key, head.head, time_ms) for key in witness_keys)
        cosigned.append(CosignedHead(head, cosignatures).to_json())
    trust = json.loads(files[F.TRUST])
    auditors = AuditorsPart(
        json.loads(files[F.ROLL]),
        [_der(a) for a in trust["trust_anchors"]],
        [_der(c) for c in trust["crls"]],
        json.loads(files[F.ENROLLMENTS]),
    )
    exported_at = json.loads(files[F.RECORD])["exported_at"]
    return build_record(election.election_id, board, heads, exported_at=exported_at, auditors=auditors, cosigned=cosigned)


def _der(text: str) -> bytes:
    return base64.b64decode(text)


def main() -> None:
    files = generate()
    report = verify_record(files, workers=1)
    if not report.ok(strict=True):
        raise SystemExit(f"the generated record does not verify: {[(c.number, c.failures) for c in report.checks]}")
    shutil.rmtree(RECORD_DIR, ignore_errors=True)
    F.write_record(files, RECORD_DIR)
    REPORT.write_text(json.dumps(expected_report(report.to_json()), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {RECORD_DIR.name}/ ({len(files)} files) and {REPORT.name}")


if __name__ == "__main__":
    main()
