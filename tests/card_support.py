"""SoftHSM2 tokens for the card tests: a token directory per test, keys made on
the token by pkcs11-tool (as a card's own key generation), certificates from the
test's CA stored beside them.

``SoftHsm(tmp_path)`` writes a softhsm2.conf and points SOFTHSM2_CONF at it, in
this process (for python-pkcs11) and its subprocesses (softhsm2-util,
pkcs11-tool, the CLI); ``close()`` (or the fixture's end) restores the old
value. Without softhsm2 or pkcs11-tool the tests skip, or fail when CI is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from crypto import ca
from voting.card import CardChoice

MODULE = os.environ.get("VOTING_TEST_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
PIN = "246810"
SO_PIN = "12345678"

_KEY_TYPES = {"rsa2048": "rsa:2048", "p256": "EC:prime256v1", "ed25519": "EC:edwards25519"}


def require_softhsm() -> None:
    """Skip (fail under CI) unless SoftHSM2's module, softhsm2-util and pkcs11-tool are here."""
    missing = [
        name
        for name, present in (
            (MODULE, Path(MODULE).is_file()),
            ("softhsm2-util", shutil.which("softhsm2-util") is not None),
            ("pkcs11-tool", shutil.which("pkcs11-tool") is not None),
        )
        if not present
    ]
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the card tests need SoftHSM2 and OpenSC, missing: {', '.join(missing)} (apt-get install softhsm2 opensc)")
    pytest.skip(f"SoftHSM2/OpenSC missing ({', '.join(missing)}; Debian: apt-get install softhsm2 opensc)")


class SoftHsm:
    """A SoftHSM2 token directory of one test."""

    def __init__(self, directory: Path) -> None:
        require_softhsm()
        self.directory = Path(directory)
        self.tokens = self.directory / "tokens"
        self.tokens.mkdir(parents=True, exist_ok=True)
        self.conf = self.directory / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {self.tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n")
        self.module = MODULE
        self._previous = os.environ.get("SOFTHSM2_CONF")
        os.environ["SOFTHSM2_CONF"] = str(self.conf)

    def close(self) -> None:
        if self._previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = self._previous

    def __enter__(self) -> SoftHsm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def env(self) -> dict[str, str]:
        """The environment for a subprocess that uses these tokens."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf)}

    def _run(self, *args: str) -> str:
        result = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])}... failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def init_token(self, label: str, pin: str = PIN) -> str:
        self._run("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SO_PIN)
        return label

    def tool(self, token: str, *args: str, pin: str = PIN) -> str:
        """pkcs11-tool on one token, logged in."""
        return self._run("pkcs11-tool", "--module", self.module, "--token-label", token, "--login", "--pin", pin, *args)

    def keypair(self, token: str, label: str, kind: str = "p256", id_hex: str = "01", *, pin: str = PIN):
        """A key pair made on the token; returns its public key (cryptography)."""
        if kind not in _KEY_TYPES:
            raise ValueError(f"kind must be one of {sorted(_KEY_TYPES)}")
        usage = ["--usage-sign"] + (["--usage-derive"] if kind == "p256" else [])
        self.tool(token, "--keypairgen", "--key-type", _KEY_TYPES[kind], "--id", id_hex, "--label", label, *usage, pin=pin)
        if kind == "ed25519":
            # pkcs11-tool's export of an Ed25519 public key is not SPKI; its listing shows CKA_EC_POINT
            listing = self.tool(token, "--list-objects", "--type", "pubkey", "--id", id_hex, pin=pin)
            point = next(line.split(":", 1)[1].strip() for line in listing.splitlines() if "EC_POINT:" in line)
            return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(point)[-32:])
        path = self.directory / f"{token}-{id_hex}.pub.der"
        self._run(
            "pkcs11-tool", "--module", self.module, "--token-label", token, "--read-object", "--type", "pubkey", "--id", id_hex,
            "--output-file", str(path),
        )
        return serialization.load_der_public_key(path.read_bytes())

    def import_key(self, token: str, label: str, id_hex: str, private_key, *, sensitive: bool = True, extractable: bool = False, always_authenticate: bool = False, pin: str = PIN) -> None:
        """Put a known private key (and its public key) on the token, as an HSM
        import would. ``open_card`` refuses such a key (CKA_ALWAYS_SENSITIVE and
        CKA_NEVER_EXTRACTABLE are false: a copy exists outside the card), so the
        vector tests reach it through ``unchecked_card_key``; the refusal tests
        use it as it is."""
        from pkcs11 import Attribute, KeyType, ObjectClass

        from voting import card

        key_id = bytes.fromhex(id_hex)
        common = {Attribute.TOKEN: True, Attribute.ID: key_id, Attribute.LABEL: label}
        private = {**common, Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.PRIVATE: True, Attribute.SIGN: True,
                   Attribute.SENSITIVE: sensitive, Attribute.EXTRACTABLE: extractable}
        if always_authenticate:
            private[Attribute.ALWAYS_AUTHENTICATE] = True
        public = {**common, Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.VERIFY: True}
        big = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")  # noqa: E731
        if isinstance(private_key, rsa.RSAPrivateKey):
            numbers = private_key.private_numbers()
            pub = numbers.public_numbers
            both = {Attribute.KEY_TYPE: KeyType.RSA, Attribute.MODULUS: big(pub.n), Attribute.PUBLIC_EXPONENT: big(pub.e)}
            private |= both | {
                Attribute.PRIVATE_EXPONENT: big(numbers.d), Attribute.PRIME_1: big(numbers.p), Attribute.PRIME_2: big(numbers.q),
                Attribute.EXPONENT_1: big(numbers.dmp1), Attribute.EXPONENT_2: big(numbers.dmq1), Attribute.COEFFICIENT: big(numbers.iqmp),
            }
            public |= both
        elif isinstance(private_key, ec.EllipticCurvePrivateKey):
            point = private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            params = bytes.fromhex("06082a8648ce3d030107")  # the OID of P-256
            private |= {Attribute.KEY_TYPE: KeyType.EC, Attribute.EC_PARAMS: params, Attribute.DERIVE: True,
                        Attribute.VALUE: private_key.private_numbers().private_value.to_bytes(32, "big")}
            public |= {Attribute.KEY_TYPE: KeyType.EC, Attribute.EC_PARAMS: params, Attribute.EC_POINT: b"\x04\x41" + point}
        elif isinstance(private_key, ed25519.Ed25519PrivateKey):
            params = b"\x13\x0cedwards25519"  # PrintableString, as SoftHSM and pkcs11-tool write it
            raw = private_key.public_key().public_bytes_raw()
            private |= {Attribute.KEY_TYPE: KeyType.EC_EDWARDS, Attribute.EC_PARAMS: params, Attribute.VALUE: private_key.private_bytes_raw()}
            public |= {Attribute.KEY_TYPE: KeyType.EC_EDWARDS, Attribute.EC_PARAMS: params, Attribute.EC_POINT: b"\x04\x20" + raw}
        else:
            raise TypeError(f"cannot import {type(private_key).__name__}")
        lib = card._library(self.module)
        found = [t for t in (slot.get_token() for slot in lib.get_slots(token_present=True)) if t.label == token]
        with found[0].open(rw=True, user_pin=pin) as session:
            session.create_object(private)
            session.create_object(public)

    def put_certificate(self, token: str, id_hex: str, label: str, cert: x509.Certificate, *, pin: str = PIN) -> None:
        path = self.directory / f"{token}-{id_hex}-{label}.crt.der"
        path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        self.tool(token, "--write-object", str(path), "--type", "cert", "--id", id_hex, "--label", label, pin=pin)

    def choice(self, token: str | None = None, key_label: str | None = None) -> CardChoice:
        return CardChoice(module=self.module, token=token, key=key_label)

    def token_object(self, label: str):
        """The python-pkcs11 token with this label (exactly one)."""
        from voting import card

        found = [t for t in card._tokens(card._library(self.module)) if t.label == label]
        assert len(found) == 1, f"{len(found)} tokens labelled {label!r}"
        return found[0]

    def pin_flags(self, label: str) -> int:
        """The token's flags now (CKF_USER_PIN_COUNT_LOW after a wrong PIN, ...)."""
        return self.token_object(label).flags

    @contextmanager
    def unchecked_card_key(self, token: str, label: str, public_key, *, pin: str = PIN) -> Iterator:
        """The key as a ``voting.card.CardKey`` made straight on a raw session of
        the token, without ``open_card``'s checks (which refuse an imported
        key): only to compute a published test key's values on the token."""
        from pkcs11 import Attribute, ObjectClass

        from voting import card

        with self.token_object(token).open(user_pin=pin) as session:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            yield card.CardKey(session, private, public_key, token_label=token, label=label, key_id=private[Attribute.ID])


def card_for(pki, softhsm: SoftHsm, employee_id: str, kind: str = "p256", *, name: str | None = None, token: str | None = None) -> CardChoice:
    """A token holding a key made on it, its employee certificate from the test's
    pilot CA (tests/support.py ``Pki`` or a ``crypto.ca.Authority`` issuing CA),
    and the issuing CA's certificate. Returns the CardChoice for it."""
    issuing = getattr(pki, "issuing", pki)
    token = token or f"card-{employee_id}"
    softhsm.init_token(token)
    public_key = softhsm.keypair(token, "auth", kind, "01")
    certificate = ca.issue_employee_certificate(
        issuing, public_key, employee_id=employee_id, name=name or f"職員 {employee_id}", now=datetime.now(UTC)
    )
    softhsm.put_certificate(token, "01", "auth", certificate)
    softhsm.put_certificate(token, "ca01", "issuing-ca", issuing.certificate)
    return softhsm.choice(token, "auth")
