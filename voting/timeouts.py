"""The request-head timeout uvicorn lacks.

uvicorn closes a keep-alive connection that stays idle, but a connection that
sends nothing, or a request head that never ends (slow-loris), stays open for
ever and holds a file descriptor and a slot. ``TimedHTTPProtocol`` is uvicorn's
own HTTP protocol with one timer: armed when a connection opens and after each
response, cancelled once a complete request head arrived; when it fires the
connection is closed. The body has its own deadline in the app
(voting.observability, ``VOTING_BODY_TIMEOUT_S``), answered 408.

``voting serve`` passes it to uvicorn (voting.observability.uvicorn_options);
plain uvicorn takes it as ``--http voting.timeouts:TimedHTTPProtocol``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = logging.getLogger("voting.http")


class TimedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]  # httptools' or h11's protocol
    def __init__(self, *args: Any, header_timeout_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if header_timeout_s is None:
            header_timeout_s = float(os.environ.get("VOTING_HEADER_TIMEOUT_S", "10"))
        self.header_timeout_s = header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False
        """some bytes of the awaited request head arrived"""

    def _awaiting_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._head_started = False
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_started:
            client = self.client[0] if self.client else ""
            log.info(
                "closed a connection whose request head did not arrive within %g s", self.header_timeout_s,
                extra={"event": "header_timeout", "client": client},
            )
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is None:
            return
        if self._awaiting_head():
            self._head_started = True
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._awaiting_head():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
