"""The login trust anchor and the CRL, both configuration.

The pilot ships its own CA; a real deployment points ``VOTING_TRUST_ANCHOR`` at
the JPKI roots and ``VOTING_CRL`` at their CRL (a file, or a URL refreshed every
``VOTING_CRL_REFRESH_S`` seconds). A CRL that cannot be read keeps the last good
one; a CRL past its nextUpdate makes logins fail closed (crypto.credentials).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
from cryptography import x509

from crypto.credentials import TrustStore, crl_from_der, crl_from_pem
from crypto.errors import CrlError

log = logging.getLogger("voting.auth")


_PEM_END = b"-----END X509 CRL-----"


def parse_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """One DER CRL, or one or more concatenated PEM CRLs (the pilot's CA
    publishes the root's and the issuing CA's CRL in one file)."""
    if not data.lstrip().startswith(b"-----BEGIN"):
        return [crl_from_der(data)]
    blocks = [block + _PEM_END for block in data.split(_PEM_END) if block.strip()]
    return [crl_from_pem(block) for block in blocks]


class TrustSource:
    def __init__(self, anchor_path: Path, crl_location: str, refresh_s: int) -> None:
        self.anchor_path = anchor_path
        self.crl_location = crl_location
        self.refresh_s = refresh_s
        self._store: TrustStore | None = None
        self._crls: list[x509.CertificateRevocationList] = []
        self._loaded_at = 0.0

    def store(self) -> TrustStore:
        if self._store is None:
            if not self.anchor_path.exists():
                raise CrlError(f"the trust anchor {self.anchor_path} is missing; run 'voting ca init'")
            self._store = TrustStore.from_pem(self.anchor_path.read_bytes())
        return self._store

    def crls(self) -> list[x509.CertificateRevocationList]:
        if time.monotonic() - self._loaded_at >= self.refresh_s or not self._crls:
            try:
                self._crls = parse_crls(self._fetch())
                self._loaded_at = time.monotonic()
            except (OSError, httpx.HTTPError, ValueError, CrlError) as exc:
                log.warning("cannot load the CRL from %s: %s", self.crl_location, exc)
                if not self._crls:
                    raise CrlError(f"no CRL available from {self.crl_location}") from None
        return self._crls

    def is_revoked(self, certificate: x509.Certificate) -> bool:
        """Is this certificate on a current CRL of its issuer? Checked on every
        authenticated request, so revoking an employee also ends their open
        sessions (at the next CRL refresh), not only their next login. The CRL's
        signature was checked at login; an entry can only make this stricter."""
        return any(
            crl.issuer == certificate.issuer
            and crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
            for crl in self.crls()
        )

    def _fetch(self) -> bytes:
        if self.crl_location.startswith(("http://", "https://")):
            response = httpx.get(self.crl_location, timeout=10)
            response.raise_for_status()
            return response.content
        return Path(self.crl_location).read_bytes()
