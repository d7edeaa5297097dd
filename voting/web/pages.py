"""The page controller: each handler gathers public data from the services,
renders one template, and leaves everything that needs the employee's key or
session to the page's ES module (docs/web.md, "Pages").

Every response carries a strict Content-Security-Policy: scripts and styles
come only from this origin's static files, never inline (the one exception, the
import map of Subresource Integrity hashes, is allowed by its own hash).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Controller, Request, Response, get
from litestar.datastructures import CacheControlHeader, Cookie, ResponseHeader
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.params import Parameter, QueryParameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from markupsafe import Markup, escape
from sqlalchemy import select

from crypto.errors import CryptoError
from crypto.witness import WitnessPolicy
from voting.db.models import Election
from voting.errors import NotFound, ServiceError, unavailable
from voting.observability import note_refusal
from voting.services import Services
from voting.web import views
from voting.web.i18n import LANGUAGE_COOKIE, LANGUAGES, catalogue, language_of, localized, messages_for, translate
from voting.wire.service import WebBundleHash

log = logging.getLogger("voting")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGE_SIZE = 50
_ELECTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")
_CODE_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


# --- Subresource Integrity and the published hash of the web bundle -------------------------
#
# Read once at startup (restart after changing a static file). Each script and
# stylesheet tag carries its file's SHA-384, and the import map gives one for
# every ES module, including those imported by other modules, which an
# integrity attribute on the page's own <script> does not cover. The listing is
# what auditors compare with a release (docs/web.md, "The web bundle's hash").


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def _bundle(static: Path) -> dict[str, bytes]:
    """Every static file by its URL path, in byte order of the path."""
    files = {f"/static/{p.relative_to(static).as_posix()}": p.read_bytes() for p in static.rglob("*") if p.is_file()}
    return dict(sorted(files.items()))


_BUNDLE = _bundle(STATIC)
INTEGRITY = {path: _sri(data) for path, data in _BUNDLE.items()}
#: The lines `sha384sum` prints for the files, from voting/web (`<hex>  static/…`);
#: BUNDLE_HASH is the SHA-384 of them, which this shell line recomputes from a release:
#: cd voting/web && find static -type f | LC_ALL=C sort | xargs sha384sum | sha384sum
BUNDLE_LISTING = "".join(f"{hashlib.sha384(data).hexdigest()}  {path[1:]}\n" for path, data in _BUNDLE.items())
BUNDLE_HASH = hashlib.sha384(BUNDLE_LISTING.encode("utf-8")).hexdigest()
IMPORT_MAP = json.dumps(
    {"integrity": {path: sri for path, sri in INTEGRITY.items() if path.endswith(".js")}},
    separators=(",", ":"),
    sort_keys=True,
).replace("<", "\\u003c")  # nothing can close the <script> element
IMPORT_MAP_CSP = "'sha256-" + base64.b64encode(hashlib.sha256(IMPORT_MAP.encode("utf-8")).digest()).decode("ascii") + "'"


def sri(path: str) -> str:
    """The integrity attribute of a static file the templates load ("/static/…")."""
    try:
        return INTEGRITY[path]
    except KeyError:
        raise RuntimeError(f"{path} is not a static file (run make install for the vendor bundle)") from None


def content_security_policy(connect: Iterable[str] = ()) -> str:
    """The policy; ``connect`` adds origins the page's script may fetch from
    (the witnesses' own logs, on the receipt pages: docs/web.md, "Witnesses")."""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {IMPORT_MAP_CSP}",
            "style-src 'self'",
            "img-src 'self'",
            "font-src 'self'",
            " ".join(["connect-src 'self'", *connect]),
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def witness_origins(manifests: Iterable[object]) -> list[str]:
    """The origins of the witnesses' logs (their manifest ``url``) that the
    receipt pages ask directly (gossip), so the policy lets them connect there
    and nowhere else. A manifest that does not parse names no one; an IPv6
    literal has no CSP source form and is left out (the page then notes that
    witness as unreachable)."""
    origins: set[str] = set()
    for manifest in manifests:
        try:
            policy = WitnessPolicy.from_json(manifest.get("witnesses") if isinstance(manifest, dict) else None)
        except CryptoError:
            continue
        for witness in policy.witnesses:
            if witness.url is None:
                continue
            parts = urlsplit(witness.url)
            if parts.scheme in ("http", "https") and parts.netloc and "[" not in parts.netloc:
                origins.add(f"{parts.scheme}://{parts.netloc.lower()}")
    return sorted(origins)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
#: /receipt/check alone may use the camera, to read a printed receipt's QR code (docs/web.md).
CAMERA_PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(), payment=()"

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request, template: str, *, title: str, section: str = "", status_code: int = 200, connect: Iterable[str] = (), **context: object
) -> Response:
    """Render a page in the request's language. ``title`` is a catalogue key;
    ``connect``: other origins the page's script may fetch from."""
    lang = language_of(request)

    def t(key: str, /, **params: object) -> str:
        return translate(lang, key, **params)

    def t_code(key: str, /, **params: object) -> Markup:
        """A message whose {placeholders} are commands or file columns, each shown in <code>."""
        text = str(escape(translate(lang, key)))
        return Markup(_CODE_PLACEHOLDER.sub(lambda m: str(Markup("<code>{}</code>").format(params[m.group(1)])), text))

    html = _templates.get_template(template).render(
        lang=lang,
        t_code=t_code,
        other_languages=[code for code in LANGUAGES if code != lang],
        t=t,
        t_in=lambda code, key, /, **params: translate(code, key, **params),
        loc=lambda value: localized(value, lang),
        title=t(title),
        section=section,
        here=quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/"),
        messages=messages_for(lang),
        sri=sri,
        import_map=IMPORT_MAP,
        **context,
    )
    headers = {"Cache-Control": "no-store"}
    connect = list(connect)
    if connect:
        headers["Content-Security-Policy"] = content_security_policy(connect)
    return Response(
        html,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=headers,
    )


def _election_id(value: str) -> str:
    if not _ELECTION_ID.fullmatch(value):
        raise NotFound("no such election", code="election_not_found")
    return value


def _error_page(request: Request, exc: Exception) -> Response:
    """Refusals as a page in the reader's language (the API keeps its problem details)."""
    cause = None
    if isinstance(exc, ServiceError):
        status, code, detail = exc.status, exc.code, exc.detail
    elif isinstance(exc, HTTPException):
        status, code, detail = exc.status_code, "malformed_request" if exc.status_code == 400 else "http_error", str(exc.detail)
    elif (outage := unavailable(exc)) is not None:
        status, (code, detail, cause) = 503, outage  # one log line (the access line), no traceback
    else:
        log.error("unhandled error on page %s", request.url.path, exc_info=exc)
        status, code, detail = 500, "internal_error", "internal error"
    if not note_refusal(code, detail, cause) and cause:
        log.warning("%s on page %s: %s", code, request.url.path, cause)
    title = "error.not_found_title" if status == 404 else "error.title"
    # The reason in the reader's language: the code's catalogue message, never the service's English detail.
    reason = f"error.code.{code}"
    if reason not in catalogue():
        reason = "error.page_not_found" if status == 404 else "error.generic"
    response = render(request, "error.html", title=title, status_code=status, reason=reason, code=code)
    response.headers.update(SECURITY_HEADERS)
    return response


#: Where programs ask (the API, its schema, metrics, the pages' files): an unknown
#: address there keeps the API's JSON 404; anywhere else a person typed or followed it.
_MACHINE_PATHS = ("/api/", "/schema", "/metrics", "/static/")


def is_page_path(path: str) -> bool:
    return not any(path == prefix.rstrip("/") or path.startswith(prefix) for prefix in _MACHINE_PATHS)


def page_or_problem(problem_handler: Callable[[Request, HTTPException], Response]) -> Callable[[Request, HTTPException], Response]:
    """An app-wide handler for an unknown address (Litestar's router 404): the
    error page, in the reader's language and with the pages' security headers,
    outside the API; ``problem_handler`` (the API's JSON) under it."""

    def handle(request: Request, exc: HTTPException) -> Response:
        return _error_page(request, exc) if is_page_path(request.url.path) else problem_handler(request, exc)

    return handle


class PageController(Controller):
    path = "/"
    include_in_schema = False
    response_headers = [ResponseHeader(name=k, value=v) for k, v in SECURITY_HEADERS.items()]
    exception_handlers = {ServiceError: _error_page, HTTPException: _error_page, Exception: _error_page}

    # -- everyone ---------------------------------------------------------------------

    @get("/")
    async def home(self, request: Request) -> Response:
        return render(request, "home.html", title="home.title", section="home")

    @get("/lang/{code:str}")
    async def switch_language(
        self, code: str, next_path: Annotated[str, QueryParameter(name="next", max_length=2000)] = "/"
    ) -> Redirect:
        """Set the language cookie and go back; only local paths are followed."""
        if code not in LANGUAGES:
            raise NotFound("no such language", code="language_not_found")
        target = next_path if _LOCAL_PATH.fullmatch(next_path) else "/"
        return Redirect(
            target,
            status_code=303,
            cookies=[Cookie(key=LANGUAGE_COOKIE, value=code, max_age=365 * 24 * 3600, path="/", samesite="lax", httponly=True)],
        )

    @get("/login")
    async def login(self, request: Request) -> Response:
        return render(request, "login.html", title="login.title", section="login")

    @get("/enroll")
    async def enroll(self, request: Request) -> Response:
        """Enroll the card in this computer (TLS client certificate) with a one-time code."""
        return render(request, "enroll.html", title="enroll.title", section="login")

    @get("/receipt/check")
    async def receipt_check(self, request: Request, services: Services) -> Response:
        # Any election's receipt may be checked here: its witnesses' logs may be asked.
        async with services.database.read() as db:
            manifests = [json.loads(text) for text in await db.scalars(select(Election.manifest))]
        response = render(request, "receipt_check.html", title="check.title", section="check", connect=witness_origins(manifests))
        response.headers["Permissions-Policy"] = CAMERA_PERMISSIONS_POLICY
        return response

    @get("/elections/{election_id:str}/results")
    async def results(self, request: Request, services: Services, election_id: str) -> Response:
        async with services.database.read() as db:
            status = await services.elections.status(db, _election_id(election_id))
        lang = language_of(request)
        return render(
            request, "results.html", title="results.title", section="audit",
            election=status, charts=views.result_charts(status, lang), turnout=views.turnout(status), bar_max=views.BAR_MAX,
        )

    # -- voters ---------------------------------------------------------------------------

    @get("/vote")
    async def vote_list(self, request: Request) -> Response:
        return render(request, "vote_list.html", title="vote.list_title", section="vote")

    @get("/vote/{election_id:str}")
    async def ballot(self, request: Request, services: Services, election_id: str) -> Response:
        async with services.database.read() as db:
            status = await services.elections.status(db, _election_id(election_id))
        return render(
            request, "ballot.html", title="ballot.title", section="vote",
            election=status, questions=views.ballot_questions(status), schedule=views.schedule(status),
        )

    @get("/vote/{election_id:str}/receipt")
    async def receipt(self, request: Request, services: Services, election_id: str) -> Response:
        async with services.database.read() as db:
            status = await services.elections.status(db, _election_id(election_id))
        return render(
            request, "receipt.html", title="receipt.title", section="vote", election=status, connect=witness_origins([status["manifest"]])
        )

    # -- administrators --------------------------------------------------------------------

    @get("/admin")
    async def admin_list(self, request: Request) -> Response:
        return render(request, "admin_list.html", title="admin.list_title", section="admin")

    @get("/admin/new")
    async def admin_new(self, request: Request) -> Response:
        return render(request, "admin_new.html", title="create.title", section="admin")

    @get("/admin/enrollments")
    async def admin_enrollments(self, request: Request) -> Response:
        """Card enrollment: codes, the enrolled cards, revocation."""
        return render(request, "admin_enrollments.html", title="cards.title", section="admin")

    @get("/admin/{election_id:str}")
    async def admin_election(self, request: Request, services: Services, election_id: str) -> Response:
        async with services.database.read() as db:
            status = await services.elections.status(db, _election_id(election_id))
        return render(
            request, "admin_election.html", title="manage.title", section="admin",
            election=status, steps=views.STEPS, schedule=views.schedule(status),
        )

    # -- trustees: the key ceremony and the decryption in the browser -------------------------------------

    @get("/trustee")
    async def trustee_list(self, request: Request) -> Response:
        return render(request, "trustee_list.html", title="trustee.list_title", section="trustee")

    @get("/trustee/open")
    async def trustee_open(self, election_id: Annotated[str, QueryParameter(name="id", max_length=200)] = "") -> Redirect:
        """The list page's election-id form (a plain GET, no script needed)."""
        return Redirect(f"/trustee/{_election_id(election_id.strip())}", status_code=303)

    @get("/trustee/{election_id:str}")
    async def trustee(self, request: Request, services: Services, election_id: str) -> Response:
        async with services.database.read() as db:
            status = await services.elections.status(db, _election_id(election_id))
        return render(request, "trustee.html", title="trustee.title", section="trustee", election=status)

    # -- auditors ------------------------------------------------------------------------------

    @get("/audit")
    async def audit_home(self, request: Request, election: str | None = Parameter(default=None, max_length=64)) -> Response:
        if election:
            if _ELECTION_ID.fullmatch(election.strip()):
                return Redirect(f"/audit/{election.strip()}", status_code=303)
            return render(request, "audit_home.html", title="audit.title", section="audit", error=True, status_code=400)
        return render(request, "audit_home.html", title="audit.title", section="audit", error=False)

    @get("/audit/{election_id:str}")
    async def board(
        self,
        request: Request,
        services: Services,
        election_id: str,
        start: int = Parameter(default=0, ge=0),
        code: str | None = Parameter(default=None, max_length=80),
    ) -> Response:
        election_id = _election_id(election_id)
        search = None
        async with services.database.read() as db:
            status = await services.elections.status(db, election_id)
            size = status["board_size"]
            if code is not None:
                search = await views.search_tracking_code(db, election_id, code)
                if search.indices:
                    start = search.indices[0] // PAGE_SIZE * PAGE_SIZE
            entries = await services.board.entries(db, election_id, start, PAGE_SIZE)
            head = (await services.board.head(db, election_id)).to_json() if size else None
        lang = language_of(request)
        return render(
            request, "audit_board.html", title="board.title", section="audit",
            election=status, head=head, server_key=services.key.public_bytes.hex(),
            rows=[views.board_row(e, lang) for e in entries], page=views.page(start, PAGE_SIZE, size),
            search=search, code=code or "",
        )

    @get("/audit/{election_id:str}/heads")
    async def heads(self, request: Request, services: Services, election_id: str, start: int = Parameter(default=1, ge=1)) -> Response:
        election_id = _election_id(election_id)
        async with services.database.read() as db:
            status = await services.elections.status(db, election_id)
            heads = await services.board.heads(db, election_id, start, PAGE_SIZE)
        size = status["board_size"]
        return render(
            request, "audit_heads.html", title="heads.title", section="audit",
            election=status, heads=[views.head_row(h) for h in heads], server_key=services.key.public_bytes.hex(),
            page=views.page(start - 1, PAGE_SIZE, size), start=start,
        )


@get("/api/web-bundle-hash", tags=["service"], summary="SHA-384 of every file of the web pages' code, and of the whole bundle")
async def web_bundle_hash() -> WebBundleHash:
    """What auditors compare with the hashes of a release (docs/web.md, "Subresource
    Integrity and the web bundle's hash"). A server could answer this honestly and
    serve voters other code, so auditors also fetch the pages as voters do."""
    return WebBundleHash(
        algorithm="sha384",
        bundle=BUNDLE_HASH,
        files={path[1:]: hashlib.sha384(data).hexdigest() for path, data in _BUNDLE.items()},
        import_map_sha256=IMPORT_MAP_CSP.strip("'").removeprefix("sha256-"),
    )


def _static_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


WEB_HANDLERS: list[ControllerRouterHandler] = [
    PageController,
    web_bundle_hash,
    create_static_files_router(
        "/static",
        directories=[STATIC],
        name="web-static",
        include_in_schema=False,
        after_request=_static_headers,
        # Revalidate every time (ETag): a new release's modules are never mixed with cached old ones.
        cache_control=CacheControlHeader(no_cache=True),
    ),
]
