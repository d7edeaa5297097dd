"""An external CA for the enrollment tests: another root, certificates that name
no employee (as JPKI's user-authentication certificate: a serial-like CN, key
usage digitalSignature, no subject alternative name, no extended key usage),
its own CRL file, and the trust anchors file that configures it."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import ca
from crypto.credentials import Credential, certificate_to_pem, crl_to_pem


@dataclass
class ExternalCa:
    """Root and issuing CA of a CA that is not the city's, writing its CRLs to ``crl_path``."""

    directory: Path
    name: str
    root: ca.Authority
    issuing: ca.Authority
    revoked: list[x509.RevokedCertificate] = field(default_factory=list)
    crl_number: int = 1

    @property
    def root_path(self) -> Path:
        return self.directory / f"{self.name}-root.pem"

    @property
    def crl_path(self) -> Path:
        return self.directory / f"{self.name}-crl.pem"

    def card_certificate(self, public_key, *, client_auth: bool = False) -> x509.Certificate:
        """A card certificate naming no one: subject C=JP, CN=<a serial number>."""
        now = datetime.now(UTC) - timedelta(minutes=5)
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(10).upper())]
        )
        builder = ca._issued_by(self.issuing, subject, public_key, now, 365, None)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True).add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        if client_auth:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(self.issuing.key, hashes.SHA256())

    def card_credential(self, key_type: str = "RSA-2048") -> Credential:
        """A key and its card certificate in memory (Credential-shaped; its
        ``employee_id`` is empty: the certificate names no one)."""
        key = ca.generate_key(key_type)
        certificate = self.card_certificate(key.public_key())
        return Credential(private_key=key, chain=(certificate, self.issuing.certificate), employee_id="", name="")

    def revoke(self, certificate: x509.Certificate) -> None:
        self.revoked.append(ca.revoke(self.issuing, certificate, now=datetime.now(UTC)))
        self.write_crl()

    def write_crl(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC) - timedelta(minutes=1)
        self.crl_number += 1
        crls = [
            ca.build_crl(self.root, [], now=now, next_update=now + timedelta(days=7), crl_number=self.crl_number),
            ca.build_crl(self.issuing, self.revoked, now=now, next_update=now + timedelta(days=7), crl_number=self.crl_number),
        ]
        self.crl_path.write_text("".join(crl_to_pem(c) for c in crls))


def make_external_ca(directory: Path, name: str = "jpki-test") -> ExternalCa:
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(hours=1)
    root = ca.create_root_ca(f"{name} Root CA", now=now, organization="Japan Agency for Test Card Systems")
    issuing = ca.create_issuing_ca(root, f"{name} User Authentication CA", now=now)
    external = ExternalCa(directory, name, root, issuing)
    external.root_path.write_text(certificate_to_pem(root.certificate))
    external.write_crl()
    return external


def anchors_file(path: Path, *external: ExternalCa, identity: str = "enrollment") -> Path:
    """VOTING_TRUST_ANCHORS_FILE naming each external CA (relative paths, as an operator would write)."""
    path.write_text(
        json.dumps(
            [
                {"name": e.name, "certificate": e.root_path.name, "crl": e.crl_path.name, "identity": identity}
                for e in external
            ],
            indent=2,
        ),
        encoding="utf-8",
    )
    return path


def card_with(softhsm, external: ExternalCa, token: str, kind: str = "rsa2048"):
    """A SoftHSM token holding a key made on it, its card certificate from
    ``external`` and the issuing CA's certificate: a CardChoice."""
    softhsm.init_token(token)
    public_key = softhsm.keypair(token, "auth", kind, "01")
    softhsm.put_certificate(token, "01", "auth", external.card_certificate(public_key))
    softhsm.put_certificate(token, "ca01", "issuing-ca", external.issuing.certificate)
    return softhsm.choice(token, "auth")
