"""A malicious server stand-in: a real HTTP server on its own loopback port that
relays every request to the real server and lets a test rewrite what passes.

The unmodified clients (the CLI's ``Client``, the web pages in chromium) talk to
it as to any server. A test plays the attacker by installing hooks:

- ``on_request(request) -> Reply | None``: answer by itself instead of relaying;
- ``on_response(request, reply) -> Reply``: change the real server's answer.

``Request`` and ``Reply`` hold the decoded JSON where there is some, so a hook
edits dicts, not bytes.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import uvicorn

from tests.support import free_port

_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)

    def with_json(self, doc: object) -> Reply:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "etag"}
        return Reply(self.status, headers, json.dumps(doc).encode())


@dataclass
class Mitm:
    upstream: str
    on_request: Callable[[Request], Reply | None] | None = None
    on_response: Callable[[Request, Reply], Reply] | None = None
    requests: list[Request] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request = Request(scope["method"], scope["path"], scope["query_string"].decode(), headers, body)
        self.requests.append(request)
        # Hooks run in a thread: one may call the server (through this stand-in too).
        reply = await asyncio.to_thread(self.on_request, request) if self.on_request else None
        if reply is None:
            reply = await asyncio.to_thread(self._relay, request)
            if self.on_response:
                reply = await asyncio.to_thread(self.on_response, request, reply)
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items() if k.lower() not in _HOP_HEADERS]
        out.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": out})
        await send({"type": "http.response.body", "body": reply.body})

    def _relay(self, request: Request) -> Reply:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        url = self.upstream + request.path + (f"?{request.query}" if request.query else "")
        response = httpx.request(request.method, url, headers=headers, content=request.body, timeout=120)
        return Reply(response.status_code, dict(response.headers), response.content)

    def start(self) -> Mitm:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                return self
            threading.Event().wait(0.05)
        raise RuntimeError("the stand-in server did not start")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)

    def __enter__(self) -> Mitm:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
