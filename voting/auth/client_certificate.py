"""Log in, or enroll a card, with the TLS client certificate a browser presented.

The web page cannot reach a card; the browser can, through the operating
system, when the TLS server asks for a client certificate. The documented
reverse proxy (docs/nginx/voting.conf) asks every browser for one
(``ssl_verify_client optional_no_ca``: asked, never required, not checked
there), and passes the certificate on, URL-encoded PEM in
``X-Client-Certificate``, for two requests only: ``POST
/api/auth/client-certificate`` (log in) and ``POST
/api/enroll/client-certificate`` (enroll the card with a one-time code).

The TLS handshake proved that the browser holds the certificate's key (its
CertificateVerify signs the handshake), so no login challenge is signed; what
the service must know is that the header comes from the proxy, from a full
handshake. Three checks, each refusing the request, header or not:

- the proxy proves itself with a secret (``VOTING_PROXY_SECRET_FILE``), which
  nginx sends in ``X-Voting-Proxy-Secret`` on these two locations only, from a
  file only root reads; compared in constant time. An address proves nothing:
  every process on the proxy's host connects from it. No secret configured:
  the card in the browser is turned off (``client_certificate_disabled``);
- the connection itself comes from an address of ``VOTING_FORWARDED_ALLOW_IPS``:
  the address that connected, recorded before ``X-Forwarded-For`` replaces the
  client's address (``RecordPeer``, installed by ``voting serve`` around the
  app, see ``behind_proxies``); from anywhere else, or when the app runs
  without that layer, refused;
- the TLS session was not resumed (nginx's ``$ssl_session_reused`` in
  ``X-TLS-Session-Reused``): a resumed handshake proves nothing about
  the key now, nginx passes on the certificate of the session it resumed
  (``tls_session_resumed``). The shipped nginx file keeps no sessions
  (``ssl_session_cache off``), so a browser always makes a full handshake.

The certificate then passes the checks of a token login: the chain to a trust
anchor (the proxy passes the card's certificate alone, so the issuing CAs come
from ``VOTING_ISSUING_CAS``, the CAs whose CRLs the service keeps, and the
card's enrollment), the anchor's rule for the leaf (SAN, key usage and
clientAuth for an anchor whose certificates name employees; key usage alone,
as JPKI's card, for an "enrollment" anchor), the anchor's CRLs, the employee
(the certificate's employee id, or the card's enrollment, read again and
locked where the session is inserted: ``AuthService.open_session``), the
per-address and per-certificate rate limits,
and the page's origin (``Origin`` must be ``VOTING_PUBLIC_URL``: another site
cannot make the browser log in here). The session is the same as a token
login's, marked ``login_method = "client-certificate"``: the browser holds no
key that could sign a voting credential's registration, and the service
attests it instead (voting/elections/service.py, docs/threat-model.md).
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import msgspec
from cryptography import x509
from litestar import Controller, Request, post
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.credentials import (
    _check_usage,
    certificate_fingerprint,
    certificates_from_pem,
    check_card_usage,
    check_revocation,
    display_name_of,
    employee_id_of,
    is_valid_employee_id,
)
from crypto.errors import CredentialError, CryptoError
from voting.auth import enrollment
from voting.auth.service import client_key
from voting.db.models import CrlState, Enrollment, Session
from voting.errors import Forbidden, Invalid, Unauthorized
from voting.request_body import Body, body
from voting.services import Services
from voting.settings import IDENTITY_CERTIFICATE, IDENTITY_ENROLLMENT
from voting.wire.auth import ClientCertificateEnrollRequest, ClientCertificateSession, Enrolled

log = logging.getLogger("voting.auth")

#: What ``sessions.login_method`` says of a session opened here (a token login's says "token").
LOGIN_METHOD = "client-certificate"
HEADER = "x-client-certificate"
#: The proxy's secret (VOTING_PROXY_SECRET_FILE), which nginx sets on the two card locations.
SECRET_HEADER = "x-voting-proxy-secret"
#: nginx's ``$ssl_session_reused``: "r" when the TLS session was resumed, "." after a full handshake.
SESSION_HEADER = "x-tls-session-reused"
#: The scope key under which ``RecordPeer`` keeps the address that connected.
PEER = "voting.peer"
#: A PEM certificate, URL-encoded, is a few kilobytes; anything far larger is refused unread.
MAX_HEADER_LENGTH = 32_768


def now_utc() -> datetime:
    return datetime.now(UTC)


# --- where the request came from -------------------------------------------------------------


class RecordPeer:
    """The outermost ASGI layer: keeps the address that connected in the
    scope (``PEER``), before the proxy-headers layer inside it replaces the
    scope's client with the forwarded one."""

    def __init__(self, app) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope[PEER] = client[0] if client else None
        await self.app(scope, receive, send)


def behind_proxies(app, forwarded_allow_ips: str):  # noqa: ANN001, ANN201 - ASGI apps
    """The app as ``voting serve`` runs it: uvicorn's own proxy-headers layer
    (X-Forwarded-For and -Proto believed from ``forwarded_allow_ips`` only),
    inside ``RecordPeer``. uvicorn's built-in one is then turned off
    (``proxy_headers=False``), so it is applied once."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return RecordPeer(ProxyHeadersMiddleware(app, trusted_hosts=forwarded_allow_ips))


def trusted_proxies(forwarded_allow_ips: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of ``VOTING_FORWARDED_ALLOW_IPS`` (checked by voting.settings)."""
    networks = []
    for item in filter(None, (part.strip() for part in forwarded_allow_ips.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue
    return networks


def from_trusted_proxy(peer: str | None, forwarded_allow_ips: str) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted_proxies(forwarded_allow_ips))


def presented_certificate(request: Request, services: Services) -> x509.Certificate:
    """The certificate the proxy passed on, after the request's source and
    origin are checked; refusals say what to do."""
    settings = services.settings
    peer = request.scope.get(PEER)  # set by our own ASGI layer above: the address or None
    peer = peer if isinstance(peer, str) else None
    header = request.headers.get(HEADER)
    if not settings.proxy_secret:
        raise Forbidden(
            "the card in this computer is not set up on this service (no VOTING_PROXY_SECRET_FILE): "
            "log in with a credential file, or ask the administrators",
            code="client_certificate_disabled",
        )
    if not from_trusted_proxy(peer, settings.forwarded_allow_ips):
        if header is not None:
            log.warning(
                "refused an X-Client-Certificate header from %s, which is not a trusted proxy (VOTING_FORWARDED_ALLOW_IPS)",
                peer or "an unrecorded address",
                extra={"event": "client_certificate_untrusted_source", "client": peer or ""},
            )
        raise Forbidden(
            "a login with the card in this computer works only through the city hall's reverse proxy "
            "(the service takes the client certificate from the addresses of VOTING_FORWARDED_ALLOW_IPS only)",
            code="client_certificate_untrusted_source",
        )
    shown = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(shown, settings.proxy_secret.encode("ascii")):
        log.warning(
            "refused a client-certificate request from %s without the proxy's secret (X-Voting-Proxy-Secret %s): "
            "a local process that is not nginx, or nginx without the secret's include file (docs/nginx/voting.conf)",
            peer, "missing" if not shown else "wrong",
            extra={"event": "client_certificate_no_proxy_secret", "client": peer or ""},
        )
        raise Forbidden(
            "a login with the card in this computer works only through the city hall's reverse proxy "
            "(the request did not carry the proxy's secret, VOTING_PROXY_SECRET_FILE)",
            code="client_certificate_untrusted_source",
        )
    if request.headers.get(SESSION_HEADER) != ".":
        # "r": nginx resumed a TLS session, and passes on the certificate of the
        # handshake it resumed; no header: the proxy does not say (refused too).
        log.warning(
            "refused a client-certificate request on a resumed TLS session (X-TLS-Session-Reused %r): "
            "turn nginx's TLS session cache off (ssl_session_cache off; docs/nginx/voting.conf)",
            request.headers.get(SESSION_HEADER, "")[:8],
            extra={"event": "client_certificate_session_resumed"},
        )
        raise Unauthorized(
            "the browser resumed an earlier TLS connection, which does not show that the card is in the reader now: "
            "close every window of the browser, open it again, and log in again",
            code="tls_session_resumed",
        )
    origin = request.headers.get("origin")
    if origin != settings.audience:
        raise Forbidden(
            f"this request must come from a page of {settings.audience}, not {str(origin)[:100]!r}", code="bad_origin"
        )
    if not header:
        raise Unauthorized(
            "the browser presented no certificate: put the card in the reader, restart the browser if it was "
            "started before, and choose the card's certificate when the browser asks",
            code="no_client_certificate",
        )
    if len(header) > MAX_HEADER_LENGTH:
        raise Invalid("the client certificate is too large", code="client_certificate_malformed")
    try:
        certificates = certificates_from_pem(unquote(header))
    except (CryptoError, ValueError):
        certificates = []
    if len(certificates) != 1:
        raise Invalid("the client certificate passed on by the proxy cannot be read", code="client_certificate_malformed")
    return certificates[0]


# --- the chain, the anchor, the employee ------------------------------------------------------


@dataclass(frozen=True)
class CheckedCertificate:
    chain: tuple[x509.Certificate, ...]
    """leaf first, root last, as built to the anchor"""
    anchor: str
    identity: str
    fingerprint: str


def issuing_cas(path: Path | None) -> list[x509.Certificate]:
    """The configured issuing CAs (``VOTING_ISSUING_CAS``): candidates for the
    chain only, never trusted by themselves. A missing or unreadable file adds
    none (logged)."""
    if path is None or not path.is_file():
        return []
    try:
        return certificates_from_pem(path.read_bytes())
    except (OSError, CryptoError, ValueError) as exc:
        log.warning("VOTING_ISSUING_CAS (%s) cannot be read: %s", path, exc, extra={"event": "issuing_cas_unreadable"})
        return []


async def candidate_intermediates(db: AsyncSession, leaf: x509.Certificate, settings) -> list[x509.Certificate]:  # noqa: ANN001
    """CA certificates the chain may go through: the configured issuing CAs,
    the signers of the CRLs the service keeps (verified before being kept),
    and the chain the card sent when it enrolled with a signed token."""
    found = issuing_cas(settings.issuing_cas_path)
    found += [x509.load_der_x509_certificate(der) for der in await db.scalars(select(CrlState.signer))]
    enrolled = await db.get(Enrollment, certificate_fingerprint(leaf))
    if enrolled is not None:
        found += [x509.load_der_x509_certificate(base64.b64decode(c)) for c in json.loads(enrolled.chain)[1:]]
    unique: dict[str, x509.Certificate] = {}
    for certificate in found:
        unique.setdefault(certificate_fingerprint(certificate), certificate)
    return list(unique.values())


async def check_certificate(services: Services, db: AsyncSession, leaf: x509.Certificate) -> CheckedCertificate:
    """Every check of a token login but the token's: the chain to an anchor,
    the usage, the anchor's CRLs. Who the employee is comes after."""
    trust = services.auth.trust
    now = now_utc()
    await trust.refresh(db)
    intermediates = await candidate_intermediates(db, leaf, services.settings)
    source = trust.anchor_for(leaf, intermediates, now)
    # The anchor's rule, as for a token (crypto.credentials.verify_login_token):
    # a certificate that names the employee needs its SAN and clientAuth; a card
    # of an "enrollment" anchor (JPKI: no SAN, no EKU) the digitalSignature usage.
    names_employee = source.identity == IDENTITY_CERTIFICATE
    chain = source.store().verify_chain(leaf, intermediates, now, require_san=names_employee)
    if names_employee:
        _check_usage(leaf)
    else:
        check_card_usage(leaf)
    check_revocation(chain, source.crls(), now=now)
    if trust.learn(chain):
        await trust.refresh(db)  # the first login under a CA: keep its CRL now
    return CheckedCertificate(tuple(chain), source.name, source.identity, certificate_fingerprint(leaf))


def _name_of(leaf: x509.Certificate) -> str:
    try:
        return display_name_of(leaf)
    except CredentialError:
        return ""


# --- the routes -----------------------------------------------------------------------------


class ClientCertificateController(Controller):
    tags = ["auth"]

    @post("/api/auth/client-certificate", status_code=200, summary="Log in with the TLS client certificate the proxy passed on")
    async def login(self, request: Request, services: Services) -> ClientCertificateSession:
        auth = services.auth
        auth.by_address.hit(client_key(request.client.host if request.client else "unknown"))
        leaf = presented_certificate(request, services)
        async with services.database.write() as db:
            checked = await check_certificate(services, db, leaf)
            if checked.identity == IDENTITY_ENROLLMENT:
                employee_id = await enrollment.employee_for(db, leaf, checked.anchor)
            else:
                employee_id = employee_id_of(leaf)
            auth.by_certificate.hit(checked.fingerprint)
            reply = await auth.open_session(
                db, employee_id=employee_id, name=_name_of(leaf), chain=checked.chain, login_method=LOGIN_METHOD,
                enrolled_under=checked.anchor if checked.identity == IDENTITY_ENROLLMENT else None,
            )
        log.info(
            "login with a client certificate", extra={"event": "login_client_certificate", "anchor": checked.anchor}
        )
        return msgspec.convert({**reply, "login_method": LOGIN_METHOD}, ClientCertificateSession)

    @post(
        "/api/enroll/client-certificate", status_code=200,
        summary="Enroll the card whose TLS client certificate the proxy passed on",
        dto=body(ClientCertificateEnrollRequest, "send {code, employee_id}"), return_dto=None,
    )
    async def enroll(self, request: Request, services: Services, data: Body[ClientCertificateEnrollRequest]) -> Enrolled:
        """The card's link to the employee of the one-time code, as ``POST
        /api/enroll`` makes it from a card-signed token; the proof kept is
        ``{"via": "client-certificate"}``: the server's word (docs/threat-model.md)."""
        document = data.document  # the shape only: a wrong employee id is invalid_employee_id
        if set(document) != {"code", "employee_id"}:
            raise Invalid("send {code, employee_id}", code="invalid_request")
        employee_id = document["employee_id"]
        if not is_valid_employee_id(employee_id):
            raise Invalid("the employee id is not valid: type it as on the code slip", code="invalid_employee_id")
        auth = services.auth
        auth.enrollments_by_address.hit(client_key(request.client.host if request.client else "unknown"))
        leaf = presented_certificate(request, services)
        async with services.database.write() as db:
            checked = await check_certificate(services, db, leaf)
            if checked.identity != IDENTITY_ENROLLMENT:
                raise Invalid(
                    "this certificate names its employee itself and needs no enrollment: log in with it",
                    code="enrollment_not_needed",
                )
            now = now_utc()
            auth.by_certificate.hit(checked.fingerprint)
            await enrollment.enroll(
                db, code=document["code"], employee_id=employee_id, anchor=checked.anchor, chain=_without_root(checked.chain),
                proof={"via": enrollment.VIA_CLIENT_CERTIFICATE}, now=now,
            )
        log.info(
            "card %s… (trust anchor %s) enrolled for %s with a client certificate", checked.fingerprint[:16], checked.anchor,
            employee_id, extra={"event": "enrolled", "employee_id": employee_id, "anchor": checked.anchor},
        )
        return Enrolled(employee_id=employee_id, fingerprint=checked.fingerprint, anchor=checked.anchor, enrolled_at=now.isoformat())


def _without_root(chain: tuple[x509.Certificate, ...]) -> list[x509.Certificate]:
    """The chain as a card sends it: leaf first, the self-signed root left out."""
    kept = list(chain)
    if len(kept) > 1 and kept[-1].subject == kept[-1].issuer:
        kept = kept[:-1]
    return kept


async def login_method_of(db: AsyncSession, session_key: str) -> str:
    """How the session (by its key, ``Principal.session_id``) logged in."""
    method = await db.scalar(select(Session.login_method).where(Session.id == session_key))
    return method or "token"
