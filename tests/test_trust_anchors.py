"""VOTING_TRUST_ANCHORS_FILE: the file's every mistake is one line naming the
fix; relative paths are the file's directory's; and the anchors as a whole
(voting/auth/trust.py TrustAnchors) pick the anchor a chain builds to."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crypto.errors import CertificateError
from tests.enrollment_support import anchors_file, make_external_ca
from tests.support import make_pki
from voting.auth.trust import TrustAnchors, UnknownAnchor
from voting.settings import Settings, load_trust_anchors


@pytest.fixture
def external(tmp_path):
    return make_external_ca(tmp_path / "ext")


def test_a_good_file_and_its_relative_paths(external, tmp_path):
    path = anchors_file(tmp_path / "ext" / "anchors.json", external)
    (anchor,) = load_trust_anchors(path)
    assert (anchor.name, anchor.identity) == (external.name, "enrollment")
    assert anchor.certificate == external.root_path and anchor.crl == str(external.crl_path)
    url = [{"name": "jpki", "certificate": str(external.root_path), "crl": "https://crl.example/x.crl", "identity": "certificate"}]
    path.write_text(json.dumps(url))
    assert load_trust_anchors(path)[0].crl == "https://crl.example/x.crl"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{", "cannot be read as JSON"),
        ('{"name": "x"}', "must be a JSON list"),
        ('[{"name": "jpki"}]', "exactly the members name, certificate, crl and identity"),
        ('[{"name": "Pilot!", "certificate": "r.pem", "crl": "c.pem", "identity": "enrollment"}]', "lowercase letters"),
        ('[{"name": "pilot", "certificate": "r.pem", "crl": "c.pem", "identity": "enrollment"}]', "the pilot's own anchor"),
        ('[{"name": "jpki", "certificate": "r.pem", "crl": "c.pem", "identity": "employee"}]', "identity must be"),
        ('[{"name": "jpki", "certificate": "nowhere.pem", "crl": "c.pem", "identity": "enrollment"}]', "does not exist"),
        ('[{"name": "jpki", "certificate": "ext-root.pem", "crl": "", "identity": "enrollment"}]', "crl must be"),
        (
            '[{"name": "a", "certificate": "ext-root.pem", "crl": "c", "identity": "enrollment"},'
            ' {"name": "a", "certificate": "ext-root.pem", "crl": "c", "identity": "enrollment"}]',
            "used twice",
        ),
    ],
)
def test_every_mistake_is_one_line(tmp_path, content, words):
    (tmp_path / "ext-root.pem").write_text("x")
    path = tmp_path / "anchors.json"
    path.write_text(content)
    with pytest.raises(SystemExit) as stopped:
        load_trust_anchors(path)
    message = str(stopped.value)
    assert words in message and "\n" not in message and "VOTING_TRUST_ANCHORS_FILE" in message


def test_the_service_refuses_to_start_with_a_bad_file(tmp_path):
    path = tmp_path / "anchors.json"
    path.write_text("[1]")
    result = subprocess.run(
        [sys.executable, "-m", "voting.cli", "roster", "list", "--data-dir", str(tmp_path / "data")],
        env={"VOTING_TRUST_ANCHORS_FILE": str(path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "VOTING_TRUST_ANCHORS_FILE" in result.stderr and "Traceback" not in result.stderr
    assert not Settings().trust_anchors  # nothing set: the pilot's anchor only


def test_the_anchor_a_chain_builds_to_decides(external, tmp_path):
    pki = make_pki(tmp_path / "data")
    settings = Settings(data_dir=tmp_path / "data", trust_anchors=load_trust_anchors(anchors_file(tmp_path / "ext" / "a.json", external)))
    anchors = TrustAnchors.from_settings(settings)
    now = datetime.now(UTC)
    employee = pki.enroll("E0001")
    card = external.card_credential("P-256")
    assert anchors.anchor_for(employee.certificate, employee.chain[1:], now).name == "pilot"
    chosen = anchors.anchor_for(card.certificate, card.chain[1:], now)
    assert (chosen.name, chosen.identity) == (external.name, "enrollment")
    # A card of a third CA builds to nothing; an expired chain of a known anchor says so.
    stranger = make_external_ca(tmp_path / "stranger", "stranger").card_credential()
    with pytest.raises(UnknownAnchor):
        anchors.anchor_for(stranger.certificate, stranger.chain[1:], now)
    with pytest.raises(CertificateError, match="expired or not yet valid"):
        anchors.anchor_for(card.certificate, card.chain[1:], datetime(2099, 1, 1, tzinfo=UTC))
    # Only the anchors whose certificates name employees are trusted for that (trustees, the record).
    assert anchors.store().roots == (pki.root.certificate,)
    # A session's stored chain (no root) is the anchor's that issued it.
    assert anchors.owner(list(card.chain)).name == external.name and anchors.owner(list(employee.chain)).name == "pilot"
