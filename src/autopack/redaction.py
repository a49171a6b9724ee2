"""Secrets out of prompts, logs and artifacts: detection and redaction, nothing else.

A secret is replaced by ``[REDACTED:<kind>]`` and everything around it stays: the key of
an assignment, its quotes, the rest of the line. The Builder must still see code it can
edit, so only values are replaced, and only values that are secrets by their shape or are
known to be secrets:

======================  ==============================================================
kind                    what
======================  ==============================================================
anthropic_key           ``sk-ant-...``
openai_key              ``sk-...`` / ``sk-proj-...``
github_token            ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` tokens, ``github_pat_``
aws_access_key          ``AKIA...`` / ``ASIA...`` key ids
slack_token             ``xoxb-``/``xoxp-``/``xoxa-``/``xoxr-``/``xoxs-`` tokens
autopack_api_key        keys made by ``autopack apikey create`` (``ap_...``)
private_key             the body of a ``-----BEGIN ... PRIVATE KEY-----`` block
jwt                     three base64url parts, the first two JSON (``eyJ...``)
<key name>              the value of ``password=``, ``token: "..."``, ``API_KEY=...``
                        and similar assignments (a literal, never an expression)
<given kind>            any value the caller knows is secret (configured API keys)
======================  ==============================================================

An assignment's value is redacted when it is a quoted literal, when the line is a
dotenv/shell line (``export DB_PASSWORD=...``), or when it looks generated (letters and
digits, 8+ characters). ``password=password`` or ``token=self.token`` in code are names,
not secrets, and stay.

:data:`SECRET_FILES` lists files that hold secrets by convention (keys, credential
stores); callers that read files for a model skip them along with the protected paths.
This module is pure: no I/O, no settings, no third-party imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Files that hold secrets by convention, in the pattern language of the workspace guards
#: (a pattern without ``/`` matches any path component; see ``workspace.guards``).
SECRET_FILES: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".ssh/",
    ".aws/",
    ".netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "credentials",
    "credentials.*",
    "*.tfvars",
    "secrets.*",
)

#: Shortest value treated as a known secret: shorter ones would redact ordinary words.
MIN_KNOWN_LENGTH = 8

_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{16,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("autopack_api_key", re.compile(r"\bap_[A-Za-z0-9_-]{32,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)
_PRIVATE_KEY = re.compile(
    r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)(.*?)(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.S,
)
# The last word of a key that holds a secret (``DB_PASSWORD``, ``self.token``, ``x-api-key``):
# the prefix before it stays as it is, so it need not be matched.
_KEY_NAME = (
    r"(?:password|passwd|passphrase|secret(?:[_-]?key)?|token|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|auth[_-]?key|credentials?)"
)
# key (a quoted key may close its quote first; a Python key may have a type annotation),
# then = or :, then a quoted literal.
_QUOTED = re.compile(
    rf"(?i)({_KEY_NAME}[\"']?(?:\s*:\s*[A-Za-z_][\w\[\], .|]*?)?\s*[:=]\s*)"
    r"([\"'])((?:(?!\2)[^\n\\]|\\.)+?)\2"
)
# A dotenv or shell line: any value after an upper-case key is a literal.
_DOTENV = re.compile(
    r"(?m)^(\s*(?:export\s+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY"
    r"|ACCESS_?KEY|PRIVATE_?KEY|AUTH_?KEY|CREDENTIALS?)[A-Z0-9_]*=)([^\s\"'#][^\s#]*)"
)
# Elsewhere (logs, YAML, query strings): a value that looks generated, not a name.
_BARE = re.compile(rf"(?i)({_KEY_NAME}\s*[:=]\s*)([A-Za-z0-9_+/=.~%@!*^-]{{8,}})")
_IDENTIFIER_CHAIN = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


#: Something every pattern below needs somewhere on its line, searched in the lower-cased
#: text: a plain alternation of literals is several times faster than one under (?i).
#: ("pass" alone would flag every "PASSED" line of a test log.)
_HINT = re.compile(
    r"sk-|gh[pousr]_|github_pat_|akia|asia|xox[abprs]-|ap_|eyj|passw|passph|secret|token|key"
    r"|credential"
)


#: The literals the shaped tokens need (one of them, lower-cased), and the markers that
#: replace them: a line with a hint of a key name only ("tokens_used") skips their seven
#: searches.
_TOKEN_HINT = re.compile(r"sk-|gh[pousr]_|github_pat_|akia|asia|xox[abprs]-|ap_|eyj")


def _redact_line(line: str) -> str:
    if _TOKEN_HINT.search(line.lower()):
        for kind, pattern in _TOKENS:
            line = pattern.sub(_TOKEN_MARKERS[kind], line)
    if "=" not in line and ":" not in line:  # every assignment pattern needs one
        return line
    line = _QUOTED.sub(_quoted, line)
    line = _DOTENV.sub(_assigned, line)
    return _BARE.sub(_bare, line)


def _kind_of(key: str) -> str:
    """``DB_PASSWORD=`` -> ``password``: the kind names what the key says it holds."""
    lowered = key.lower()
    words = ("passphrase", "password", "passwd", "private_key", "api_key", "access_key")
    for word in (*words, "secret", "token"):
        if word in lowered.replace("-", "_"):
            return "password" if word == "passwd" else word
    return "credential"


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


_TOKEN_MARKERS = {kind: _marker(kind) for kind, _ in _TOKENS}


@dataclass(frozen=True)
class Redactor:
    """Redacts secrets from text. ``known`` maps values that are secret whatever their
    shape (configured API keys) to their kind; values shorter than
    :data:`MIN_KNOWN_LENGTH` are ignored (they would redact ordinary words)."""

    known: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def with_known(cls, values: Iterable[tuple[str, str]]) -> Redactor:
        """A redactor that also redacts each ``(value, kind)``; empty values are skipped."""
        return cls(known={v: k for v, k in values if v and len(v) >= MIN_KNOWN_LENGTH})

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED:<kind>]``."""
        if not text:
            return text
        # Longest first, so a key that contains another known key is replaced whole.
        for value in sorted(self.known, key=len, reverse=True):
            if value in text:
                text = text.replace(value, _marker(self.known[value]))
        if "PRIVATE KEY-----" in text:
            text = _PRIVATE_KEY.sub(_private_key, text)
        # Every other pattern is within one line: only lines with a hint of a secret are
        # searched (a prompt is mostly code without one, and this keeps a large prompt
        # to a few milliseconds).
        lowered = text.lower()
        if len(lowered) != len(text):  # a few non-ASCII letters lower to two characters
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        parts: list[str] = []
        done = 0
        while hint := _HINT.search(lowered, done):
            start = text.rfind("\n", 0, hint.start()) + 1
            end = text.find("\n", hint.end())
            end = len(text) if end < 0 else end
            parts += [text[done:start], _redact_line(text[start:end])]
            done = end
        return "".join([*parts, text[done:]])

    def redact_data(self, value: Any) -> Any:
        """``value`` (JSON-like: dicts, lists, tuples, strings) with every string redacted;
        dict keys stay as they are, other values are returned unchanged."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_data(v) for v in value)
        return value

    def contains_secret(self, text: str) -> bool:
        """Whether :meth:`redact` would change ``text``."""
        return self.redact(text) != text


def _private_key(m: re.Match[str]) -> str:
    # The BEGIN and END lines stay, so a reader sees a key was there and the lines around
    # it keep their numbers' neighbours.
    sep = "\n" if "\n" in m[2] else ""
    return f"{m[1]}{sep}{_marker('private_key')}{sep}{m[3]}"


def _is_redacted(value: str) -> bool:
    return value.startswith("[REDACTED:")


def _quoted(m: re.Match[str]) -> str:
    value = m[3]
    if _is_redacted(value) or not value.strip():
        return m[0]
    return f"{m[1]}{m[2]}{_marker(_kind_of(m[1]))}{m[2]}"


def _assigned(m: re.Match[str]) -> str:
    if _is_redacted(m[2]):
        return m[0]
    return f"{m[1]}{_marker(_kind_of(m[1]))}"


def _bare(m: re.Match[str]) -> str:
    value = m[2]
    if "[REDACTED:" in value or _looks_like_a_name(value):
        return m[0]
    return f"{m[1]}{_marker(_kind_of(m[1]))}"


def _looks_like_a_name(value: str) -> bool:
    """``token``, ``self.token``, ``api_key_2``: code naming a value, not the value.
    A generated secret mixes letters and digits without the ``_`` or ``.`` of a name."""
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return True
    return bool(_IDENTIFIER_CHAIN.match(value)) and ("_" in value or "." in value)


#: Shape-based redaction only, for places that know no configured secrets.
DEFAULT_REDACTOR = Redactor()


def redact(text: str) -> str:
    """``text`` with secrets of a known shape redacted (see :class:`Redactor`)."""
    return DEFAULT_REDACTOR.redact(text)
