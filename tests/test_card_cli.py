"""The card commands on SoftHSM2 tokens: ``voting card list/csr/store-certificate``,
``voting ca issue --csr`` (the CSR's signature and key are checked, the
certificate is exactly the pilot's employee certificate, no credential file),
and a witness whose Ed25519 key is on a card (its state file holds no private
key; the card cosigns; a card that stops signing holds the witness back
without a refusal, and after a few rounds ends it with EX_TEMPFAIL so that a
restart opens the card again; another card's key and a wrong PIN end it with
EX_CONFIG, which the shipped systemd unit does not restart). A card PIN is
never sent where it was not meant to go: not to a second card with the same
label, not VOTING_PIN of a credential file the card was chosen over."""

from __future__ import annotations

import configparser
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkcs11 import TokenFlag

from crypto import ca
from crypto.credentials import certificate_fingerprint, employee_id_of
from crypto.witness import Cosignature, verify_cosignature
from tests.card_support import PIN, SO_PIN, card_for
from tests.cli_support import refused, run
from tests.http_support import Pilot
from tests.support import manifest, roll_csv
from voting import card as card_module
from voting import pki as pilot_ca
from voting import witness as w
from voting.card import close_key, list_cards, open_card, open_key
from voting.cli import main
from voting.cli.witness import EX_CONFIG, EX_TEMPFAIL

ELECTION = "survey-2026"
WITNESS_UNIT = Path(__file__).resolve().parent.parent / "docs" / "systemd" / "voting-witness.service"



def software_csr(key, common_name: str = "山田 花子") -> bytes:
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    return request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# --- voting ca issue --csr -------------------------------------------------------------------


def test_ca_issue_csr_certifies_the_requests_key_as_for_a_generated_one(tmp_path) -> None:
    data_dir = tmp_path / "data"
    run("ca", "init", "--data-dir", data_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = tmp_path / "e1.csr"
    csr.write_bytes(software_csr(key))
    output = run("ca", "issue", "--csr", csr, "--employee-id", "E0001", "--department", "総務課", "--data-dir", data_dir).output
    assert "voting card store-certificate" in output
    out = data_dir / "credentials"
    certificate, issuing = x509.load_pem_x509_certificates((out / "E0001.certificate.pem").read_bytes())
    assert (out / "root.pem").is_file() and not list(out.glob("*.credential.json")) and not (out / "pins.csv").exists()
    assert certificate.public_key() == key.public_key()
    assert employee_id_of(certificate) == "E0001"
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "山田 花子"  # the CSR's name
    pilot = pilot_ca.load(data_dir / "ca")
    certificate.verify_directly_issued_by(issuing)
    assert issuing == pilot.issuing.certificate
    # The same profile as a certificate for a key the CA generates.
    generated = ca.enroll_employee(pilot.issuing, employee_id="E9999", name="x", now=datetime.now(UTC)).certificate
    assert {e.oid for e in certificate.extensions} == {e.oid for e in generated.extensions}
    assert certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    record = pilot.registry.certificates[-1]
    assert (record.employee_id, record.key_type, record.department) == ("E0001", "P-256", "総務課")

    # A second certificate for the employee needs --replace, which revokes the first.
    assert "already holds a valid certificate" in refused("ca", "issue", "--csr", csr, "--employee-id", "E0001", "--data-dir", data_dir)
    run("ca", "issue", "--csr", csr, "--employee-id", "E0001", "--name", "山田 花子", "--replace", "--data-dir", data_dir)
    assert [c.reason for c in pilot_ca.load(data_dir / "ca").registry.certificates] == ["superseded", None]


def test_ca_issue_csr_refuses_a_forged_request_a_weak_key_and_mixed_options(tmp_path) -> None:
    data_dir = tmp_path / "data"
    run("ca", "init", "--data-dir", data_dir)
    good = software_csr(rsa.generate_private_key(65537, 2048))
    request = x509.load_pem_x509_csr(good)
    # Someone else's key in a request signed by another key: no proof of possession.
    other = ec.generate_private_key(ec.SECP256R1())
    forged_der = bytearray(request.public_bytes(serialization.Encoding.DER))
    forged_der[-5] ^= 0x01  # the signature's last bytes
    forged = tmp_path / "forged.csr"
    forged.write_bytes(bytes(forged_der))
    assert "does not verify" in refused("ca", "issue", "--csr", forged, "--employee-id", "E0001", "--data-dir", data_dir)
    weak = tmp_path / "weak.csr"
    weak.write_bytes(software_csr(ec.generate_private_key(ec.SECP384R1())))
    assert "only P-256" in refused("ca", "issue", "--csr", weak, "--employee-id", "E0001", "--data-dir", data_dir)
    short = tmp_path / "short.csr"
    short.write_bytes(software_csr(rsa.generate_private_key(65537, 1024)))
    assert "too short" in refused("ca", "issue", "--csr", short, "--employee-id", "E0001", "--data-dir", data_dir)
    garbage = tmp_path / "garbage.csr"
    garbage.write_text("hello")
    assert "not a certificate signing request" in refused("ca", "issue", "--csr", garbage, "--employee-id", "E0001", "--name", "x", "--data-dir", data_dir)
    fine = tmp_path / "fine.csr"
    fine.write_bytes(software_csr(other))
    assert "invalid employee id" in refused("ca", "issue", "--csr", fine, "--employee-id", "bad id", "--data-dir", data_dir)
    assert "--employee-id" in refused("ca", "issue", "--csr", fine, "--data-dir", data_dir, code=2)
    roster = tmp_path / "roster.csv"
    roster.write_text("employee_id,name,department\nE0002,x,y\n", encoding="utf-8")
    assert "not both" in refused("ca", "issue", roster, "--csr", fine, "--employee-id", "E0001", "--data-dir", data_dir, code=2)
    assert "--pin is for issuing from a roster" in refused("ca", "issue", "--csr", fine, "--employee-id", "E0001", "--pin", "123456", "--data-dir", data_dir, code=2)
    assert "is for --csr" in refused("ca", "issue", roster, "--employee-id", "E0001", "--data-dir", data_dir, code=2)
    assert pilot_ca.load(data_dir / "ca").registry.certificates == []  # nothing was issued


# --- voting card ---------------------------------------------------------------------------------


def test_a_staff_card_is_certified_through_the_cli_and_then_opens(softhsm, tmp_path) -> None:
    data_dir = tmp_path / "data"
    run("ca", "init", "--data-dir", data_dir)
    token = softhsm.init_token("staff-card")
    public_key = softhsm.keypair(token, "auth", "p256", "0a")
    env = {"VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": None}

    listing = json.loads(run("card", "list", "--json", env=env).stdout)
    assert [c["token"] for c in listing] == ["staff-card"]
    assert listing[0]["keys"] == [{"label": "auth", "id": "0a", "type": "P-256"}] and listing[0]["certificates"] == []
    assert "auth (id:0a)" in run("card", "list", env=env).output

    csr = tmp_path / "card.csr"
    output = run("card", "csr", "--out", csr, "--card-key", "id:0a", "--common-name", "佐々木 翔", input=f"{PIN}\n", env=env).output
    assert "PIN of the card 'staff-card'" in output and "P-256 key auth" in output
    request = x509.load_pem_x509_csr(csr.read_bytes())
    assert request.is_signature_valid and request.public_key() == public_key  # signed on the card, for its key

    run("ca", "issue", "--csr", csr, "--employee-id", "E0002", "--data-dir", data_dir)
    issued = data_dir / "credentials" / "E0002.certificate.pem"
    # The PIN is asked once for storing and for the check that follows.
    output = run("card", "store-certificate", issued, input=f"{PIN}\n", env=env).output
    assert output.count("PIN of the card") == 1 and "employee id E0002" in output and "chain of 2" in output
    with open_card(softhsm.choice(token, "auth"), PIN) as card:  # the issuing CA's certificate is on the card now
        assert card.employee_id == "E0002" and len(card.chain) == 2 and card.name == "佐々木 翔"
    listing = json.loads(run("card", "list", "--json", env=env).stdout)
    assert {c["employee_id"] for c in listing[0]["certificates"]} == {"E0002", None}  # the leaf and the issuing CA
    # Logged in, the private keys show too (one card present: no --card-token needed).
    listing = json.loads(run("card", "list", "--login", "--json", input=f"{PIN}\n", env=env).stdout)
    assert listing[0]["keys"][0]["certificate"] == certificate_fingerprint(x509.load_pem_x509_certificates(issued.read_bytes())[0])

    # A certificate for another key is not stored on this card.
    other = tmp_path / "other.csr"
    other.write_bytes(software_csr(ec.generate_private_key(ec.SECP256R1())))
    run("ca", "issue", "--csr", other, "--employee-id", "E0003", "--name", "x", "--data-dir", data_dir)
    output = refused("card", "store-certificate", data_dir / "credentials" / "E0003.certificate.pem", "--pin", PIN, env=env)
    assert "is not for key" in output
    assert "wrong PIN" in refused("card", "csr", "--out", tmp_path / "x.csr", "--pin", "999999", env=env)
    assert "--pkcs11-module" in refused("card", "list", env={"VOTING_PKCS11_MODULE": None}, code=2)


# --- a witness on a card ------------------------------------------------------------------------


@pytest.fixture
def witness_card(softhsm, tmp_path):
    """A witness state file whose key is the Ed25519 key 'witness' on token 'witness-card'."""
    softhsm.init_token("witness-card")
    softhsm.keypair("witness-card", "witness", "ed25519", "01")
    softhsm.keypair("witness-card", "spare", "ed25519", "02")
    softhsm.keypair("witness-card", "p256", "p256", "03")
    path = tmp_path / "witness" / "state.json"
    env = {"VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": PIN}
    run("witness", "init", "--state", path, "--name", "監査事務局", "--card-key", "witness", env=env)
    return path


def test_witness_init_on_a_card_records_the_card_not_a_key(softhsm, witness_card, tmp_path) -> None:
    doc = json.loads(witness_card.read_text(encoding="utf-8"))
    assert set(doc) == {"format", "version", "name", "url", "card", "public_key", "elections"}
    assert doc["card"] == {"module": softhsm.module, "token": "witness-card", "key": "witness"}
    key = open_key(softhsm.choice("witness-card", "witness"), PIN)
    try:
        assert doc["public_key"] == key.public_key().public_bytes_raw().hex()
    finally:
        close_key(key)
    show = run("witness", "show", "--state", witness_card).output
    assert "key on card: witness-card (key witness" in show
    env = {"VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": PIN}
    assert "must be Ed25519" in refused("witness", "init", "--state", tmp_path / "p.json", "--name", "x", "--card-key", "p256", env=env)
    assert not (tmp_path / "p.json").exists()
    # A state file must hold a private key or a card, never both.
    both = {**doc, "private_key": "00" * 32}
    (tmp_path / "both.json").write_text(json.dumps(both))
    (tmp_path / "both.json").chmod(0o600)
    assert "not a usable witness state file" in refused("witness", "show", "--state", tmp_path / "both.json")


def test_a_witness_on_a_card_cosigns_and_a_card_that_stops_signing_only_holds_it_back(pilot: Pilot, softhsm, witness_card) -> None:
    doc = manifest(ELECTION)
    doc["witnesses"] = {"quorum": 1, "members": [w.load_state(witness_card).member()]}
    pilot.create(doc, ["E0001"])
    key = open_key(softhsm.choice("witness-card", "witness"), PIN)
    signer = w.CardSigner(key)
    with pytest.raises(w.WitnessStateError, match="key is on card"):
        w.WitnessRunner(witness_card, w.BoardApi(pilot.url))
    runner = w.WitnessRunner(witness_card, w.BoardApi(pilot.url), signer=signer)
    try:
        assert runner.poll(ELECTION).status == "cosigned"
        cosigned = w.load_state(witness_card).elections[ELECTION].cosigned
        verify_cosignature(cosigned.tree_head.head, cosigned.cosignature)

        close_key(key)  # the card is pulled out: no cosignature, no refusal, nothing saved
        pilot.admin.import_roll(ELECTION, roll_csv(["E0002"]))
        outcome = runner.poll(ELECTION)
        assert outcome.status == "unavailable" and "the card did not sign" in outcome.message
        state = w.load_state(witness_card).elections[ELECTION]
        assert state.refused is None and state.cosigned == cosigned

        # The card is back: the next round cosigns the new head.
        key = open_key(softhsm.choice("witness-card", "witness"), PIN)
        runner.signer = w.CardSigner(key)
        assert runner.poll(ELECTION).status == "cosigned"
        newest = pilot.admin.get(f"/api/elections/{ELECTION}/board/witnesses")["witnesses"][0]["newest"]
        assert w.load_state(witness_card).elections[ELECTION].cosigned.size == newest["tree_head"]["size"] > cosigned.size
        verify_cosignature(
            w.load_state(witness_card).elections[ELECTION].cosigned.tree_head.head, Cosignature.from_json(newest["cosignature"])
        )
    finally:
        runner.api.close()
        close_key(key)


def test_witness_run_refuses_another_cards_key(softhsm, witness_card) -> None:
    doc = json.loads(witness_card.read_text(encoding="utf-8"))
    doc["card"]["key"] = "spare"  # another Ed25519 key than the one the manifests name
    witness_card.write_text(json.dumps(doc))
    output = refused("witness", "run", "--once", "--state", witness_card, "--server", "http://127.0.0.1:9", "-e", ELECTION, env={"VOTING_PIN": PIN}, code=EX_CONFIG)
    assert "is not this witness's key" in output
    doc["card"]["key"] = "witness"
    doc["card"]["module"] = "/nonexistent/module.so"
    witness_card.write_text(json.dumps(doc))
    output = refused("witness", "run", "--once", "--state", witness_card, "--server", "http://127.0.0.1:9", "-e", ELECTION, env={"VOTING_PIN": PIN, "VOTING_PKCS11_MODULE": None}, code=EX_CONFIG)
    assert "no PKCS#11 module at /nonexistent/module.so" in output
    # --pkcs11-module overrides the module recorded at init (a moved library); the wrong PIN is one line.
    output = refused(
        "witness", "run", "--once", "--state", witness_card, "--server", "http://127.0.0.1:9", "-e", ELECTION,
        "--pkcs11-module", softhsm.module, env={"VOTING_PIN": "999999"}, code=EX_CONFIG,
    )
    assert "wrong PIN for card 'witness-card'" in output


# --- a witness on a card under a service manager ---------------------------------------------------


def _witness_unit() -> dict[str, str]:
    """The [Service] section of the shipped witness unit."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(WITNESS_UNIT.read_text(encoding="utf-8").replace("\\\n", " "))
    return dict(parser["Service"])


def test_a_wrong_card_pin_ends_the_witness_with_a_status_its_unit_does_not_restart(softhsm, witness_card) -> None:
    """Under docs/systemd/voting-witness.service (Restart=on-failure, RestartSec=5s)
    a wrong VOTING_PIN must be tried once, not every 5 s until the card locks."""
    service = _witness_unit()
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"].split() == [str(EX_CONFIG)]
    args = ("witness", "run", "--state", witness_card, "--server", "http://127.0.0.1:9", "-e", ELECTION)  # as the unit runs it

    output = refused(*args, env={"VOTING_PIN": "000000"}, code=EX_CONFIG)
    assert "wrong PIN for card 'witness-card'" in output and len(output.strip().splitlines()) == 1
    flags = softhsm.pin_flags("witness-card")
    assert flags & TokenFlag.USER_PIN_COUNT_LOW and not flags & (TokenFlag.USER_PIN_FINAL_TRY | TokenFlag.USER_PIN_LOCKED)

    # No VOTING_PIN and no terminal (a service): one line, nothing sent to the card.
    output = refused(*args, env={"VOTING_PIN": None}, input="", code=EX_CONFIG)
    assert "no PIN for card 'witness-card': set VOTING_PIN" in output

    # The card is not in the reader: EX_TEMPFAIL, restarted until it is back; no PIN is sent.
    doc = json.loads(witness_card.read_text(encoding="utf-8"))
    doc["card"]["token"] = "not-inserted"
    witness_card.write_text(json.dumps(doc), encoding="utf-8")
    output = refused(*args, env={"VOTING_PIN": PIN}, code=EX_TEMPFAIL)
    assert "no card 'not-inserted'" in output and "insert it" in output

    # A state file that cannot be used is a configuration error too.
    witness_card.write_text("{", encoding="utf-8")
    assert "not JSON" in refused(*args, env={"VOTING_PIN": PIN}, code=EX_CONFIG)
    assert "is not an election id" in refused(*args[:-1], "../x", env={"VOTING_PIN": PIN}, code=EX_CONFIG)


def test_a_witness_whose_card_stops_signing_exits_so_that_a_restart_opens_it_again(pilot: Pilot, softhsm, witness_card, monkeypatch) -> None:
    doc = manifest(ELECTION)
    doc["witnesses"] = {"quorum": 1, "members": [w.load_state(witness_card).member()]}
    pilot.create(doc, ["E0001"])

    def pulled_out(self, message: bytes) -> bytes:
        raise card_module.CardAbsentError(f"card {self.token_label!r} was removed or its session closed; insert it and run the command again")

    monkeypatch.setattr(card_module.CardKey, "sign_jws", pulled_out)
    result = CliRunner().invoke(
        main, ["witness", "run", "--state", str(witness_card), "--server", pilot.url, "-e", ELECTION, "--interval", "0.1"],
        env={"VOTING_PIN": PIN},
    )
    assert result.exit_code == EX_TEMPFAIL, result.output
    assert result.output.count("the card did not sign") == w.SIGNER_GONE_ROUNDS == 3
    assert "the card has not signed for 3 rounds in a row" in result.output
    election = w.load_state(witness_card).elections.get(ELECTION)
    assert election is None or (election.cosigned is None and election.refused is None)  # nothing cosigned, no refusal
    assert _witness_unit()["Restart"] == "on-failure" and str(EX_TEMPFAIL) not in _witness_unit()["RestartPreventExitStatus"].split()

    # The restart: the card is back, opened afresh and checked against the pinned key; it cosigns.
    monkeypatch.undo()
    again = CliRunner().invoke(main, ["witness", "run", "--once", "--state", str(witness_card), "--server", pilot.url, "-e", ELECTION], env={"VOTING_PIN": PIN})
    assert again.exit_code == 0, again.output
    assert "cosigned head" in again.output
    cosigned = w.load_state(witness_card).elections[ELECTION].cosigned
    verify_cosignature(cosigned.tree_head.head, cosigned.cosignature)


class _ScriptedRunner:
    """Rounds with scripted outcomes; stops the loop when the script ends."""

    def __init__(self, script: list[w.Outcome], stop: threading.Event) -> None:
        self.script, self.stop, self.rounds = list(script), stop, 0

    def round(self, ids: list[str]) -> dict[str, w.Outcome]:
        self.rounds += 1
        if len(self.script) == 1:
            self.stop.set()
        return {i: self.script.pop(0) for i in ids}


def test_only_rounds_in_a_row_in_which_the_card_failed_end_the_witness() -> None:
    failed = w.Outcome("unavailable", "the card did not sign", signer_failed=True)
    server_down = w.Outcome("unavailable", "cannot reach the server")
    current, cosigned = w.Outcome("current", "nothing new"), w.Outcome("cosigned", "cosigned")

    def rounds(script: list[w.Outcome], limit: int | None = 3) -> int:
        stop = threading.Event()
        runner = _ScriptedRunner(script, stop)
        w.run_rounds(runner, ["e"], interval=0, stop=stop, signer_gone_rounds=limit)  # type: ignore[arg-type]
        return runner.rounds

    # A round that cosigns resets the count; nothing to sign, or the server down, leaves it.
    assert rounds([failed, failed, cosigned, failed, current, server_down, failed, current]) == 8
    with pytest.raises(w.SignerGone, match="3 rounds in a row"):
        rounds([failed, current, failed, server_down, failed, cosigned])
    assert rounds([failed] * 5, limit=None) == 5  # a witness in the demo's process never gives up
    stop = threading.Event()
    assert w.run_rounds(_ScriptedRunner([failed] * 5, stop), ["e"], interval=0, stop=stop, once=True, signer_gone_rounds=1)["e"] == failed  # type: ignore[arg-type]


# --- the PIN goes only where it is meant to --------------------------------------------------------


def test_card_list_login_refuses_two_cards_with_one_label_before_any_pin(softhsm) -> None:
    """OpenSC labels every My Number card 'JPKI': with two in the readers, the
    holder's PIN (right for one) must not be tried on the other (3 tries)."""
    for pin in ("1111", "2222"):
        softhsm._run("softhsm2-util", "--init-token", "--free", "--label", "JPKI", "--pin", pin, "--so-pin", SO_PIN)
    env = {"VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": None}

    def pin_states() -> list[tuple[bool, bool, bool]]:
        return [(c["pin_count_low"], c["pin_final_try"], c["pin_locked"]) for c in list_cards(softhsm.module)]

    assert pin_states() == [(False, False, False)] * 2
    output = refused("card", "list", "--login", "--card-token", "JPKI", "--pin", "1111", env=env)
    assert "several cards are labelled 'JPKI' (serial numbers " in output and "no PIN was sent to any" in output
    assert len(output.strip().splitlines()) == 1
    output = refused("card", "list", "--login", "--card-token", "JPKI", input="1111\n", env=env)
    assert "several cards are labelled 'JPKI'" in output and "PIN of the card" not in output  # not even asked
    assert pin_states() == [(False, False, False)] * 2
    # Without a PIN both are listed: nothing is sent to either.
    assert [c["token"] for c in json.loads(run("card", "list", "--json", env=env).stdout)] == ["JPKI", "JPKI"]


def test_the_pin_of_a_credential_file_in_the_environment_never_goes_to_a_card(softhsm, pki, tmp_path) -> None:
    """VOTING_CREDENTIAL and VOTING_PIN (the file's PIN) in the shell, a card chosen
    with --pkcs11-module on the command line: the card wins, and its PIN is asked
    for (or --pin typed), never VOTING_PIN tried on the card."""
    choice = card_for(pki, softhsm, "E0001", "p256")
    credential = tmp_path / "E0001.credential.json"
    credential.write_text("{}", encoding="utf-8")
    file_env = {"VOTING_CREDENTIAL": str(credential), "VOTING_PIN": "135790", "VOTING_PKCS11_MODULE": None}
    args = ("vote", ELECTION, "--pkcs11-module", softhsm.module, "--card-token", choice.token, "--server", "http://127.0.0.1:9")

    output = refused(*args, input=f"{PIN}\n", env=file_env)
    assert f"PIN of the card '{choice.token}'" in output and "cannot reach" in output  # the card opened; then the server
    output = refused(*args, "--pin", PIN, env=file_env)  # typed: the card's
    assert "PIN of the card" not in output and "cannot reach" in output
    assert not softhsm.pin_flags(choice.token) & TokenFlag.USER_PIN_COUNT_LOW  # no try spent on the file's PIN
    # The same for 'voting card enroll', which takes a card or a credential file.
    output = refused("card", "enroll", "--code", "ABCD-EFGH-JKMN", "--employee-id", "E0001", "--pkcs11-module", softhsm.module,
                     "--card-token", choice.token, "--server", "http://127.0.0.1:9", input=f"{PIN}\n", env=file_env)
    assert "PIN of the card" in output and "cannot reach" in output
    assert not softhsm.pin_flags(choice.token) & TokenFlag.USER_PIN_COUNT_LOW

    # With no credential file in the environment VOTING_PIN is the card's (10.6), tried as it is.
    output = refused(*args, env={"VOTING_CREDENTIAL": None, "VOTING_PIN": PIN, "VOTING_PKCS11_MODULE": None})
    assert "PIN of the card" not in output and "cannot reach" in output
    assert "wrong PIN" in refused(*args, env={"VOTING_CREDENTIAL": None, "VOTING_PIN": "135790", "VOTING_PKCS11_MODULE": None})
    assert softhsm.pin_flags(choice.token) & TokenFlag.USER_PIN_COUNT_LOW


# --- store-certificate and another issuer's certificate for the key -----------------------------------


def _logon_certificate(issuing: ca.Authority, public_key, now: datetime) -> x509.Certificate:
    """A certificate of the city's other CA for the card's key (Windows smart-card logon): no pilot employee id."""
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yamada@city.example")]))
        .issuer_name(issuing.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3000))  # outlives the pilot's certificate
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing.key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SMARTCARD_LOGON]), critical=False)
        .sign(issuing.key, hashes.SHA256())
    )


def test_store_certificate_keeps_another_issuers_certificate_for_the_key_unless_replace(softhsm, pki, tmp_path) -> None:
    softhsm.init_token("staff")
    public_key = softhsm.keypair("staff", "auth", "p256", "01")
    now = datetime.now(UTC)
    other_root = ca.create_root_ca("City Windows Logon Root", now=now)
    other_issuing = ca.create_issuing_ca(other_root, "City Windows Logon CA", now=now)
    logon = _logon_certificate(other_issuing, public_key, now)
    softhsm.put_certificate("staff", "01", "logon", logon)
    softhsm.put_certificate("staff", "ca02", "logon-ca", other_issuing.certificate)  # the card holds its CA too
    env = {"VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": PIN}

    def store(certificate: x509.Certificate, *options: str) -> str:
        pem = tmp_path / "E0001.certificate.pem"
        pem.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (certificate, pki.issuing.certificate)))
        return run("card", "store-certificate", pem, "--card-key", "auth", *options, env=env).output

    def for_the_key() -> list[str]:
        return sorted(c["issuer"] for c in list_cards(softhsm.module)[0]["certificates"] if c["id"] == "01")

    first = ca.issue_employee_certificate(pki.issuing, public_key, employee_id="E0001", name="山田 太郎", now=now)
    output = store(first)
    assert "Kept the key's certificate from another issuer (CN=City Windows Logon CA" in output and "--replace would remove it" in output
    assert "employee id E0001" in output  # the check that follows opened the card with the pilot's certificate
    assert for_the_key() == sorted([logon.issuer.rfc4514_string(), first.issuer.rfc4514_string()])
    with open_card(softhsm.choice("staff", "auth"), PIN) as opened:
        assert opened.certificate == first and opened.chain == (first, pki.issuing.certificate)

    # A renewal by the pilot CA replaces its older certificate by itself; the other issuer's stays.
    renewed = ca.issue_employee_certificate(pki.issuing, public_key, employee_id="E0001", name="山田 太郎", now=now + timedelta(seconds=1))
    assert "Kept the key's certificate from another issuer" in store(renewed)
    assert for_the_key() == sorted([logon.issuer.rfc4514_string(), renewed.issuer.rfc4514_string()])
    with open_card(softhsm.choice("staff", "auth"), PIN) as opened:
        assert opened.certificate == renewed

    # --replace removes it, and says so.
    output = store(renewed, "--replace")
    assert "Removed the key's certificate from another issuer (CN=City Windows Logon CA" in output
    assert for_the_key() == [renewed.issuer.rfc4514_string()]


def test_store_certificate_says_so_when_the_clients_would_choose_the_other_certificate(softhsm, pki, tmp_path) -> None:
    """The key's certificate from another CA that looks like the pilot's (it names
    the employee the pilot's way, its CA is on the card, it lasts longer): the
    check after storing sees that the clients would open the card with it."""
    softhsm.init_token("staff")
    public_key = softhsm.keypair("staff", "auth", "p256", "01")
    now = datetime.now(UTC)
    other_root = ca.create_root_ca("Other Root", now=now)
    other_issuing = ca.create_issuing_ca(other_root, "Other CA", now=now)
    softhsm.put_certificate("staff", "01", "other", ca.issue_employee_certificate(other_issuing, public_key, employee_id="E0001", name="x", now=now, days=3000))
    softhsm.put_certificate("staff", "ca02", "other-ca", other_issuing.certificate)
    ours = ca.issue_employee_certificate(pki.issuing, public_key, employee_id="E0001", name="x", now=now)
    pem = tmp_path / "E0001.certificate.pem"
    pem.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (ours, pki.issuing.certificate)))
    env = {"VOTING_PKCS11_MODULE": softhsm.module, "VOTING_PIN": PIN}
    output = refused("card", "store-certificate", pem, env=env)
    assert "stored, but the clients choose the key's other certificate (CN=Other CA" in output and "--card-chain" in output
    chain = tmp_path / "issuing.pem"
    chain.write_bytes(pki.issuing.certificate.public_bytes(serialization.Encoding.PEM))
    assert "employee id E0001" in run("card", "store-certificate", pem, "--card-chain", chain, env=env).output
    with open_card(softhsm.choice("staff", "auth"), PIN, chain_file=chain) as opened:
        assert opened.certificate == ours
