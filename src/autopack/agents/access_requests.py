"""Governance requests in a Builder answer: asking to change a protected path.

Whatever format the edits are in (NDJSON, a files object, SEARCH/REPLACE blocks, a
unified diff), a request is one line holding one JSON object::

    {"op": "request_access", "paths": ["db/schema.sql"], "reason": "the phase adds a column"}

(``path`` for one path; ``request``/``governance_request`` for the op). A files object may
carry them under ``"request_access": [{"paths": [...], "reason": "..."}]`` instead. The
request lines are taken out of the answer before its edits are parsed, so they never
count as edits or as noise.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic

from autopack.agents.parse_result import Diagnostic
from autopack.domain.governance import AccessRequest

REQUEST_OPS = frozenset({"request_access", "request", "governance_request", "access_request"})

REQUEST_FORMAT_SPEC = """\
Protected paths (the prompt lists them, plus .git/, .env*, *.db and the like) are refused
unless you ask first. If the phase truly needs to change one, add one request line to your
answer, next to the edits for it, and say why:
{"op": "request_access", "paths": ["db/schema.sql"], "reason": "the phase adds a column"}
Tests and docs are approved automatically; other protected files wait for a person, and the
edits to them are applied only once approved; Autopack's own configuration (.autopack.yaml),
secrets (.env*, secrets.yaml and the like), CI workflows that use secrets and paths the
project marks critical are always refused. Never edit a protected path without asking: it
is refused.
"""


def request_from_value(value: Any) -> AccessRequest | str:
    """An :class:`AccessRequest` from a decoded object, or why it is not one."""
    if not isinstance(value, dict):
        return "a request must be a JSON object"
    paths = value.get("paths", value.get("path", value.get("files")))
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        return 'a request needs "paths": a list of file paths'
    reason = value.get("reason", value.get("why", ""))
    try:
        return AccessRequest(paths=tuple(paths), reason=str(reason)[:2000])
    except pydantic.ValidationError as exc:
        return "; ".join(e["msg"] for e in exc.errors(include_url=False))


def _is_request(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    name = next((value[k] for k in ("op", "type", "action") if isinstance(value.get(k), str)), "")
    return name.strip().lower().replace("-", "_") in REQUEST_OPS


def extract_requests(text: str) -> tuple[list[AccessRequest], str, list[Diagnostic]]:
    """The request lines of ``text``, the text without them, and requests that were
    malformed (reported, never guessed)."""
    requests: list[AccessRequest] = []
    problems: list[Diagnostic] = []
    kept: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip().rstrip(",")
        if not (stripped.startswith("{") and '"' in stripped):
            kept.append(line)
            continue
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            kept.append(line)
            continue
        if not _is_request(value):
            kept.append(line)
            continue
        found = request_from_value(value)
        if isinstance(found, str):
            problems.append(Diagnostic(line=number, segment=line[:200], reason=found))
        else:
            requests.append(found)
    return requests, "\n".join(kept), problems
