"""The reachability probe asks a provider once per TTL, and never remembers a failure."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from autopack.llm.preflight import ReachableCache, http_probe


class _Counting(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(401)  # a provider without our key still proves it is there
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    _Counting.hits = 0
    server = HTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_an_answer_is_remembered_until_the_ttl_passes(server_url: str) -> None:
    now = [0.0]
    cache = ReachableCache(ttl=60.0, clock=lambda: now[0])
    assert http_probe(server_url, cache=cache) is None
    assert http_probe(server_url, cache=cache) is None
    assert _Counting.hits == 1
    now[0] = 61.0
    assert http_probe(server_url, cache=cache) is None
    assert _Counting.hits == 2
    assert http_probe(server_url, cache=None) is None
    assert _Counting.hits == 3


def test_a_failure_is_not_remembered() -> None:
    cache = ReachableCache(ttl=60.0, clock=lambda: 0.0)
    url = _closed_port_url()
    assert http_probe(url, timeout=2.0, cache=cache)
    assert not cache.fresh(url)
    assert http_probe(url, timeout=2.0, cache=cache)
