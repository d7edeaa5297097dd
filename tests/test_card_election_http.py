"""A whole election over real HTTP in which every key is on a card: SoftHSM2
tokens through PKCS#11 for the administrator, the three trustees (ceremony and
decryption), an auditor, the voters and a witness, all driven through the
``voting`` command line with --pkcs11-module (RSA-2048 and P-256 keys both,
Ed25519 for the witness). Some cards are certified through the CLI itself
(``voting card csr`` -> ``voting ca issue --csr`` -> ``voting card
store-certificate``). The tally must be right and ``voting verify`` must pass
on the record; nothing of a private key is ever in a file."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from crypto import log as merkle
from crypto.witness import Cosignature, verify_cosignature
from tests.card_support import PIN, SoftHsm, card_for
from tests.cli_support import refused, run
from tests.support import start_server
from voting import pki as pilot_ca
from voting import witness as w
from voting.cli.demo import MANIFEST as DEMO_MANIFEST
from voting.client import Client

ELECTION = "card-survey"
WITNESS_TOKEN = "witness-card"



def cli_card(softhsm: SoftHsm, data_dir: Path, tmp_path: Path, employee_id: str, kind: str, name: str, role: str) -> str:
    """A key made on a new token, certified through the command line only: a CSR
    made on the card, the pilot CA's certificate for it, stored on the card."""
    token = softhsm.init_token(f"card-{employee_id}")
    softhsm.keypair(token, "auth", kind, "01")
    card = {"VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": PIN}
    csr = tmp_path / f"{employee_id}.csr"
    run("card", "csr", "--card-token", token, "--card-key", "auth", "--out", csr, "--common-name", name, env=card)
    output = run(
        "ca", "issue", "--csr", csr, "--employee-id", employee_id, "--role", role, "--data-dir", data_dir
    ).output
    assert "store-certificate" in output
    issued = data_dir / "credentials" / f"{employee_id}.certificate.pem"
    output = run("card", "store-certificate", issued, "--card-token", token, "--card-key", "auth", env=card).output
    assert f"employee id {employee_id}" in output
    return token


def key_types_of_registrations(record: Path) -> set[str]:
    """The key types of the certificates that signed the voters' registrations,
    as the auditors' part of the record shows them."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            registration = node.get("registration")
            if isinstance(registration, dict) and registration.get("chain"):
                leaf = x509.load_der_x509_certificate(base64.b64decode(registration["chain"][0]))
                key = leaf.public_key()
                found.add("RSA" if isinstance(key, rsa.RSAPublicKey) else "P-256" if isinstance(key, ec.EllipticCurvePublicKey) else "other")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads((record / "auditors" / "roll.json").read_text(encoding="utf-8")))
    return found


@pytest.mark.slow
def test_a_whole_election_with_every_key_on_a_card(softhsm, data_dir, database_url, tmp_path, backend) -> None:
    run("ca", "init", "--data-dir", data_dir)
    # Through the command line: RSA and P-256 cards for the administrator, a
    # trustee, the auditor and two voters.
    tokens = {
        "A0001": cli_card(softhsm, data_dir, tmp_path, "A0001", "rsa2048", "佐藤 健一", "admin"),
        "T0001": cli_card(softhsm, data_dir, tmp_path, "T0001", "p256", "委員 1", "trustee"),
        "U0001": cli_card(softhsm, data_dir, tmp_path, "U0001", "p256", "監査 一郎", "auditor"),
        "E0001": cli_card(softhsm, data_dir, tmp_path, "E0001", "rsa2048", "山田 花子", "voter"),
        "E0004": cli_card(softhsm, data_dir, tmp_path, "E0004", "p256", "高橋 誠", "voter"),
    }
    # Cards issued by the same CA otherwise, the issuing CA's certificate on the card.
    issuing = pilot_ca.load(data_dir / "ca").issuing
    for employee_id, kind in (("T0002", "rsa2048"), ("T0003", "p256"), ("E0002", "p256"), ("E0003", "rsa2048")):
        tokens[employee_id] = card_for(issuing, softhsm, employee_id, kind).token
    assert not list((data_dir / "credentials").glob("*.credential.json"))  # no key in any file
    softhsm.init_token(WITNESS_TOKEN)
    softhsm.keypair(WITNESS_TOKEN, "witness", "ed25519", "01")

    server = start_server(data_dir, database_url, admins=["A0001"], auditors=["U0001"], crl_refresh_s="0")
    witness_process = None
    try:
        root = data_dir / "ca" / "root.pem"
        http = {"VOTING_SERVER": server.url, "VOTING_PIN": PIN, "VOTING_PKCS11_MODULE": softhsm.module, "VOTING_CREDENTIAL": None}

        def card(employee_id: str, *, anchor: bool = True) -> tuple[str, ...]:
            return ("--card-token", tokens[employee_id], "--card-key", "auth", *(("--trust-anchor", root) if anchor else ()))

        # The witness's Ed25519 key on its card: the state file says where, and holds no private key.
        state = tmp_path / "witness" / "state.json"
        state.parent.mkdir()
        output = run("witness", "init", "--state", state, "--name", "監査事務局", "--card-token", WITNESS_TOKEN, "--card-key", "witness", env=http).output
        assert "on card" in output
        doc = json.loads(state.read_text(encoding="utf-8"))
        assert "private_key" not in doc and doc["card"] == {"module": softhsm.module, "token": WITNESS_TOKEN, "key": "witness"}
        member = tmp_path / "witness.json"
        member.write_text(json.dumps(w.load_state(state).member(), ensure_ascii=False), encoding="utf-8")

        manifest = tmp_path / "manifest.json"
        manifest.write_text(json.dumps({**DEMO_MANIFEST, "election_id": ELECTION, "min_tally_ballots": 4}, ensure_ascii=False), encoding="utf-8")
        run("election", "create", manifest, "--trustees", "T0001,T0002,T0003", "--threshold", "2", "--witness", member, *card("A0001"), env=http)
        roll = tmp_path / "roll.csv"
        roll.write_text(
            "employee_id,name,department\n" + "".join(f"E000{i},職員 {i},総務課\n" for i in range(1, 5)), encoding="utf-8"
        )
        assert "Added 4 voter(s)" in run("election", "roll", ELECTION, roll, *card("A0001"), env=http).output

        # The witness runs on its own machine (a process), the PIN from VOTING_PIN, signing on its card.
        witness_process = subprocess.Popen(
            [sys.executable, "-m", "voting.cli", "witness", "run", "--state", str(state), "--server", server.url,
             "-e", ELECTION, "--interval", "0.2"],
            env={**softhsm.env, "VOTING_PIN": PIN}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

        # The key ceremony: two trustees wait in their own processes, the third steps with --no-wait.
        trustee_state = {t: tmp_path / f"{t}-machine" / "state.json" for t in ("T0001", "T0002", "T0003")}
        for path in trustee_state.values():
            path.parent.mkdir()

        def trustee(t: str, *args: str) -> tuple:
            return ("trustee", *args, ELECTION, *card(t), "--state", trustee_state[t])

        run("election", "ceremony-start", ELECTION, *card("A0001"), env=http)
        waiting = [
            subprocess.Popen(
                [sys.executable, "-m", "voting.cli", *map(str, trustee(t, "ceremony")), "--yes", "--interval", "0.2", "--timeout", "180"],
                env={**softhsm.env, **{k: v for k, v in http.items() if v is not None}},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for t in ("T0001", "T0002")
        ]
        first = run(*trustee("T0003", "ceremony"), "--no-wait", input="y\n", env=http).output
        assert "2 of 3 trustees" in first and "you are trustee 3" in first
        for _ in range(600):
            if "confirmed my key share" in run(*trustee("T0003", "ceremony"), "--no-wait", env=http).output:
                break
            time.sleep(0.2)
        for process in waiting:
            output, _ = process.communicate(timeout=180)
            assert process.returncode == 0 and "confirmed my key share" in output, output
        assert "Voting is open" in run("election", "open", ELECTION, *card("A0001"), env=http).output

        # The voters. E0001 names no trust anchor: root.pem beside its --card-chain file is pinned.
        votes = {
            "E0001": ("days=two", "improve=network,paperless", "satellite=yes"),
            "E0002": ("days=one", "satellite=no"),
            "E0003": ("days=two", "improve=equipment", "satellite=no"),
            "E0004": ("days=three-plus", "improve=network", "satellite=undecided"),
        }
        receipts = []
        for employee_id, choices in votes.items():
            receipt = tmp_path / f"receipt-{employee_id}.json"
            options = card(employee_id, anchor=employee_id != "E0001")
            if employee_id == "E0001":
                options += ("--card-chain", data_dir / "credentials" / "E0001.certificate.pem")
            chosen = [x for c in choices for x in ("--choose", c)]
            output = run("vote", ELECTION, *options, *chosen, "--yes", "--receipt", receipt, env=http).output
            assert "Tracking code" in output and receipt.exists()
            receipts.append(receipt)
        # A voter whose PIN is asked (hidden) re-votes; the 'last' policy counts it.
        no_pin = {**http, "VOTING_PIN": None}
        output = run("vote", ELECTION, *card("E0002"), "--choose", "days=none", "--choose", "satellite=yes", "--yes",
                     "--receipt", tmp_path / "receipt-E0002-again.json", input=f"{PIN}\n", env=no_pin).output
        assert f"PIN of the card '{tokens['E0002']}'" in output
        assert Client(server.url).status(ELECTION)["ballots_counted"] == 4
        assert run("receipt", "check", *receipts, env=http).output.count("FAIL") == 0

        run("election", "close", ELECTION, *card("A0001"), env=http)
        run(*trustee("T0001", "decrypt"), env=http)  # P-256, certified through the CLI
        run(*trustee("T0002", "decrypt"), env=http)  # RSA-2048
        result = json.loads(run("election", "tally", ELECTION, *card("A0001"), "--json", env=http).stdout)
        counts = {q["id"]: {o["id"]: o["count"] for o in q["options"]} for q in result["questions"]}
        assert counts == {
            "days": {"none": 1, "one": 0, "two": 2, "three-plus": 1},
            "improve": {"network": 2, "equipment": 1, "paperless": 1, "chat": 0, "training": 0},
            "satellite": {"yes": 2, "no": 1, "undecided": 1},
        }
        assert sorted(result["trustees"]) == [1, 2]
        run("election", "publish", ELECTION, *card("A0001"), env=http)

        # The auditor exports the record with the auditors' part (and a CRL from
        # after voting closed), on a card; the witness has cosigned the whole
        # board; the record verifies.
        run("ca", "crl", "--data-dir", data_dir)
        record = tmp_path / "record"
        output = run("election", "export", ELECTION, record, "--private", *card("U0001", anchor=False), "--wait-witnesses", "60", env=http).output
        assert "have not cosigned" not in output
        report = run("verify", record, "--strict", "--workers", "1").output
        assert "All checks passed" in report
        assert key_types_of_registrations(record) == {"RSA", "P-256"}

        # Every cosignature the server holds from the witness is its card's, over the real board.
        public = Client(server.url)
        doc = public.get(f"/api/elections/{ELECTION}/board/witnesses")
        mine = w.load_state(state)
        newest = next(m["newest"] for m in doc["witnesses"] if m["public_key"] == mine.public_key.hex())
        head = merkle.SignedTreeHead.from_json(newest["tree_head"])
        verify_cosignature(head.head, Cosignature.from_json(newest["cosignature"]))
        assert head.head.size == public.status(ELECTION)["board_size"]
        assert mine.elections[ELECTION].cosigned.size == head.head.size
    finally:
        if witness_process is not None:
            witness_process.send_signal(signal.SIGTERM)
            try:
                witness_process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                witness_process.kill()
                witness_process.communicate()
        server.stop()
    assert witness_process.returncode == 0


# --- one-line errors -------------------------------------------------------------------------


def test_card_mistakes_get_one_clear_line(softhsm, pki, tmp_path) -> None:
    """Wrong PIN, no module file, no such key, several cards, both a file and a
    card: one line, exit 1 (2 for a usage error), nothing sent."""
    choice = card_for(pki, softhsm, "E0001", "rsa2048")
    card_for(pki, softhsm, "E0002", "p256")
    env = {"VOTING_SERVER": "http://127.0.0.1:9", "VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": PIN, "VOTING_CREDENTIAL": None}
    ours = ("--card-token", choice.token, "--card-key", "auth")

    output = refused("vote", ELECTION, *ours, "--pin", "999999", env=env)
    assert "wrong PIN for card 'card-E0001'" in output and len(output.strip().splitlines()) == 1
    output = refused("vote", ELECTION, *ours, env={**env, "VOTING_PIN": None}, input="13579\n")  # asked, hidden
    assert "PIN of the card 'card-E0001'" in output and "wrong PIN" in output
    output = refused("election", "open", ELECTION, *ours, "--pkcs11-module", tmp_path / "missing.so", env=env)
    assert "no PKCS#11 module at" in output and "missing.so" in output
    output = refused("trustee", "decrypt", ELECTION, "--state", tmp_path / "s.json", "--card-token", choice.token, "--card-key", "nope", env=env)
    assert "no trustee state file" in output  # the state file is checked first
    output = refused("election", "open", ELECTION, "--card-token", choice.token, "--card-key", "nope", env=env)
    assert "no key nope on card 'card-E0001'" in output and "'auth' (id:01)" in output
    output = refused("election", "open", ELECTION, env=env)
    assert "several cards are present" in output and "card-E0001" in output and "card-E0002" in output
    output = refused("election", "open", ELECTION, "--card-key", "id:zz", "--card-token", choice.token, env=env)
    assert "hex digits" in output

    credential = tmp_path / "E0001.credential.json"
    credential.write_text("{}", encoding="utf-8")
    output = refused("election", "open", ELECTION, "--credential", credential, "--pkcs11-module", softhsm.module, env=env, code=2)
    assert "not both" in output
    output = refused("election", "open", ELECTION, env={**env, "VOTING_PKCS11_MODULE": None}, code=2)
    assert "--credential FILE" in output and "--pkcs11-module" in output
    output = refused("election", "open", ELECTION, "--card-token", "x", env={**env, "VOTING_PKCS11_MODULE": None}, code=2)
    assert "--card-token needs --pkcs11-module" in output
    # A card error while listing: the module cannot see a card named so.
    output = refused("card", "list", "--card-token", "no-such-card", env=env)
    assert "no card 'no-such-card'" in output


@pytest.mark.slow
def test_the_signer_given_on_the_command_line_wins_over_the_environment(softhsm, pki, tmp_path, data_dir, database_url) -> None:
    """A city hall PC may set VOTING_PKCS11_MODULE for everyone: an employee who
    passes --credential logs in with the file; and a card given on the command
    line wins over VOTING_CREDENTIAL. (The file's PIN is not the card's, so only
    the right one can succeed.)"""
    from crypto.credentials import seal_credential

    file_pin = "112233"
    employee = pki.enroll("A0001")
    path = tmp_path / "A0001.credential.json"
    path.write_text(json.dumps(seal_credential(employee.private_key, employee.chain, file_pin, employee_id="A0001", name=employee.name, iterations=1000)))
    choice = card_for(pki, softhsm, "A0002", "p256")
    server = start_server(data_dir, database_url, admins=["A0001", "A0002"])
    try:
        env = {"VOTING_SERVER": server.url}
        manifest = tmp_path / "manifest.json"
        manifest.write_text(json.dumps({**DEMO_MANIFEST, "election_id": ELECTION}, ensure_ascii=False), encoding="utf-8")
        # The card on the command line, the file in the environment: the card signs.
        run(
            "election", "create", manifest, "--trustees", "T0001,T0002,T0003", "--threshold", "2",
            "--pkcs11-module", softhsm.module, "--card-token", choice.token, "--pin", PIN,
            env={**env, "VOTING_CREDENTIAL": str(path)},
        )
        # The file on the command line, the module in the environment: the file signs.
        output = run("election", "status", ELECTION, "--credential", path, "--pin", file_pin, env={**env, "VOTING_PKCS11_MODULE": softhsm.module}).output
        assert "CRL" in output  # shown to a logged-in administrator only
        # A public command: the module in the environment alone does not log in (no PIN asked).
        output = run("election", "status", ELECTION, env={**env, "VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": None}).output
        assert "PIN" not in output and "CRL" not in output
        output = run("election", "status", ELECTION, "--pkcs11-module", softhsm.module, "--card-token", choice.token, input=f"{PIN}\n", env=env).output
        assert "PIN of the card 'card-A0002'" in output and "CRL" in output
    finally:
        server.stop()
