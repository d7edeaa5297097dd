"""Keys on a card (voting/card.py) with real SoftHSM2 tokens: signatures of
each key type, the card secret, keys that cannot be read, PIN and choice
errors, certificate requests made on the card, and login with a card; plus the
token-key dispatch of crypto/credentials and the card-secret vectors
(tests/vectors/card_secret.json)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from crypto import ca
from crypto import credentials as cr
from crypto.errors import CredentialError
from tests.card_support import PIN, SoftHsm, card_for, require_softhsm
from tests.support import Pki, make_pki
from tests.vectors import gen_card_secret
from voting import card
from voting.card import CardChoice, CardError

VECTORS = Path(__file__).parent / "vectors" / "card_secret.json"
KINDS = ("rsa2048", "p256", "ed25519")
ALG = {"rsa2048": "RS256", "p256": "ES256", "ed25519": "EdDSA"}
MESSAGE = "投票 / a message to sign".encode()


@pytest.fixture
def hsm(tmp_path):
    softhsm = SoftHsm(tmp_path / "softhsm")
    yield softhsm
    softhsm.close()


@pytest.fixture
def pki(tmp_path) -> Pki:
    return make_pki(tmp_path / "pki")


def _crls(pki: Pki) -> list[x509.CertificateRevocationList]:
    text = (pki.ca_dir / "crl.pem").read_text()
    return [cr.crl_from_pem(block + "-----END X509 CRL-----\n") for block in text.split("-----END X509 CRL-----")[:-1]]


# --- the token-key dispatch (no token needed) ----------------------------------------------


class _SoftwareTokenKey:
    """A TokenKey over a cryptography key, optionally corrupting its signatures."""

    def __init__(self, key, corrupt: bool = False) -> None:
        self.key, self.corrupt, self.calls = key, corrupt, 0

    def public_key(self):
        return self.key.public_key()

    def sign_jws(self, message: bytes) -> bytes:
        self.calls += 1
        signature = cr._sign(self.key, message)
        return bytes([signature[0] ^ 1]) + signature[1:] if self.corrupt else signature


@pytest.mark.parametrize("key_type", ["P-256", "RSA-2048", "Ed25519"])
def test_sign_dispatches_to_a_token_key(key_type):
    token_key = _SoftwareTokenKey(ca.generate_key(key_type))
    assert isinstance(token_key, cr.TokenKey)
    assert cr.algorithm_for_key(token_key) == {"P-256": "ES256", "RSA-2048": "RS256", "Ed25519": "EdDSA"}[key_type]
    signature = cr._sign(token_key, MESSAGE)
    assert token_key.calls == 1
    assert cr._signature_valid(token_key.public_key(), signature, MESSAGE)


def test_a_token_signature_that_does_not_verify_is_never_returned():
    """A faulty token (e.g. a wrong RSA-CRT half, which would reveal the key)
    must not get its signature into a login token or onto the board."""
    token_key = _SoftwareTokenKey(ca.generate_key("RSA-2048"), corrupt=True)
    with pytest.raises(CredentialError, match="does not verify with its public key"):
        cr._sign(token_key, MESSAGE)
    with pytest.raises(CredentialError, match="faulty"):
        cr.sign_registration(token_key, election_id="e1", credential_pub=bytes(32))


def test_a_card_signature_that_does_not_verify_is_never_returned(hsm, pki, monkeypatch):
    with card.open_card(card_for(pki, hsm, "E0001", "rsa2048"), PIN) as credential:
        key = credential.private_key
        good = key.sign_jws(MESSAGE)
        monkeypatch.setattr(key, "_token_sign", lambda data, mechanism: bytes([good[0] ^ 1]) + good[1:])
        with pytest.raises(CardError, match="does not verify .*faulty"):
            key.sign_jws(MESSAGE)


def test_a_weak_token_key_is_refused_before_it_signs():
    from cryptography.hazmat.primitives.asymmetric import rsa

    token_key = _SoftwareTokenKey(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(cr.WeakKeyError):
        cr._sign(token_key, MESSAGE)
    assert token_key.calls == 0


# --- the card secret: point, message, vectors ------------------------------------------------


def test_checked_in_vectors_equal_generator_output():
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == gen_card_secret.generate()["card_secret.json"]


def test_card_secret_point_follows_its_written_rule():
    """Re-derived here from the byte layout in docs/parts/credentials.md, not
    through encode_parts, so a change of either is caught."""
    tag = b"votingpilot/v1/card-secret-point"
    for counter in range(256):
        counter_bytes = counter.to_bytes(4, "big")
        layout = b"T" + len(tag).to_bytes(4, "big") + tag + b"B" + (4).to_bytes(4, "big") + counter_bytes
        x = hashlib.sha256(layout).digest()
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x02" + x)
        except ValueError:
            continue
        break
    expected = point.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert cr.card_secret_point() == expected
    assert len(expected) == 65 and expected[0] == 4 and expected[64] % 2 == 0
    generator = ec.derive_private_key(1, ec.SECP256R1()).public_key()
    assert expected != generator.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def test_card_secret_layout_and_domain_separation():
    value = bytes(range(32))
    tag, kind = b"votingpilot/v1/card-secret", b"ecdh"
    layout = b"T" + len(tag).to_bytes(4, "big") + tag + b"T" + len(kind).to_bytes(4, "big") + kind + b"B" + (32).to_bytes(4, "big") + value
    assert cr.card_secret("ecdh", value) == hashlib.sha256(layout).digest()
    assert len({cr.card_secret(k, value) for k in cr.CARD_SECRET_KINDS}) == 3
    with pytest.raises(ValueError):
        cr.card_secret("hmac", value)
    with pytest.raises(ValueError):
        cr.card_secret("ecdh", value + b"\0")
    # the secret of a file credential and of a card never share an encoding
    assert cr.card_secret("rsa-signature", value) != cr.credential_secret(value)


def test_card_secret_message_names_the_key(pki):
    first, second = pki.enroll("E0001"), pki.enroll("E0002")
    spki = first.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(spki).digest()
    tag = b"votingpilot/v1/card-secret-message"
    assert cr.card_secret_message(first.certificate) == (
        b"T" + len(tag).to_bytes(4, "big") + tag + b"B" + (32).to_bytes(4, "big") + digest
    )
    assert cr.card_secret_message(first.certificate) != cr.card_secret_message(second.certificate)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_card_computes_the_vector_secret(hsm, index):
    """The vector's published test key imported into a token: the value the
    token computes (RSA PKCS#1 v1.5 or Ed25519 signature, or ECDH x) and the
    secret are the vector's bytes. A published key must never serve as a card
    (open_card refuses an imported key), so the values are computed with the
    card code's key class on a raw session of the token."""
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    case = doc["cases"][index]
    from tests.vectors.gen_credentials import _Pki

    private_key = _Pki().keys[case["label"]]
    certificate = cr.certificates_from_pem(case["certificate"])[0]
    token = hsm.init_token(f"vector-{case['label']}")
    hsm.import_key(token, "auth", "01", private_key)
    hsm.put_certificate(token, "01", "auth", certificate)
    with pytest.raises(CardError, match="was not made on the card"):
        card.open_card(hsm.choice(token, "auth"), PIN)
    with hsm.unchecked_card_key(token, "auth", certificate.public_key()) as key:
        assert key.algorithm == ALG[{"rsa-signature": "rsa2048", "ecdh": "p256", "eddsa-signature": "ed25519"}[case["kind"]]]
        message = bytes.fromhex(case["message"])
        assert message == cr.card_secret_message(certificate)
        if case["kind"] == "ecdh":
            assert key.ecdh_x(cr.card_secret_point()) == bytes.fromhex(case["value"])
        else:
            assert key.sign_jws(message) == bytes.fromhex(case["value"])
        secret = card._compute_secret(key, certificate)
    assert secret == bytes.fromhex(case["secret"])
    for election, expected in case["voting_credentials"].items():
        assert cr.VotingCredential.derive(secret, election).hex == expected


# --- signing on the card ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_card_signatures_verify(hsm, pki, kind):
    with card.open_card(card_for(pki, hsm, "E0001", kind), PIN) as credential:
        key = credential.private_key
        assert isinstance(key, cr.TokenKey) and key.algorithm == ALG[kind]
        assert cr.algorithm_for_key(key) == ALG[kind]
        public = credential.certificate.public_key()
        signature = key.sign_jws(MESSAGE)
        assert cr._signature_valid(public, signature, MESSAGE)
        assert not cr._signature_valid(public, signature, MESSAGE + b".")
        assert cr._signature_valid(public, cr._sign(key, MESSAGE), MESSAGE)
        # the X.509 form, as cryptography checks certificates and CSRs
        der = key.sign_der(MESSAGE)
        if kind == "rsa2048":
            public.verify(der, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
        elif kind == "p256":
            assert der[0] == 0x30
            public.verify(der, MESSAGE, ec.ECDSA(hashes.SHA256()))
        else:
            public.verify(der, MESSAGE)


@pytest.mark.parametrize("kind", KINDS)
def test_login_token_made_with_a_card_verifies(hsm, pki, kind):
    with card.open_card(card_for(pki, hsm, "E0007", kind, name="山田 花子"), PIN) as credential:
        assert credential.employee_id == "E0007" and credential.name == "山田 花子"
        assert credential.chain == (credential.certificate, pki.issuing.certificate)
        registry = cr.MemoryNonceRegistry()
        now = datetime.now(UTC)
        nonce = registry.issue(now)
        token = cr.make_login_token(credential.private_key, credential.chain, nonce=nonce, audience="https://vote.example", now=now)
        verified = cr.verify_login_token(
            token,
            trust_store=cr.TrustStore((pki.root.certificate,)),
            crls=_crls(pki),
            audience="https://vote.example",
            now=now,
            consume_nonce=registry.consumer(now),
        )
        assert verified.employee_id == "E0007"
        assert verified.fingerprint == cr.certificate_fingerprint(credential.certificate)


@pytest.mark.parametrize("kind", ["rsa2048", "p256"])
def test_registration_and_endorsement_signed_on_a_card_verify(hsm, pki, kind):
    with card.open_card(card_for(pki, hsm, "T0001", kind), PIN) as credential:
        voting = credential.voting_credential("e-2026")
        signature = cr.sign_registration(credential.private_key, election_id="e-2026", credential_pub=voting.public_bytes)
        cr.verify_registration(credential.certificate, signature, election_id="e-2026", credential_pub=voting.public_bytes)
        joint_key, fingerprint = hashlib.sha256(b"k").digest(), hashlib.sha256(b"f").digest()
        doc = cr.sign_endorsement(credential, election_id="e-2026", joint_key=joint_key, fingerprint=fingerprint)
        endorsement = cr.verify_endorsement(
            doc, election_id="e-2026", joint_key=joint_key, fingerprint=fingerprint, employee_id="T0001",
            trust_store=cr.TrustStore((pki.root.certificate,)), now=datetime.now(UTC),
        )
        assert endorsement.employee_id == "T0001"


# --- the card secret on cards ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_card_secret_is_the_same_every_session_and_differs_between_cards(hsm, pki, kind):
    first, second = card_for(pki, hsm, "E0001", kind), card_for(pki, hsm, "E0002", kind)
    with card.open_card(first, PIN) as credential:
        secret = credential.secret
        voting = credential.voting_credential("e-2026").hex
        assert credential.voting_credential("e-2027").hex != voting
    with card.open_card(first, PIN) as again, card.open_card(second, PIN) as other:
        assert again.secret == secret
        assert again.voting_credential("e-2026").hex == voting
        assert other.secret != secret
        assert other.voting_credential("e-2026").hex != voting
    # the value is the token's own: the same key's signature (or ECDH) decides it
    expected_kind = {"rsa2048": "rsa-signature", "p256": "ecdh", "ed25519": "eddsa-signature"}[kind]
    with card.open_card(first, PIN) as credential:
        key = credential.private_key
        value = key.ecdh_x(cr.card_secret_point()) if kind == "p256" else key.sign_jws(cr.card_secret_message(credential.certificate))
        assert cr.card_secret(expected_kind, value) == secret


def test_ecdh_on_a_card_gives_the_shared_x_coordinate(hsm, pki):
    with card.open_card(card_for(pki, hsm, "E0001", "p256"), PIN) as credential:
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        point = ephemeral.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        assert credential.private_key.ecdh_x(point) == ephemeral.exchange(ec.ECDH(), credential.certificate.public_key())


def test_a_card_whose_signatures_change_cannot_make_a_secret(hsm, pki, monkeypatch):
    with card.open_card(card_for(pki, hsm, "E0001", "rsa2048"), PIN) as credential:
        answers = iter([credential.private_key.sign_jws(b"one"), credential.private_key.sign_jws(b"two")])
        messages = []
        real = cr._sign

        def varying(key, message):
            messages.append(message)
            return next(answers)

        monkeypatch.setattr(card, "_sign", varying)
        with pytest.raises(CardError, match="differently each time"):
            _ = credential.secret
        assert messages == [cr.card_secret_message(credential.certificate)] * 2
        monkeypatch.setattr(card, "_sign", real)


# --- the key never leaves the card ------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_private_keys_made_on_the_card_are_not_extractable(hsm, pki, kind):
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    choice = card_for(pki, hsm, "E0001", kind)
    with card.open_card(choice, PIN) as credential:
        assert credential.private_key.protection == {
            "sensitive": True, "extractable": False, "always_sensitive": True, "never_extractable": True, "local": True,
        }
    lib = card._library(hsm.module)
    token = next(t for t in (s.get_token() for s in lib.get_slots(token_present=True)) if t.label == choice.token)
    with token.open(rw=True, user_pin=PIN) as session:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="auth")
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        secret_attribute = Attribute.PRIVATE_EXPONENT if kind == "rsa2048" else Attribute.VALUE
        with pytest.raises(pkcs11.AttributeSensitive):
            private[secret_attribute]
        wrapping = session.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True, Attribute.EXTRACTABLE: False})
        with pytest.raises(pkcs11.PKCS11Error) as refused:
            wrapping.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        assert isinstance(refused.value, (pkcs11.KeyUnextractable, pkcs11.KeyNotWrappable))
        # nor can a copy be made extractable (CKA_EXTRACTABLE can only go from true to false)
        with pytest.raises(pkcs11.PKCS11Error):
            private.copy({Attribute.EXTRACTABLE: True, Attribute.TOKEN: False})


@pytest.mark.parametrize(("sensitive", "extractable"), [(True, True), (False, False)])
def test_a_key_that_can_leave_the_card_is_refused(hsm, pki, sensitive, extractable):
    token = hsm.init_token("imported")
    key = ca.generate_key("P-256")
    hsm.import_key(token, "auth", "01", key, sensitive=sensitive, extractable=extractable)
    certificate = ca.issue_employee_certificate(pki.issuing, key.public_key(), employee_id="E0001", name="x", now=datetime.now(UTC))
    hsm.put_certificate(token, "01", "auth", certificate)
    with pytest.raises(CardError, match="can be read out of the card") as refused:
        card.open_card(hsm.choice(token, "auth"), PIN)
    assert "\n" not in str(refused.value)
    with pytest.raises(CardError, match="can be read out"):
        card.open_key(hsm.choice(token, "auth"), PIN)


def test_an_imported_key_is_refused_with_one_clear_line(hsm, pki):
    """Sensitive and not extractable now, but imported: the token reports
    CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false, and whoever imported
    it may keep a copy (it would sign as the holder and compute the card
    secret, hence the holder's voting credential in every election)."""
    token = hsm.init_token("imported")
    key = ca.generate_key("P-256")
    hsm.import_key(token, "auth", "01", key)
    certificate = ca.issue_employee_certificate(pki.issuing, key.public_key(), employee_id="E0001", name="x", now=datetime.now(UTC))
    hsm.put_certificate(token, "01", "auth", certificate)
    with pytest.raises(CardError) as refused:
        card.open_card(hsm.choice(token, "auth"), PIN)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("key 'auth' (id:01) on card 'imported' was not made on the card or could once be read out")
    assert "CKA_ALWAYS_SENSITIVE or CKA_NEVER_EXTRACTABLE" in message and "use a key made on the card" in message
    with pytest.raises(CardError, match="was not made on the card"):
        card.open_key(hsm.choice(token, "auth"), PIN)
    with pytest.raises(CardError, match="was not made on the card"):
        card.store_certificate(hsm.choice(token, "auth"), PIN, certificate)
    # What the token reports for it, against a key made on the card.
    with hsm.unchecked_card_key(token, "auth", key.public_key()) as unchecked:
        assert card._protection(unchecked._handle) == {
            "sensitive": True, "extractable": False, "always_sensitive": False, "never_extractable": False, "local": False,
        }


def test_a_token_that_does_not_report_always_sensitive_is_refused():
    protection = {"sensitive": True, "extractable": False, "always_sensitive": None, "never_extractable": True, "local": True}
    with pytest.raises(CardError, match="was not made on the card"):
        card._check_protection(protection, "'auth' (id:01)", "t")
    card._check_protection({**protection, "always_sensitive": True}, "'auth' (id:01)", "t")


def test_a_key_that_wants_its_pin_at_every_signature_is_refused(hsm, pki):
    token = hsm.init_token("signing-key")
    key = ca.generate_key("RSA-2048")
    hsm.import_key(token, "sign", "02", key, always_authenticate=True)
    with pytest.raises(CardError, match="asks for its PIN at every signature.*authentication key"):
        card.open_key(hsm.choice(token, "sign"), PIN)


# --- PIN, token and key choice ------------------------------------------------------------------


def test_wrong_pin_is_one_clear_line_and_the_right_pin_still_works(hsm, pki):
    choice = card_for(pki, hsm, "E0001", "p256", token="staff-card")
    with pytest.raises(CardError) as wrong:
        card.open_card(choice, "000000")
    message = str(wrong.value)
    assert message.startswith("wrong PIN for card 'staff-card'") and "\n" not in message
    # SoftHSM reports CKF_USER_PIN_COUNT_LOW after a failure; the line says so
    assert "tries are left" in message or "one try is left" in message
    with card.open_card(choice, PIN) as credential:
        assert credential.employee_id == "E0001"


def test_pin_typed_with_full_width_digits_is_the_same_pin(hsm, pki):
    choice = card_for(pki, hsm, "E0001", "p256")
    with card.open_card(choice, "２４６８１０") as credential:
        assert credential.employee_id == "E0001"


def test_pin_is_asked_with_the_token_label_when_not_given(hsm, pki):
    choice = card_for(pki, hsm, "E0001", "p256", token="asked-card")
    asked = []
    with card.open_card(choice, None, ask_pin=lambda label: asked.append(label) or PIN) as credential:
        assert credential.employee_id == "E0001"
    assert asked == ["asked-card"]
    with pytest.raises(CardError, match="enter the PIN of card 'asked-card'"):
        card.open_card(choice, None)


def test_several_cards_without_a_label_are_listed(hsm, pki):
    card_for(pki, hsm, "E0001", "p256", token="card-b")
    card_for(pki, hsm, "E0002", "rsa2048", token="card-a")
    with pytest.raises(CardError) as several:
        card.open_card(CardChoice(hsm.module), PIN)
    assert str(several.value) == "several cards are present ('card-a', 'card-b'); choose one with --card-token LABEL"
    with card.open_card(CardChoice(hsm.module, "card-a"), PIN) as credential:
        assert credential.employee_id == "E0002"
    with pytest.raises(CardError, match=r"no card 'card-c' .*present: 'card-a', 'card-b'"):
        card.open_card(CardChoice(hsm.module, "card-c"), PIN)


def test_one_card_needs_no_label_and_keys_are_chosen_by_label_or_id(hsm, pki):
    card_for(pki, hsm, "E0001", "p256", token="only")
    hsm.keypair("only", "second", "rsa2048", "02")
    with pytest.raises(CardError) as several:
        card.open_card(CardChoice(hsm.module), PIN)
    assert "several keys" in str(several.value) and "'auth' (id:01)" in str(several.value) and "'second' (id:02)" in str(several.value)
    with card.open_card(CardChoice(hsm.module, None, "id:01"), PIN) as credential:
        assert credential.private_key.label == "auth" and credential.employee_id == "E0001"
    with pytest.raises(CardError, match="no key id:03 on card 'only'"):
        card.open_card(CardChoice(hsm.module, None, "id:03"), PIN)
    with pytest.raises(CardError, match="after 'id:' come hex digits"):
        card.open_card(CardChoice(hsm.module, None, "id:xyz"), PIN)
    with pytest.raises(CardError, match="holds no certificate for key 'second'.*voting card store-certificate"):
        card.open_card(CardChoice(hsm.module, None, "second"), PIN)


def test_missing_module_and_no_card(hsm, tmp_path):
    with pytest.raises(CardError, match="no PKCS#11 module at /nonexistent/opensc.so; install OpenSC"):
        card.open_card(CardChoice("/nonexistent/opensc.so"), PIN)
    not_a_module = tmp_path / "not-a-module.so"
    not_a_module.write_bytes(b"\x7fELF not really")
    with pytest.raises(CardError, match="cannot be loaded"):
        card.open_card(CardChoice(str(not_a_module)), PIN)
    with pytest.raises(CardError, match="no card found through .*insert the card"):
        card.open_card(CardChoice(hsm.module), PIN)


def test_a_closed_card_no_longer_signs(hsm, pki):
    credential = card.open_card(card_for(pki, hsm, "E0001", "p256"), PIN)
    key = credential.private_key
    credential.close()
    credential.close()  # twice is harmless
    assert credential.closed
    with pytest.raises(CardError):
        key.sign_jws(MESSAGE)


def test_a_card_inserted_later_is_found(hsm, pki):
    with card.open_card(card_for(pki, hsm, "E0001", "p256", token="first"), PIN):
        pass
    card_for(pki, hsm, "E0002", "p256", token="later")
    with card.open_card(CardChoice(hsm.module, "later"), PIN) as credential:
        assert credential.employee_id == "E0002"


def test_ec_points_are_read_wrapped_or_bare():
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert card._unwrap_point(b"\x04\x41" + point, 65) == point
    assert card._unwrap_point(point, 65) == point
    bare = b"\x04\x1e" + bytes(30)  # a bare Ed25519 key that also parses as an OCTET STRING
    assert card._unwrap_point(bare, 32) == bare
    assert card._unwrap_point(b"\x04\x20" + bare, 32) == bare
    assert card._curve_of(bytes.fromhex("06082a8648ce3d030107")) == "p256"
    assert card._curve_of(bytes.fromhex("06032b6570")) == "ed25519"
    assert card._curve_of(b"\x13\x0cedwards25519") == "ed25519"
    assert card._curve_of(bytes.fromhex("06052b81040022")) is None  # P-384


# --- chain, CSR, storing the certificate, listing -------------------------------------------


def test_chain_from_a_file_when_the_card_holds_only_its_certificate(hsm, pki, tmp_path):
    token = hsm.init_token("bare")
    public_key = hsm.keypair(token, "auth", "rsa2048", "01")
    certificate = ca.issue_employee_certificate(pki.issuing, public_key, employee_id="E0009", name="x", now=datetime.now(UTC))
    hsm.put_certificate(token, "01", "auth", certificate)
    with card.open_card(hsm.choice(token, "auth"), PIN) as credential:
        assert credential.chain == (certificate,)
    chain_file = tmp_path / "issuing.pem"
    chain_file.write_text(cr.certificate_to_pem(pki.issuing.certificate) + cr.certificate_to_pem(pki.root.certificate))
    with card.open_card(hsm.choice(token, "auth"), PIN, chain_file=chain_file) as credential:
        assert credential.chain == (certificate, pki.issuing.certificate)  # the root stays in the trust store
    with pytest.raises(CardError, match="holds no PEM certificate"):
        (tmp_path / "empty.pem").write_text("nothing")
        card.open_card(hsm.choice(token, "auth"), PIN, chain_file=tmp_path / "empty.pem")


@pytest.mark.parametrize("kind", KINDS)
def test_csr_made_on_the_card_verifies_and_its_certificate_is_stored(hsm, pki, kind):
    token = hsm.init_token("new-card")
    hsm.keypair(token, "auth", kind, "01")
    choice = hsm.choice(token, "auth")
    with pytest.raises(CardError, match="holds no certificate"):
        card.open_card(choice, PIN)
    key = card.open_key(choice, PIN)
    try:
        pem = card.make_csr(key, common_name="鈴木 一郎")
        public = key.public_key()
    finally:
        card.close_key(key)
    assert pem.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    csr = x509.load_pem_x509_csr(pem)
    assert csr.is_signature_valid
    assert cr._same_public_key(csr.public_key(), public)
    assert csr.subject.rfc4514_string() == "CN=鈴木 一郎"
    assert cr._same_public_key(ca.read_csr(pem).public_key(), public)  # the CA's own check of a CSR
    certificate = ca.issue_employee_certificate(pki.issuing, csr.public_key(), employee_id="E0042", name="鈴木 一郎", now=datetime.now(UTC))
    card.store_certificate(choice, PIN, [certificate, pki.issuing.certificate])
    with card.open_card(choice, PIN) as credential:
        assert credential.chain == (certificate, pki.issuing.certificate)
        assert credential.employee_id == "E0042"
    # a renewed certificate replaces the old one under the key's id
    renewed = ca.issue_employee_certificate(pki.issuing, csr.public_key(), employee_id="E0042", name="鈴木 一郎", now=datetime.now(UTC) + timedelta(seconds=1))
    card.store_certificate(choice, PIN, renewed)
    with card.open_card(choice, PIN) as credential:
        assert credential.certificate == renewed
    listed = card.list_cards(hsm.module)
    assert [c["id"] for c in listed[0]["certificates"]].count("01") == 1


def test_a_tampered_csr_does_not_verify(hsm):
    token = hsm.init_token("csr")
    hsm.keypair(token, "auth", "p256", "01")
    key = card.open_key(hsm.choice(token, "auth"), PIN)
    try:
        pem = card.make_csr(key, common_name="Original")
    finally:
        card.close_key(key)
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    tampered = der.replace(b"Original", b"Impostor")
    assert not x509.load_der_x509_csr(tampered).is_signature_valid


def test_a_certificate_for_another_key_is_not_stored(hsm, pki):
    token = hsm.init_token("mine")
    hsm.keypair(token, "auth", "p256", "01")
    other = pki.enroll("E0001")
    with pytest.raises(CardError, match="is not for key 'auth'"):
        card.store_certificate(hsm.choice(token, "auth"), PIN, other.certificate)
    with pytest.raises(CardError, match="holds no certificate"):
        card.open_card(hsm.choice(token, "auth"), PIN)


def test_list_cards_shows_keys_and_certificates_without_a_pin(hsm, pki):
    card_for(pki, hsm, "E0001", "rsa2048", token="card-rsa")
    card_for(pki, hsm, "E0002", "ed25519", token="card-ed")
    listed = {c["token"]: c for c in card.list_cards(hsm.module)}
    assert set(listed) == {"card-rsa", "card-ed"}
    rsa_card = listed["card-rsa"]
    assert rsa_card["login_required"] and not rsa_card["pin_locked"]
    assert rsa_card["keys"][0]["label"] == "auth" and rsa_card["keys"][0]["type"] == "RSA-2048"
    assert [c["employee_id"] for c in rsa_card["certificates"] if c["id"] == "01"] == ["E0001"]
    assert listed["card-ed"]["keys"][0]["type"] == "Ed25519"
    assert "PRIVATE" not in json.dumps(listed)


def test_the_card_secret_is_computed_once_per_open_card(hsm, pki, monkeypatch):
    with card.open_card(card_for(pki, hsm, "E0001", "rsa2048"), PIN) as credential:
        calls = []
        real = card._compute_secret
        monkeypatch.setattr(card, "_compute_secret", lambda *a: calls.append(1) or real(*a))
        first = credential.secret
        assert credential.voting_credential("a").hex and credential.secret == first
        assert calls == [1]


def test_require_softhsm_fails_under_ci_when_missing(monkeypatch):
    from tests import card_support

    monkeypatch.setattr(card_support, "MODULE", "/nonexistent/libsofthsm2.so")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install softhsm2 opensc"):
        require_softhsm()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_softhsm()


def test_softhsm_restores_the_environment(tmp_path):
    before = os.environ.get("SOFTHSM2_CONF")
    with SoftHsm(tmp_path / "a") as softhsm:
        assert os.environ["SOFTHSM2_CONF"] == str(softhsm.conf)
    assert os.environ.get("SOFTHSM2_CONF") == before


def test_default_module_comes_from_the_environment():
    import subprocess
    import sys

    env = {**os.environ, "VOTING_PKCS11_MODULE": "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"}
    shown = subprocess.run(
        [sys.executable, "-c", "from voting import card; print(card.DEFAULT_MODULE)"],
        env=env, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent,
    )
    assert shown.stdout.strip() == "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
