"""The dashboard served for real: uvicorn in a thread on a free port, against a temporary
home and the scripted provider, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from autopack.api.app import create_app
from autopack.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Where screenshots go: AUTOPACK_TEST_SCREENSHOTS, else tests/.artifacts/screenshots.
SCREENSHOTS = Path(
    os.environ.get(
        "AUTOPACK_TEST_SCREENSHOTS",
        str(Path(__file__).resolve().parent.parent / ".artifacts" / "screenshots"),
    )
)

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(settings: Settings, script: Path) -> Iterator[str]:
    """Run the app (API and dashboard) on a free loopback port with the scripted provider;
    yields its base URL and stops it afterwards."""
    port = free_port()
    cfg = settings.model_copy(
        update={
            "host": "127.0.0.1",
            "port": port,
            "allowed_hosts": ["127.0.0.1"],
            "llm_provider": "scripted",
            "llm_script": script,
        }
    )
    app = create_app(cfg)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        app.state.executor_pool.shutdown()


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot under SCREENSHOTS and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
