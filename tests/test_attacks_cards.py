"""Attacks on keys on cards (voting/card.py, voting card ..., voting ca issue
--csr, voting card enroll): what someone who can write a card's public objects
without its PIN, a card provisioner who kept a copy of the key, a holder who
sends the CA a CSR for a key already certified for someone else, a hostile
CSR, or a malicious server stand-in (tests/mitm_support.py) in front of the
real server can make the clients and the CA do. Real SoftHSM2 tokens; the
stand-in test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass

from crypto import ca
from crypto import credentials as cr
from tests.card_support import PIN, SoftHsm, card_for
from tests.http_support import Pilot
from tests.mitm_support import Mitm
from tests.support import Pki
from voting import card
from voting import pki as pilot_ca
from voting.card import CardError
from voting.cli import main


@pytest.fixture
def hsm(tmp_path):
    softhsm = SoftHsm(tmp_path / "softhsm")
    yield softhsm
    softhsm.close()


def invoke(*args: object, input: str | None = None, env: dict | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input, env=env)


def one_line_refusal(result: Result) -> str:
    """Exit status 1, one line, no uncaught exception."""
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    return result.output


# --- certificate objects written on the card without its PIN ----------------------------------------


def plant_without_pin(hsm: SoftHsm, token: str, der: bytes, key_id: bytes, label: str) -> None:
    """A public certificate object written in a read-write *public* session: no
    PIN (SoftHSM, like many tokens, allows it)."""
    with hsm.token_object(token).open(rw=True) as session:
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.ID: key_id, Attribute.LABEL: label,
                Attribute.SUBJECT: b"\x30\x00", Attribute.VALUE: der,
            }
        )


def certificate(public_key, subject: str, issuer: x509.Name | None = None, signer=None, *, days: int, san: str | None = None) -> x509.Certificate:
    """A certificate for ``public_key``: self-issued (signed by a throwaway key) unless ``issuer``/``signer`` are given."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(public_key)
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), critical=False)
    return builder.sign(signer or ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())


def unreadable_der() -> bytes:
    """A certificate whose subject and issuer are not UTF-8 (an invalid UTF8String)."""
    der = certificate(ec.generate_private_key(ec.SECP256R1()).public_key(), "QQQQ", days=30).public_bytes(serialization.Encoding.DER)
    return der.replace(b"QQQQ", b"\xff\xfe\xfd\xfc")


def test_a_certificate_planted_for_the_cards_key_does_not_become_its_leaf(hsm, pki: Pki, tmp_path) -> None:
    choice = card_for(pki, hsm, "E0001", "p256")
    with card.open_card(choice, PIN) as opened:
        issued, public_key = opened.certificate, opened.private_key.public_key()

    # A self-signed certificate for the card's own key, valid far longer.
    plant_without_pin(hsm, choice.token, certificate(public_key, "planted", days=9000).public_bytes(serialization.Encoding.DER), b"\x01", "planted")
    with card.open_card(choice, PIN) as opened:
        assert opened.certificate == issued and opened.chain == (issued, pki.issuing.certificate)
        assert cr.employee_id_of(opened.certificate) == "E0001"

    # A whole planted chain: a CA certificate and a leaf it issued for the key, naming the employee,
    # valid longer. --card-chain (the issuing CA's certificate as 'voting ca issue --csr' hands it out)
    # decides; without it, the login with a planted chain fails at the server (its trust anchor):
    # whoever can write the card's objects could also delete its certificate, so that is no worse.
    fake_ca_key = ec.generate_private_key(ec.SECP256R1())
    fake_ca = certificate(fake_ca_key.public_key(), "Test City Issuing CA", signer=fake_ca_key, days=9000)
    fake_leaf = certificate(public_key, "職員 E0001", fake_ca.subject, fake_ca_key, days=8000, san=f"{cr.EMPLOYEE_URI_PREFIX}E0001")
    plant_without_pin(hsm, choice.token, fake_ca.public_bytes(serialization.Encoding.DER), b"\xca\xfe", "issuing-ca")
    plant_without_pin(hsm, choice.token, fake_leaf.public_bytes(serialization.Encoding.DER), b"\x01", "auth")
    chain_file = tmp_path / "issuing.pem"
    chain_file.write_text(cr.certificate_to_pem(pki.issuing.certificate))
    with card.open_card(choice, PIN, chain_file=chain_file) as opened:
        assert opened.certificate == issued and opened.chain == (issued, pki.issuing.certificate)


def test_an_unreadable_certificate_object_is_skipped_and_listed_as_unreadable(hsm, pki: Pki, tmp_path) -> None:
    choice = card_for(pki, hsm, "E0001", "p256")
    plant_without_pin(hsm, choice.token, unreadable_der(), b"\x77", "junk")
    plant_without_pin(hsm, choice.token, unreadable_der(), b"\x01", "junk-for-the-key")  # even under the key's own id
    with card.open_card(choice, PIN) as opened:  # the card's key and certificate are intact: it opens
        assert opened.employee_id == "E0001" and len(opened.chain) == 2

    listed = card.list_cards(hsm.module)[0]["certificates"]
    junk = [c for c in listed if c["unreadable"]]
    assert sorted(c["id"] for c in junk) == ["01", "77"]
    assert all("not a readable X.509 certificate" in c["unreadable"] and c["subject"] is None for c in junk)
    assert sorted(c["employee_id"] for c in listed if not c["unreadable"] and c["employee_id"]) == ["E0001"]

    shown = invoke("card", "list", "--pkcs11-module", hsm.module)
    assert shown.exit_code == 0, f"{shown.output}\n{shown.exception!r}"
    assert shown.output.count("unreadable") == 2 and "E0001" in shown.output

    # A --card-chain file whose certificate does not parse: one line.
    bad_chain = tmp_path / "issuing.pem"
    bad_chain.write_bytes(asn1_pem.armor("CERTIFICATE", unreadable_der()))
    with pytest.raises(CardError, match=r"certificate 1 of .*issuing.pem cannot be read .*--card-chain"):
        card.open_card(choice, PIN, chain_file=bad_chain)
    output = one_line_refusal(invoke(
        "vote", "survey", "--pkcs11-module", hsm.module, "--card-token", choice.token, "--card-chain", bad_chain, "--pin", PIN,
        "--server", "http://127.0.0.1:9",
    ))
    assert "cannot be read" in output


# --- a key that once left the card ------------------------------------------------------------------


def test_a_key_read_out_of_the_card_before_it_was_locked_is_refused(hsm, pki: Pki) -> None:
    """A provisioner generates the key readable, reads it out, then sets it
    sensitive and not extractable: it now looks like a card key, but its copy
    signs as the employee and computes the card secret (every election's voting
    credential). The token tells: CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false."""
    hsm.init_token("c1")
    with hsm.token_object("c1").open(rw=True, user_pin=PIN) as session:
        _, private = session.generate_keypair(
            KeyType.RSA, 2048, id=b"\x01", label="auth", store=True,
            private_template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
        )
        number = lambda a: int.from_bytes(private[a], "big")  # noqa: E731
        n, e, d = number(Attribute.MODULUS), number(Attribute.PUBLIC_EXPONENT), number(Attribute.PRIVATE_EXPONENT)
        p, q = number(Attribute.PRIME_1), number(Attribute.PRIME_2)
        private[Attribute.SENSITIVE] = True
        private[Attribute.EXTRACTABLE] = False
    copy = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n)).private_key()
    issued = ca.issue_employee_certificate(pki.issuing, copy.public_key(), employee_id="E0001", name="職員", now=datetime.now(UTC))
    hsm.put_certificate("c1", "01", "auth", issued)

    # What the copy could do: the same card secret as the card.
    with hsm.unchecked_card_key("c1", "auth", copy.public_key()) as key:
        on_card = card._compute_secret(key, issued)
        assert card._protection(key._handle)["sensitive"] is True and card._protection(key._handle)["extractable"] is False
    outside = cr.card_secret("rsa-signature", copy.sign(cr.card_secret_message(issued), padding.PKCS1v15(), hashes.SHA256()))
    assert outside == on_card

    with pytest.raises(CardError, match="was not made on the card or could once be read out of it"):
        card.open_card(hsm.choice("c1", "auth"), PIN)
    output = one_line_refusal(invoke("card", "csr", "--out", hsm.directory / "x.csr", "--pkcs11-module", hsm.module, "--pin", PIN))
    assert "CKA_ALWAYS_SENSITIVE or CKA_NEVER_EXTRACTABLE" in output


# --- the CA and certificate requests ---------------------------------------------------------------


def software_csr(key, common_name: str = "card") -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def test_the_ca_certifies_one_key_for_one_employee_only(tmp_path) -> None:
    """A CSR proves possession of a key, bound to no employee: replayed, it would
    get one card certified for two employees (one card logging in as both, with
    one card secret between them)."""
    data = tmp_path / "data"
    assert invoke("ca", "init", "--data-dir", data).exit_code == 0
    key = ec.generate_private_key(ec.SECP256R1())
    csr = tmp_path / "card.csr"
    csr.write_bytes(software_csr(key))
    first = invoke("ca", "issue", "--csr", csr, "--employee-id", "E0001", "--name", "A", "--data-dir", data)
    assert first.exit_code == 0, first.output

    output = one_line_refusal(invoke("ca", "issue", "--csr", csr, "--employee-id", "E0002", "--name", "B", "--data-dir", data))
    assert "already holds a valid certificate for employee E0001" in output and "voting ca revoke E0001" in output
    # The same for a new request for the same key (another subject), and with --replace (that is for E0002's own).
    again = tmp_path / "again.csr"
    again.write_bytes(software_csr(key, "someone else"))
    assert "for employee E0001" in one_line_refusal(invoke("ca", "issue", "--csr", again, "--employee-id", "E0002", "--name", "B", "--replace", "--data-dir", data))
    registry = pilot_ca.load(data / "ca").registry
    assert [(c.employee_id, c.active) for c in registry.certificates] == [("E0001", True)]
    assert not (data / "credentials" / "E0002.certificate.pem").exists()

    # The card passes to E0002: revoke E0001's certificate first, then it is certified for E0002.
    assert invoke("ca", "revoke", "E0001", "--data-dir", data).exit_code == 0
    second = invoke("ca", "issue", "--csr", csr, "--employee-id", "E0002", "--name", "B", "--data-dir", data)
    assert second.exit_code == 0, second.output
    # Another key for E0001 is no problem; the same key for E0002 again is the --replace rule.
    other = tmp_path / "other.csr"
    other.write_bytes(software_csr(ec.generate_private_key(ec.SECP256R1())))
    assert invoke("ca", "issue", "--csr", other, "--employee-id", "E0001", "--name", "A", "--data-dir", data).exit_code == 0
    assert "already holds a valid certificate; revoke it first, or issue with --replace" in one_line_refusal(
        invoke("ca", "issue", "--csr", csr, "--employee-id", "E0002", "--name", "B", "--data-dir", data)
    )
    assert invoke("ca", "issue", "--csr", csr, "--employee-id", "E0002", "--name", "B", "--replace", "--data-dir", data).exit_code == 0
    # An expired certificate for the key does not hold it.
    pilot = pilot_ca.load(data / "ca")
    stale = pilot_ca.key_certified_for_another(pilot, key.public_key(), "E0003", now=datetime.now(UTC) + timedelta(days=3650))
    assert stale is None
    assert pilot_ca.key_certified_for_another(pilot, key.public_key(), "E0003", now=datetime.now(UTC)).employee_id == "E0002"


def hostile_csr() -> bytes:
    """A request whose signature verifies but whose subject is not UTF-8."""
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = asn1_csr.CertificationRequestInfo(
        {"version": "v1", "subject": asn1_x509.Name.build({"common_name": "QQQQ"}), "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki), "attributes": []}
    )
    der_info = info.dump().replace(b"QQQQ", b"\xff\xfe\xfd\xfc")
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": asn1_csr.CertificationRequestInfo.load(der_info),
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": key.sign(der_info, ec.ECDSA(hashes.SHA256())),
        }
    )
    return asn1_pem.armor("CERTIFICATE REQUEST", request.dump())


def test_a_csr_whose_subject_does_not_parse_is_one_line(tmp_path) -> None:
    data = tmp_path / "data"
    assert invoke("ca", "init", "--data-dir", data).exit_code == 0
    csr = tmp_path / "hostile.csr"
    csr.write_bytes(hostile_csr())
    output = one_line_refusal(invoke("ca", "issue", "--csr", csr, "--employee-id", "E0001", "--data-dir", data))
    assert "the request's subject cannot be read" in output and "--name NAME" in output
    assert pilot_ca.load(data / "ca").registry.certificates == []


# --- card enrollment against a malicious server ------------------------------------------------------


@pytest.mark.parametrize("nonce", ["short", "!" * 40, 12345678901234567890])
def test_a_malformed_challenge_from_the_server_is_one_line_and_nothing_is_signed(pilot: Pilot, front: Mitm, hsm, pki: Pki, monkeypatch, nonce) -> None:
    choice = card_for(pki, hsm, "E0001", "p256")
    signed: list[bytes] = []
    real = card.CardKey.sign_jws
    monkeypatch.setattr(card.CardKey, "sign_jws", lambda self, message: signed.append(message) or real(self, message))
    front.on_response = lambda request, reply: (
        reply.with_json({**reply.json(), "nonce": nonce}) if request.path == "/api/auth/challenge" else reply
    )
    code = pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0001"})["code"]
    output = one_line_refusal(invoke(
        "card", "enroll", "--code", code, "--employee-id", "E0001", "--pkcs11-module", hsm.module,
        "--card-token", choice.token, "--card-key", choice.key, "--pin", PIN, "--server", front.url,
    ))
    assert "the server's challenge is malformed; nothing was signed" in output
    assert signed == [] and not any(r.path == "/api/enroll" for r in front.requests)
    assert pilot.admin.get("/api/admin/enrollments")["enrollments"] == []
