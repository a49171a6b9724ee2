"""The server answers only for itself: the Host check and the cross-site check, in one place.

A keyless ``autopack serve`` on loopback trusts whoever can reach it, and a browser can
reach it on behalf of any web page. Two attacks follow, and one middleware stops both:

* **DNS rebinding**: a page on ``evil.example`` re-points its own name at 127.0.0.1 and
  then talks to the server as a same-origin page. The browser still sends
  ``Host: evil.example``, so a request whose ``Host`` is not a name this server is bound
  to or configured for (``AUTOPACK_ALLOWED_HOSTS``) is refused with 421 Misdirected
  Request.
* **Cross-site requests** (CSRF): a page elsewhere posts a form or a ``fetch`` to
  ``http://127.0.0.1:8000/runs``. A state-changing request (POST, PUT, PATCH, DELETE)
  whose ``Origin`` is not this server's own origin nor a configured one
  (``AUTOPACK_ALLOWED_ORIGINS``), or that carries ``Sec-Fetch-Site: cross-site`` and no
  Origin, is refused with 403.

Both checks run before authentication, so they hold with and without API keys. Clients
that are not browsers (the CLI, scripts, curl) send no Origin and no Sec-Fetch-Site and
are unaffected. FastAPI's TrustedHostMiddleware is not used: it answers 400 in plain
text, and every error of this API is a problem document.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from autopack.api.problems import problem
from autopack.settings import LOOPBACK_HOSTS, Settings

#: Methods that change state; a cross-site page may not send these.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Bind addresses that mean "every interface": no address of the server is known from them.
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(value: str) -> tuple[str, int | None] | None:
    """``"Example.com:8000"`` -> ``("example.com", 8000)``; ``"[::1]"`` -> ``("::1", None)``.

    None when the value is not a host with an optional numeric port. A trailing dot (the
    fully qualified form of a name) is dropped: ``localhost.`` is ``localhost``.
    """
    value = value.strip().lower()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else ""
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        # No colon, or several: a bare IPv6 address, as settings write it.
        host, port_text = value, ""
    host = host.rstrip(".")
    if not host or (port_text and not (port_text.isdigit() and int(port_text) <= 65535)):
        return None
    return host, int(port_text) if port_text else None


def format_host(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


@dataclass(frozen=True)
class HostPolicy:
    """The Host values a server answers.

    ``exact`` holds (host, port) pairs, where port None means a Host header without a
    port; ``any_port`` holds names configured without a port, which match on every port;
    ``anything`` is the explicit opt-out (``AUTOPACK_ALLOWED_HOSTS=*``), for a server
    behind a proxy that checks Host itself.
    """

    exact: frozenset[tuple[str, int | None]]
    any_port: frozenset[str]
    anything: bool = False

    @classmethod
    def for_settings(
        cls, settings: Settings, *, machine_names: list[str] | None = None
    ) -> HostPolicy:
        """The bound address with and without its port (all loopback names when bound to
        loopback; the machine's own names when bound to every interface), plus the
        configured hosts."""
        bound = settings.host.strip().lower().strip("[]")
        if bound in LOOPBACK_HOSTS:
            names = set(LOOPBACK_HOSTS)
        elif bound in WILDCARD_BINDS:
            names = set(LOOPBACK_HOSTS)
            found = machine_names if machine_names is not None else _machine_names()
            names.update(n.lower() for n in found if n)
        else:
            names = {bound}
        exact = {(name, port) for name in names for port in (settings.port, None)}
        any_port: set[str] = set()
        anything = False
        for entry in settings.allowed_hosts:
            if entry == "*":
                anything = True
                continue
            parsed = split_host(entry)
            if parsed is None:
                continue  # an unusable entry matches nothing; it cannot open the server
            name, port = parsed
            if port is None:
                any_port.add(name)
            else:
                exact.add((name, port))
        return cls(frozenset(exact), frozenset(any_port), anything)

    def allows(self, host_header: str) -> bool:
        if self.anything:
            return True
        parsed = split_host(host_header)
        if parsed is None:
            return False
        return parsed in self.exact or parsed[0] in self.any_port

    def described(self) -> list[str]:
        """The allowed values, for the error a refused client reads."""
        shown = {format_host(h, p) for h, p in self.exact} | {f"{h}:*" for h in self.any_port}
        return sorted(shown)


def _machine_names() -> list[str]:
    # gethostname() is local; getfqdn() may ask DNS, which a server start must not wait on.
    return [socket.gethostname()]


def normalize_origin(origin: str) -> str | None:
    """``"HTTP://Localhost:80/"`` -> ``"http://localhost"``: scheme, host and a port only
    when it is not the scheme's default. None when the value is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = format_host(parts.hostname.rstrip("."), None)
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}:{port}"
    return f"{parts.scheme}://{host}"


class OriginGuardMiddleware:
    """Refuse foreign Host headers (421) and cross-site state changes (403), as problem
    documents with the request id. Plain ASGI, for the reason AccessLogMiddleware gives."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = HostPolicy.for_settings(settings)
        self.origins = frozenset(
            o for o in (normalize_origin(v) for v in settings.allowed_origins) if o
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._host_refusal(headers.get("host"))
        if refusal is None and scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            refusal = self._origin_refusal(scope, headers)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        status, code, detail, extra = refusal
        request_id = scope.get("state", {}).get("request_id")
        response = problem(None, status, code, detail, request_id=request_id, **extra)
        await response(scope, receive, send)

    def _host_refusal(self, host: str | None) -> tuple[int, str, str, dict[str, object]] | None:
        if host is not None and self.hosts.allows(host):
            return None
        named = f"host {host!r}" if host is not None else "a request without a Host header"
        return (
            421,
            "misdirected_request",
            f"this server does not answer for {named}; it answers "
            f"{', '.join(self.hosts.described())}. If {host or 'that name'} is a name of "
            "this server, add it to AUTOPACK_ALLOWED_HOSTS (comma-separated; a name "
            "without a port allows every port) and restart.",
            {"host": host, "allowed_hosts": self.hosts.described()},
        )

    def _origin_refusal(
        self, scope: Scope, headers: dict[str, str]
    ) -> tuple[int, str, str, dict[str, object]] | None:
        origin = headers.get("origin")
        if origin is None:
            if headers.get("sec-fetch-site", "").strip().lower() != "cross-site":
                return None  # not a browser, or the browser says the page is our own
            return (
                403,
                "cross_site_request",
                f"{scope['method']} requests from another site's page are refused (the "
                "browser sent Sec-Fetch-Site: cross-site without an Origin); send them "
                "from this server's own pages or from a client that is not a browser",
                {},
            )
        normalized = normalize_origin(origin)
        own = normalize_origin(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")
        if normalized is not None and (normalized == own or normalized in self.origins):
            return None
        return (
            403,
            "cross_site_request",
            f"{scope['method']} requests from pages of origin {origin!r} are refused: it "
            "is not this server's own origin. If that site is yours and may change runs "
            f"here, add {normalized or origin!r} to AUTOPACK_ALLOWED_ORIGINS "
            "(comma-separated) and restart.",
            {"origin": origin},
        )
