"""Real-looking source files for the apply benchmark, and the changes made to them.

Files are Python, JavaScript or Go modules built from a seeded random generator: imports,
a class or functions with comments, loops, early returns and ``if err != nil`` blocks (the
lines that repeat in real code and make anchors ambiguous). Lines are language-neutral
(indentation level, text, trailing whitespace) so one file can be rendered as the disk
has it and as a model would quote it. A change replaces, inserts or deletes plain
statement lines inside a function; its correct result is known exactly.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

LANGS = ("python", "javascript", "go")
NOUNS = (
    "order",
    "invoice",
    "user",
    "session",
    "record",
    "item",
    "account",
    "payment",
    "report",
    "token",
    "event",
    "batch",
    "ticket",
    "profile",
    "shipment",
    "quota",
)
VERBS = (
    "load",
    "parse",
    "validate",
    "compute",
    "render",
    "store",
    "fetch",
    "build",
    "merge",
    "apply",
    "flush",
    "resolve",
    "sync",
    "index",
    "score",
    "export",
)


# --- source model ------------------------------------------------------------------------


@dataclass(eq=False)
class Line:
    """One source line, language-neutral: indentation level, text, trailing whitespace."""

    level: int
    text: str
    simple: bool = False  # a plain statement that a change may touch
    trail: str = ""


@dataclass
class Source:
    path: str
    lang: str
    lines: list[Line]


def _expr(rng: random.Random, lang: str) -> str:
    noun, verb = rng.choice(NOUNS), rng.choice(VERBS)
    call = f"{verb}_{noun}" if lang == "python" else f"{verb}{noun.title()}"
    return f"{call}({rng.choice(NOUNS)}, {rng.randint(1, 99)})"


def _statement(rng: random.Random, lang: str, level: int) -> Line:
    var = rng.choice(NOUNS) + rng.choice(("", "s", "_count", "_id", "_total"))
    if lang != "python":
        var = re.sub(r"_(\w)", lambda m: m.group(1).upper(), var)
    kind = rng.random()
    if kind < 0.45:
        text = {
            "python": f"{var} = {_expr(rng, lang)}",
            "javascript": f"const {var} = {_expr(rng, lang)};",
            "go": f"{var} := {_expr(rng, lang)}",
        }[lang]
    elif kind < 0.75:
        text = _expr(rng, lang) + (";" if lang == "javascript" else "")
    else:
        mark = "#" if lang == "python" else "//"
        text = f"{mark} {rng.choice(VERBS)} the {rng.choice(NOUNS)} before the {rng.choice(NOUNS)}"
    return Line(level, text, simple=True)


def _block(rng: random.Random, lang: str, level: int) -> list[Line]:
    """An if/for block: the structural lines that repeat across real code."""
    noun = rng.choice(NOUNS)
    if lang == "python":
        if rng.random() < 0.5:
            return [Line(level, f"if {noun} is None:"), Line(level + 1, "return None")]
        return [Line(level, f"for {noun} in {noun}s:"), _statement(rng, lang, level + 1)]
    if lang == "javascript":
        if rng.random() < 0.5:
            return [
                Line(level, f"if (!{noun}) {{"),
                Line(level + 1, "return null;"),
                Line(level, "}"),
            ]
        return [
            Line(level, f"for (const {noun} of {noun}s) {{"),
            _statement(rng, lang, level + 1),
            Line(level, "}"),
        ]
    if rng.random() < 0.6:
        return [
            Line(level, "if err != nil {"),
            Line(level + 1, "return nil, err"),
            Line(level, "}"),
        ]
    return [
        Line(level, f"for _, {noun} := range {noun}s {{"),
        _statement(rng, lang, level + 1),
        Line(level, "}"),
    ]


def _function(rng: random.Random, lang: str, name: str, level: int) -> list[Line]:
    args = ", ".join(rng.sample(NOUNS, 2))
    if lang == "python":
        head = [
            Line(level, f"def {name}(self, {args}):" if level else f"def {name}({args}):"),
            Line(level + 1, f'"""{name.replace("_", " ").capitalize()}."""'),
        ]
        tail = [Line(level + 1, f"return {rng.choice(NOUNS)}")]
    elif lang == "javascript":
        head = [Line(level, f"function {name}({args}) {{")]
        tail = [Line(level + 1, f"return {rng.choice(NOUNS)};"), Line(level, "}")]
    else:
        head = [Line(level, f"func {name}({args} string) (*Result, error) {{")]
        tail = [Line(level + 1, "return result, nil"), Line(level, "}")]
    body: list[Line] = []
    for _ in range(rng.randint(3, 5)):
        body.append(_statement(rng, lang, level + 1))
        if rng.random() < 0.5:
            body.extend(_block(rng, lang, level + 1))
        if rng.random() < 0.3:
            body.append(Line(0, ""))
    body.append(_statement(rng, lang, level + 1))
    return head + body + tail


def make_source(rng: random.Random, lang: str, index: int) -> Source:
    noun = rng.choice(NOUNS)
    if lang == "python":
        lines = [
            Line(0, f'"""{noun.title()} handling for the {rng.choice(NOUNS)} service."""'),
            Line(0, ""),
            Line(0, "from __future__ import annotations"),
            Line(0, ""),
            Line(0, "import logging"),
            Line(0, "import os"),
            Line(0, ""),
            Line(0, "LOG = logging.getLogger(__name__)"),
            Line(0, ""),
            Line(0, ""),
            Line(0, f"class {noun.title()}Service:"),
            Line(1, f'"""Loads and stores {noun}s."""'),
            Line(0, ""),
        ]
        level, sep = 1, 1
    elif lang == "javascript":
        lines = [
            Line(0, "'use strict';"),
            Line(0, ""),
            Line(0, f"const {{ {noun}Store }} = require('./{noun}-store');"),
            Line(0, ""),
        ]
        level, sep = 0, 1
    else:
        lines = [
            Line(0, f"package {noun}"),
            Line(0, ""),
            Line(0, "import ("),
            Line(1, '"errors"'),
            Line(1, '"fmt"'),
            Line(0, ")"),
            Line(0, ""),
        ]
        level, sep = 0, 1
    names = set()
    for _ in range(rng.randint(5, 7)):
        verb, obj = rng.choice(VERBS), rng.choice(NOUNS)
        name = f"{verb}_{obj}" if lang == "python" else f"{verb}{obj.title()}"
        if name in names:
            continue
        names.add(name)
        lines.extend(_function(rng, lang, name, level))
        lines.extend(Line(0, "") for _ in range(sep))
    while lines and not lines[-1].text:
        lines.pop()
    ext = {"python": "py", "javascript": "js", "go": "go"}[lang]
    return Source(f"src/{noun}_{index}.{ext}", lang, lines)


def render(
    lines: list[Line], *, lang: str, tabs: bool = False, model: bool = False, eol: str = "\n"
) -> str:
    """Lines as on disk (``model=False``) or as the model writes them back."""
    if tabs:
        unit = "    " if model else "\t"
    else:
        unit = {"python": "    ", "javascript": "  ", "go": "\t"}[lang]
    out = []
    for line in lines:
        text = (unit * line.level + line.text) if line.text else ""
        out.append(text + ("" if model else line.trail))
    return eol.join(out) + eol


# --- changes -----------------------------------------------------------------------------


@dataclass
class Change:
    start: int  # first base line replaced
    end: int  # one past the last base line replaced
    new: list[Line]
    kind: str


def make_change(rng: random.Random, src: Source, kinds: tuple[str, ...]) -> Change | None:
    simple = [i for i, line in enumerate(src.lines) if line.simple and 6 < i < len(src.lines) - 4]
    if not simple:
        return None
    at = rng.choice(simple)
    kind = rng.choice(kinds)
    base = src.lines[at]
    if kind == "modify":
        text = re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), base.text, count=1)
        if text == base.text:
            text = (
                base.text.replace("the ", "each ", 1)
                if "the " in base.text
                else (
                    base.text + (" " if base.text.startswith(("#", "//")) else "") + "  # tuned"
                    if src.lang == "python"
                    else base.text + " // tuned"
                )
            )
        return Change(at, at + 1, [Line(base.level, text, simple=True)], kind)
    if kind == "insert":
        new = [_statement(rng, src.lang, base.level) for _ in range(rng.randint(1, 2))]
        return Change(at + 1, at + 1, new, kind)
    if kind == "delete":
        return Change(at, at + 1, [], kind)
    new = [_statement(rng, src.lang, base.level) for _ in range(rng.randint(2, 3))]
    return Change(at, at + 1, new, kind)


def apply_change(lines: list[Line], change: Change) -> list[Line]:
    return lines[: change.start] + change.new + lines[change.end :]
