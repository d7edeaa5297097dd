"""Liveness, readiness and metrics, for a load balancer and a monitoring system.

``/api/health``: the process answers (restart it if not). ``/api/ready``: it
can serve (the database answers, logins can be checked, the host matches the
board), else 503 with one line per reason; take it out of the pool meanwhile.
``/metrics``: Prometheus text format (voting.observability). The checks are
cached for a few seconds, so frequent polling costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from litestar import Response, get
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import select, text

from voting.db.models import BoardState
from voting.errors import unavailable
from voting.observability import registry
from voting.startup import startup_problems
from voting.wire.service import Health, Ready

log = logging.getLogger("voting.health")

#: How long a readiness verdict and the board sizes are reused.
CACHE_S = 5.0
#: Prometheus's text format (Litestar adds the charset).
METRICS_MEDIA_TYPE = "text/plain; version=0.0.4"
#: How long the database may take to answer ``SELECT 1``.
DATABASE_TIMEOUT_S = 2.0


@get("/api/health", tags=["service"], summary="Liveness: the process answers")
async def health() -> Health:
    return Health(ok=True)


class Readiness:
    """The reasons the service cannot serve now (empty: ready), cached."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self._lock = asyncio.Lock()
        self._until = 0.0
        self._reasons: list[str] | None = None

    async def reasons(self) -> list[str]:
        async with self._lock:
            if time.monotonic() >= self._until:
                reasons = await self._check()
                if reasons != self._reasons and (reasons or self._reasons is not None):
                    # Once per change, not per poll (the probe's access lines are debug).
                    if reasons:
                        log.warning("not ready: %s", "; ".join(reasons), extra={"event": "not_ready", "reasons": reasons})
                    else:
                        log.info("ready", extra={"event": "ready"})
                self._reasons = reasons
                self._until = time.monotonic() + CACHE_S
            return self._reasons or []

    async def _check(self) -> list[str]:
        database = await self._database()
        reasons = [database] if database else []
        reasons += self._trust()
        reasons += self._key_file()
        if not database:
            reasons += await self._startup()
        return reasons

    async def _database(self) -> str | None:
        async def ping() -> None:
            async with self.services.database.read() as db:
                await db.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(ping(), DATABASE_TIMEOUT_S)
        except TimeoutError:
            return f"the database did not answer within {DATABASE_TIMEOUT_S:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; said in one line
            outage = unavailable(exc)
            return f"the database does not answer ({outage[2] if outage else type(exc).__name__})"
        return None

    def _trust(self) -> list[str]:
        reason = self.services.auth.trust.readiness()
        return [reason] if reason else []

    def _key_file(self) -> list[str]:
        """The key file on disk is still the key this process signs with (a
        rotation while the service ran would leave them apart)."""
        path = self.services.settings.signing_key_path
        try:
            on_disk = serialization.load_pem_private_key(path.read_bytes(), password=None).public_key()
            same = on_disk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == self.services.key.public_bytes
        except (OSError, ValueError, TypeError, AttributeError):
            same = False
        if same:
            return []
        return [
            "the server key file is no longer the key this service signs with (was it rotated or replaced while the "
            "service ran?): put the key back, or stop the service (docs/operations.md, Rotating the server key)"
        ]

    async def _startup(self) -> list[str]:
        try:
            now_ms = int(time.time() * 1000)
            skew = self.services.settings.max_clock_skew_s
            return await startup_problems(self.services.database, self.services.key, now_ms=now_ms, max_clock_skew_s=skew)
        except Exception as exc:  # noqa: BLE001 - not ready either way; said in one line
            outage = unavailable(exc)
            return [f"the start-up checks could not run ({outage[2] if outage else type(exc).__name__})"]


class ServiceGauges:
    """The gauges read at scrape time by the process that answers it (the same
    for every worker): each election's board size (one cheap query, cached)
    and the age of the CRL held."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self._until = 0.0
        self._sizes: list[tuple[str, int]] = []

    async def exposition(self) -> bytes:
        if time.monotonic() >= self._until:
            self._until = time.monotonic() + CACHE_S
            try:
                async with self.services.database.read() as db:
                    self._sizes = [tuple(row) for row in await db.execute(select(BoardState.election_id, BoardState.size))]
            except Exception as exc:
                if unavailable(exc) is None:
                    raise
                # /api/ready says so; the sizes keep their last values
        board = GaugeMetricFamily("voting_board_entries", "Entries on each election's bulletin board", labels=["election"])
        for election_id, size in self._sizes:
            board.add_metric([election_id], size)
        families = [board]
        age = self.services.auth.trust.crl_age_s()
        if age is not None:
            families.append(GaugeMetricFamily("voting_crl_age_seconds", "Age of the CRL held (since its thisUpdate)", value=age))
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(_Collected(families))
        return generate_latest(scrape)


class _Collected:
    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self) -> list:
        return self.families


def health_handlers(services: Any) -> list:
    """The route handlers of liveness, readiness and metrics for one app."""
    readiness = Readiness(services)
    gauges = ServiceGauges(services)

    @get("/api/ready", tags=["service"], summary="Readiness: 200 when the service can serve, else 503 with the reasons")
    async def ready() -> Response[Ready]:
        reasons = await readiness.reasons()
        if reasons:
            return Response(Ready(ready=False, reasons=reasons), status_code=503)
        return Response(Ready(ready=True), status_code=200)

    @get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body = generate_latest(registry()) + await gauges.exposition()
        return Response(body, media_type=METRICS_MEDIA_TYPE)

    return [health, ready, metrics]
