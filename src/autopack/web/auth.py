"""Dashboard sign-in and cross-site request protection.

The dashboard uses the API's keys: a key entered once on the login page becomes a signed,
HTTP-only, ``SameSite=Strict`` session cookie holding the key's SHA-256 (never the key),
checked against the configured and stored keys on every request, so revoking the key
ends the session (and so does disabling the key's user). A session carries the same
:class:`~autopack.domain.access.Principal` as the key (identity and role), and every page
and form is authorized by the API's access table (:func:`autopack.api.access.authorize`):
a form the caller's role cannot use is refused with a 403 page. With no key configured
on a loopback server there is no login, as for the API. Every form carries a CSRF token
that must equal the (signed) ``autopack_csrf`` cookie (double submit); the origin guard
(``api/origin_guard.py``) refuses other sites' requests before this as well.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session, sessionmaker

from autopack.api.access import authorize
from autopack.api.deps import presented_key
from autopack.db.session import unit_of_work
from autopack.domain.access import Principal
from autopack.errors import AutopackError
from autopack.services import apikeys
from autopack.settings import Settings
from autopack.signing_key import load_secret as load_secret

SESSION_COOKIE = "autopack_session"
CSRF_COOKIE = "autopack_csrf"
SESSION_MAX_AGE = 7 * 24 * 3600


class LoginRequired(AutopackError):
    """A page was asked for without a valid session: the handler redirects to login."""

    code = "login_required"


class CsrfRejected(AutopackError):
    """A form arrived without the CSRF token its cookie vouches for."""

    code = "csrf_rejected"


def _serializer(request: Request, salt: str) -> URLSafeTimedSerializer:
    # Read on first use, not when the app is built: building an app (for its OpenAPI
    # document, say) must not write to the data dir.
    secret: bytes | None = getattr(request.app.state, "web_secret", None)
    if secret is None:
        secret = load_secret(request.app.state.settings.home)
        request.app.state.web_secret = secret
    return URLSafeTimedSerializer(secret, salt=salt)


def _login_needed(session: Session, settings: Settings) -> bool:
    return (
        bool(settings.plain_api_keys())
        or not settings.is_loopback
        or (apikeys.any_active_key(session))
    )


def identify(request: Request) -> Principal:
    """The caller: ``local`` (an admin) on a keyless loopback server, else the principal of
    the API key headers or of the session cookie. Raises LoginRequired otherwise."""
    settings: Settings = request.app.state.settings
    factory: sessionmaker[Session] = request.app.state.session_factory
    configured = settings.plain_api_keys()
    presented = presented_key(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    with unit_of_work(factory) as session:
        if not _login_needed(session, settings):
            return apikeys.LOCAL_PRINCIPAL
        if presented:
            principal = apikeys.authenticate_key(session, presented, configured)
            if principal is not None:
                return principal
        if cookie:
            try:
                data: Any = _serializer(request, "session").loads(cookie, max_age=SESSION_MAX_AGE)
                key_hash = str(data.get("h", "")) if isinstance(data, dict) else ""
            except BadSignature:
                key_hash = ""
            principal = apikeys.authenticate_key_hash(session, key_hash, configured)
            if principal is not None:
                return principal
    raise LoginRequired("sign in with an API key to use the dashboard", next=request.url.path)


def check_key(request: Request, key: str) -> str | None:
    """The identity of ``key`` if it is a valid API key (for the login form)."""
    settings: Settings = request.app.state.settings
    factory: sessionmaker[Session] = request.app.state.session_factory
    with unit_of_work(factory) as session:
        return apikeys.identify_api_key(session, key, settings.plain_api_keys())


def session_cookie_value(request: Request, key: str) -> str:
    """The signed session cookie for ``key``."""
    return _serializer(request, "session").dumps({"h": apikeys.hash_key(key)})


def csrf_token(request: Request) -> str:
    """The CSRF token for this browser's forms: the one its cookie holds, or a new one
    (``render`` sets the cookie when it is new)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie:
        try:
            token = str(_serializer(request, "csrf").loads(cookie))
            return token
        except BadSignature:
            pass
    existing = getattr(request.state, "csrf_new", None)
    if existing:
        return str(existing)
    token = secrets.token_urlsafe(24)
    request.state.csrf_new = token
    return token


def csrf_cookie_value(request: Request, token: str) -> str:
    return _serializer(request, "csrf").dumps(token)


def require_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Refuse a form whose ``csrf`` field does not match the browser's CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    expected = ""
    if cookie:
        try:
            expected = str(_serializer(request, "csrf").loads(cookie))
        except BadSignature:
            expected = ""
    if not expected or not hmac.compare_digest(expected, csrf):
        raise CsrfRejected(
            "the form's CSRF token is missing or stale; reload the page and submit it again"
        )


def page_principal(
    request: Request, principal: Annotated[Principal, Depends(identify)]
) -> Principal:
    """The dashboard's authorization dependency: the signed-in caller, let through only
    with the role the access table gives the page or form (a 403 page otherwise). The
    caller is also kept on ``request.state`` so pages can hide what it cannot use."""
    request.state.principal = principal
    request.state.identity = principal.identity
    return authorize(principal, request)


#: The signed-in caller, authorized for the page or form it asks for.
Identity = Annotated[Principal, Depends(page_principal)]
CsrfChecked = Depends(require_csrf)
