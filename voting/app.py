"""The app factory: wires settings, services and controllers."""

from __future__ import annotations

import swagger_ui_bundle
from litestar import Litestar, get
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from voting.auth.api import AuthController, EnrollmentController, provide_principal
from voting.auth.client_certificate import ClientCertificateController
from voting.ballots.api import AuditController, BallotController
from voting.board.api import BoardController
from voting.elections.api import ElectionController
from voting.health import health_handlers
from voting.maintenance import start_purging
from voting.observability import instrument
from voting.problems import EXCEPTION_HANDLERS, ApiRequest, document_problems
from voting.record.api import RecordController
from voting.security import add_security_headers, refuse_nul_characters
from voting.services import Services
from voting.settings import Settings
from voting.tally.api import TallyController
from voting.web import WEB_HANDLERS
from voting.web.pages import page_or_problem
from voting.wire.service import ServerKey

MAX_BODY_BYTES = 8 * 1024 * 1024
SWAGGER_ASSETS = "/schema-assets"


@get("/api/server-key", tags=["service"], summary="The server's Ed25519 public key (tree heads, receipts)")
async def server_key(services: Services) -> ServerKey:
    return ServerKey(server_key=services.key.public_bytes.hex())


def create_app(settings: Settings | None = None, services: Services | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    services = services or Services.build(settings)

    async def startup() -> None:
        """Never waits for the database: a worker (re)started while it is down
        starts, and answers 503 until it is back. The schema is migrated before
        any worker starts (``voting db upgrade``, ``voting serve``)."""
        start_purging(services.database, settings)
        services.auth.trust.start(services.database)  # the CRLs, refreshed in the background

    async def shutdown() -> None:
        await services.auth.trust.stop()
        await services.database.close()

    app = Litestar(
        route_handlers=[
            *health_handlers(services),
            server_key,
            AuthController,
            EnrollmentController,
            ClientCertificateController,
            ElectionController,
            BallotController,
            AuditController,
            BoardController,
            TallyController,
            RecordController,
            create_static_files_router(SWAGGER_ASSETS, directories=[swagger_ui_bundle.swagger_ui_path], include_in_schema=False),
            *WEB_HANDLERS,
        ],
        dependencies={
            "services": Provide(lambda: services, sync_to_thread=False),
            "principal": Provide(provide_principal),
        },
        # An unknown address outside the API is a person's: the HTML error page (docs/web.md).
        exception_handlers={**EXCEPTION_HANDLERS, NotFoundException: page_or_problem(EXCEPTION_HANDLERS[HTTPException])},
        request_class=ApiRequest,
        before_request=refuse_nul_characters,
        before_send=[add_security_headers],
        on_startup=[startup],
        on_shutdown=[shutdown],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(
            title="City hall voting pilot",
            version="1",
            path="/schema",
            # Served from the swagger-ui-bundle package: the city hall network may have no internet.
            render_plugins=[
                SwaggerRenderPlugin(
                    js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
                    css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
                    standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
                    favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_ASSETS}/favicon-32x32.png'>",
                    path=["/", "/swagger"],
                )
            ],
        ),
    )
    document_problems(app)
    instrument(app, settings.body_timeout_s)
    return app
