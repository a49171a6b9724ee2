"""Rendering helpers: the Jinja2 environment, the CSRF cookie, and diffs highlighted by
Pygments (unified, or side by side)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from autopack import __version__
from autopack.domain.access import Principal, Role
from autopack.web.auth import CSRF_COOKIE, csrf_cookie_value, csrf_token

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
#: Beyond this many lines a diff is shown cut, with a note (a page must stay readable).
MAX_DIFF_LINES = 4000


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render ``template`` with the CSRF token, the signed-in identity and role, and
    ``can(role)`` (may the caller use what needs ``role``? Forms the caller cannot use
    are left out; the server refuses them anyway); sets the CSRF cookie when this browser
    had none."""
    token = csrf_token(request)
    principal: Principal | None = getattr(request.state, "principal", None)

    def can(needed: str) -> bool:
        return principal is not None and principal.may(Role(needed))

    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "csrf": token,
            "identity": getattr(request.state, "identity", None),
            "role": principal.role.value if principal is not None else None,
            "can": can,
            "version": __version__,
            **context,
        },
        status_code=status_code,
    )
    if getattr(request.state, "csrf_new", None):
        response.set_cookie(
            CSRF_COOKIE,
            csrf_cookie_value(request, token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


_FORMATTER = HtmlFormatter(nowrap=True)


def highlight_unified(diff: str) -> Markup:
    """A unified diff as highlighted HTML (Pygments' diff lexer)."""
    lines = diff.splitlines()
    cut = len(lines) > MAX_DIFF_LINES
    text = "\n".join(lines[:MAX_DIFF_LINES])
    html = highlight(text, DiffLexer(), _FORMATTER) if text else ""
    note = f"\n… {len(lines) - MAX_DIFF_LINES} more lines not shown" if cut else ""
    return Markup(html) + escape(note)


@dataclass
class SideRow:
    """One row of a side-by-side diff: a header, or a left and right cell."""

    kind: str  # "file", "hunk", "same", "change"
    left: Markup = field(default_factory=Markup)
    right: Markup = field(default_factory=Markup)
    left_no: int | None = None
    right_no: int | None = None


def _lexer(path: str) -> Any:
    try:
        return get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False)


def _code(lexer: Any, line: str) -> Markup:
    return Markup(highlight(line, lexer, _FORMATTER).rstrip("\n")) if line else Markup("")


def side_by_side(diff: str) -> list[SideRow]:
    """A unified diff as side-by-side rows, each side highlighted for its file's language:
    removed lines pair with the added lines that replace them."""
    rows: list[SideRow] = []
    lexer: Any = TextLexer(stripnl=False)
    old_no = new_no = 0
    removed: list[tuple[int, str]] = []
    added: list[tuple[int, str]] = []

    def flush() -> None:
        for i in range(max(len(removed), len(added))):
            left = removed[i] if i < len(removed) else None
            right = added[i] if i < len(added) else None
            rows.append(
                SideRow(
                    "change",
                    _code(lexer, left[1]) if left else Markup(""),
                    _code(lexer, right[1]) if right else Markup(""),
                    left[0] if left else None,
                    right[0] if right else None,
                )
            )
        removed.clear()
        added.clear()

    for line in diff.splitlines()[:MAX_DIFF_LINES]:
        if line.startswith("diff --git"):
            flush()
            path = line.split(" b/", 1)[-1]
            lexer = _lexer(path)
            rows.append(SideRow("file", escape(path)))
        elif line.startswith(("--- ", "+++ ", "index ", "new file", "deleted file")):
            continue
        elif line.startswith("@@"):
            flush()
            header = line.split("@@")[1].split()
            old_no = abs(int(header[0].split(",")[0]))
            new_no = int(header[1].split(",")[0])
            rows.append(SideRow("hunk", escape(line)))
        elif line.startswith("-"):
            removed.append((old_no, line[1:]))
            old_no += 1
        elif line.startswith("+"):
            added.append((new_no, line[1:]))
            new_no += 1
        elif line.startswith(" "):
            flush()
            code = _code(lexer, line[1:])
            rows.append(SideRow("same", code, code, old_no, new_no))
            old_no += 1
            new_no += 1
    flush()
    return rows
