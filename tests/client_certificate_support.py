"""What the client-certificate suites share: an external CA whose card
certificates name nobody (as JPKI's user-authentication certificate), the
service run as ``voting serve`` runs it (its proxy layer, which records the
address that connected) with that CA as a second trust anchor of identity
"enrollment", and requests sent as the reverse proxy sends them (from a
trusted address, with the certificate URL-encoded in X-Client-Certificate,
the proxy's secret and "." for a full TLS handshake).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import ca
from crypto.credentials import certificate_to_pem, crl_to_pem
from tests.http_support import ADMIN, TRUSTEES, Pilot
from tests.support import Pki, make_pki
from tests.test_ops_proxy import Service
from voting import operator
from voting.client import Client
from voting.settings import Settings

ANCHOR = "cards"
PROXY = "127.0.0.1"
#: The proxy's secret of each service started here, by the service's own URL: what nginx sends.
PROXY_SECRETS: dict[str, str] = {}
#: ``as_proxy``'s default: the secret nginx sends to that service.
NGINX = object()


def write_proxy_secret(directory: Path) -> tuple[Path, str]:
    """VOTING_PROXY_SECRET_FILE as docs/operations.md makes it (``openssl rand -hex 32``, mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    path = directory / "proxy-secret"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path, secret


@dataclass
class Card:
    """A card's key and certificate, as files a browser can be given."""

    key: object
    certificate: x509.Certificate
    chain: list[x509.Certificate]

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
        cert_path.write_text(certificate_to_pem(self.certificate))
        key_path.write_bytes(
            self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        key_path.chmod(0o600)
        return cert_path, key_path


def pilot_card(pki: Pki, employee_id: str, name: str | None = None) -> Card:
    """A pilot CA certificate (it names the employee), as on a staff card."""
    credential = pki.enroll(employee_id, name=name)
    return Card(credential.private_key, credential.certificate, list(credential.chain))


class ExternalCa:
    """Another root, with certificates that carry no name and no employee id
    (only a card number in a SAN URI), issued directly by the root, and its CRL."""

    def __init__(self, directory: Path, common_name: str = "Test Card Authority Root") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.now = datetime.now(UTC) - timedelta(hours=1)
        self.root = ca.create_root_ca(common_name, now=self.now, organization="Test Card Authority")
        (directory / "root.pem").write_text(certificate_to_pem(self.root.certificate))
        self.revoked: list[x509.RevokedCertificate] = []
        self.crl_number = 0
        self.issued = 0
        self.write_crl()

    @property
    def root_path(self) -> Path:
        return self.directory / "root.pem"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.pem"

    def card(self, key_type: str = "P-256") -> Card:
        self.issued += 1
        key = ca.generate_key(key_type)
        subject = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, f"CARD{self.issued:08d}")])
        usage = x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        )
        builder = (
            ca._issued_by(self.root, subject, key.public_key(), self.now, 365, None)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"urn:x-test-card:{self.issued:08d}")]),
                critical=False,
            )
        )
        certificate = ca._sign(builder, self.root.key)
        return Card(key, certificate, [certificate])

    def jpki_card(self, key_type: str = "P-256") -> Card:
        """A card certificate as JPKI's user-authentication one: key usage
        digitalSignature only, no SAN, no extended key usage."""
        self.issued += 1
        key = ca.generate_key(key_type)
        subject = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, f"CARD{self.issued:08d}")])
        usage = x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        )
        builder = (
            ca._issued_by(self.root, subject, key.public_key(), self.now, 365, None)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
        )
        certificate = ca._sign(builder, self.root.key)
        return Card(key, certificate, [certificate])

    def revoke(self, card: Card) -> None:
        self.revoked.append(ca.revoke(self.root, card.certificate, now=datetime.now(UTC)))
        self.write_crl()

    def write_crl(self, *, now: datetime | None = None) -> None:
        self.crl_number += 1
        now = now or datetime.now(UTC) - timedelta(minutes=1)
        crl = ca.build_crl(self.root, self.revoked, now=now, next_update=now + timedelta(days=7), crl_number=self.crl_number)
        self.crl_path.write_text(crl_to_pem(crl))


def anchors_file(directory: Path, external: ExternalCa) -> Path:
    path = directory / "anchors.json"
    path.write_text(
        json.dumps(
            [{"name": ANCHOR, "certificate": str(external.root_path), "crl": str(external.crl_path), "identity": "enrollment"}]
        )
    )
    return path


def write_issuing(pki: Pki) -> Path:
    """The issuing CA's certificate where ``voting ca init`` keeps it (the
    default VOTING_ISSUING_CAS): a TLS client certificate arrives without it."""
    path = pki.ca_dir / "issuing.pem"
    path.write_text(certificate_to_pem(pki.issuing.certificate))
    return path


@dataclass
class CardPilot:
    """``voting serve`` trusting PROXY as its reverse proxy, with the pilot CA and
    an external CA of identity "enrollment", an administrator and three trustees."""

    pilot: Pilot
    service: Service
    external: ExternalCa
    proxy_secret: str

    @property
    def pki(self) -> Pki:
        return self.pilot.pki

    @property
    def url(self) -> str:
        return self.pilot.url

    def stop(self) -> None:
        self.pilot.stop()


def start_card_pilot(
    data_dir: Path, database_url: str, *, public_url: str | None = None, after_start: Callable[[Service], None] | None = None
) -> CardPilot:
    """The service as served (``voting serve``). ``public_url``: its audience,
    when the clients reach it through a proxy at that origin (``after_start``
    starts the proxy once the service listens; the Python clients go through it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = make_pki(data_dir)
    write_issuing(pki)
    external = ExternalCa(data_dir / "external")
    secret_path, secret = write_proxy_secret(data_dir)
    env = {
        "proxy_secret_file": str(secret_path),
        "database_url": database_url,
        "forwarded_allow_ips": PROXY,
        "login_rate_per_minute": "0",
        "purge_interval_s": "0",
        "crl_refresh_s": "0",  # a CRL written by the test is read at the next request
        "trust_anchors_file": str(anchors_file(data_dir, external)),
    }
    if public_url:
        env["public_url"] = public_url
    service = Service(data_dir, **env)
    PROXY_SECRETS[service.url] = secret
    settings = Settings(data_dir=data_dir, database_url=database_url)

    def prepare() -> None:
        operator.upgrade(settings)
        operator.add_role(settings, ADMIN, "admin")

    # In a thread of its own: a browser test's Playwright runs an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(prepare).result()
    admin_credential = pki.enroll(ADMIN)
    trustee_credentials = {t: pki.enroll(t) for t in TRUSTEES}
    service.start()
    try:
        if after_start is not None:
            after_start(service)
        url = public_url or service.url
        admin = Client(url)
        admin.login(admin_credential)
    except Exception:
        service.stop()
        raise
    pilot = Pilot(pki, data_dir, database_url, service, admin, trustee_credentials, front_url=url)
    return CardPilot(pilot, service, external, secret)


def header_of(certificate: x509.Certificate) -> str:
    """The certificate as nginx's $ssl_client_escaped_cert gives it: URL-encoded PEM."""
    return quote(certificate_to_pem(certificate), safe="")


def as_proxy(
    url: str,
    path: str,
    certificate: x509.Certificate | None,
    *,
    origin: str | None,
    source: str = PROXY,
    body: dict | None = None,
    header: str | None = None,
    secret: object = NGINX,
    reused: str | None = ".",
) -> httpx.Response:
    """A POST as the reverse proxy passes it on (from ``source``), with the
    certificate in X-Client-Certificate, the page's Origin, the proxy's secret
    (``secret``: by default the one of the service at ``url``; None: none, as any
    other local process sends) and ``$ssl_session_reused`` (``reused``: "."
    a full handshake, "r" a resumed session, None: not sent)."""
    headers = {}
    if certificate is not None or header is not None:
        headers["X-Client-Certificate"] = header if header is not None else header_of(certificate)
    if secret is NGINX:
        secret = PROXY_SECRETS.get(url)
    if secret is not None:
        headers["X-Voting-Proxy-Secret"] = secret
    if reused is not None:
        headers["X-TLS-Session-Reused"] = reused
    if origin is not None:
        headers["Origin"] = origin
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30) as http:
        return http.post(url + path, headers=headers, json=body)
