"""Local stand-ins for what notifications talk to: an HTTP receiver (webhook, Slack,
Telegram's Bot API) served by uvicorn on 127.0.0.1, and an aiosmtpd SMTP server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeHttp:
    """Records every POST; answers ``status`` after ``delay`` seconds. A path ending in a
    Bot API method (``/bot<token>/sendMessage``) gets a Bot API answer."""

    status: int = 200
    delay: float = 0.0
    #: When given, every request waits until it is set (a channel that hangs until the
    #: test lets it answer); ``answered`` counts the requests that got their answer.
    hold: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    answered: int = 0
    next_message_id: int = 100

    def by_method(self, method: str) -> list[dict[str, Any]]:
        return [r.json() for r in self.received if r.path.endswith(f"/{method}")]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(
            Received(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body)
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait, 120)
        self.answered += 1
        if self.status >= 300:
            return JSONResponse({"ok": False, "description": "fake failure"}, self.status)
        if "/bot" in request.url.path:
            self.next_message_id += 1
            payload = json.loads(body or b"{}")
            result: Any = True
            if request.url.path.endswith("/sendMessage"):
                result = {
                    "message_id": self.next_message_id,
                    "chat": {"id": payload.get("chat_id")},
                    "text": payload.get("text", ""),
                }
            return JSONResponse({"ok": True, "result": result})
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def fake_http(**kwargs: Any) -> Iterator[tuple[FakeHttp, str]]:
    fake = FakeHttp(**kwargs)
    with serve_asgi(fake.app()) as base:
        yield fake, base


@dataclass
class MailBox:
    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes

        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[MailBox, int]]:
    """An aiosmtpd server on a free loopback port (no TLS); yields its mailbox and port."""
    from aiosmtpd.controller import Controller

    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
